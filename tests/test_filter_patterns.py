"""What one filter looks for: the test patches that excite it most (a hand-set filter that fires on red finds
the red pixels first, cut to its receptive field), an input optimised to excite it, computed once in the
background, and the Filters page's section built from them."""
import time

import numpy as np

from cifar_core.insights import filter_patterns
from dashboard.figures.filter_patterns import framed_patch, tally_sentence
from dashboard.ui.navigation import FILTERS
from app_pages import open_page

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def inference_of(model):
    """An InferenceModel around a network built here (no checkpoint), as load_inference_model makes one."""
    import keras

    from cifar_core.architecture import CONV_LAYERS
    from cifar_core.insights.inference import InferenceModel

    outputs = [model.get_layer(layer.maps_layer).output for layer in CONV_LAYERS] + [model.output]
    return InferenceModel(model, keras.Model(model.input, outputs), None, 0)


def red_detector():
    """The real network with conv1's filter 0 set to see one pixel: +1 for its red, -1 for green and blue (so
    it fires on red, not on white or grey); every other conv1 filter zero. Batch-norm is the identity."""
    from cifar_core.config import ModelConfig
    from cifar_core.model import build_model

    model = build_model(ModelConfig())
    kernel = np.zeros((5, 5, 3, 64), np.float32)
    kernel[2, 2, :, 0] = [1.0, -1.0, -1.0]
    model.get_layer("layer_conv1").set_weights([kernel])
    return inference_of(model)


def grey_images_with_red_pixels():
    """12 grey (32, 32, 3) images; 3, 7 and 10 have one red pixel (255, 200, 150 of red) at crop
    positions (10, 12), (5, 5) and (0, 20): the last on the crop's top border."""
    images = np.full((12, 32, 32, 3), 128, np.uint8)
    for index, red, (row, column) in ((3, 255, (10, 12)), (7, 200, (5, 5)), (10, 150, (0, 20))):
        images[index, 4 + row, 4 + column] = (red, 0, 0)  # + 4: the crop starts 4 pixels in
    return images, np.arange(12) % 10


def test_a_filter_that_fires_on_red_finds_the_red_pixels_first_in_their_receptive_fields():
    images, labels = grey_images_with_red_pixels()
    top = filter_patterns.top_patches(red_detector(), images, "layer_conv1", 0, labels)
    assert list(top.indices) == [3, 7, 10, 0, 1, 2, 4, 5, 6]  # brightest red first, then the silent grey ones
    np.testing.assert_allclose(top.activations[:4], [1.0, 200 / 255, 150 / 255, 0.0], atol=2e-3)
    assert top.positions[:3].tolist() == [[10, 12], [5, 5], [0, 20]]
    assert top.field == 5 and top.patches[0].shape == (5, 5, 3) and top.patches[1].shape == (5, 5, 3)
    assert tuple(top.patches[0][2, 2]) == (255, 0, 0) and tuple(top.patches[1][2, 2]) == (200, 0, 0)
    assert top.patches[2].shape == (3, 5, 3) and tuple(top.patches[2][0, 2]) == (150, 0, 0)  # clipped
    framed = framed_patch(top, 2)  # drawn on its full field: the two rows above the crop are white
    assert framed.shape == (5, 5, 3) and (framed[:2] == 255).all() and tuple(framed[2, 2]) == (150, 0, 0)
    assert top.labels.tolist() == [3, 7, 0, 0, 1, 2, 4, 5, 6] and top.tally()[0] == (0, 2)


def test_the_tally_says_which_classes_the_top_images_are():
    images, _ = grey_images_with_red_pixels()
    labels = np.array([8, 8, 8, 3, 8, 8, 8, 9, 8, 8, 8, 8])
    top = filter_patterns.top_patches(red_detector(), images, "layer_conv1", 0, labels)
    assert tally_sentence(top, CLASS_NAMES) == "**7 of its 9** are ships; the others: 1 cat, 1 truck."
    silent = filter_patterns.top_patches(red_detector(), images, "layer_conv1", 5, labels)  # all-zero weights
    assert silent.silent
    assert "does not fire on any of the first 12 test images" in tally_sentence(silent, CLASS_NAMES)


def test_conv2_sees_14_pixels_of_the_crop_and_nothing_outside():
    from cifar_core.config import ModelConfig
    from cifar_core.model import build_model

    inference = inference_of(build_model(ModelConfig()))
    top, left, side = filter_patterns.receptive_field("layer_conv2", 5, 6)
    assert (top, left, side) == (4, 6, 14)
    x = np.random.default_rng(0).random((1, 24, 24, 3)).astype(np.float32)
    changed = np.random.default_rng(1).random((1, 24, 24, 3)).astype(np.float32)
    changed[:, top:top + side, left:left + side] = x[:, top:top + side, left:left + side]  # same inside only
    before, after = (inference.features(v, training=False)[1][0, 5, 6].numpy() for v in (x, changed))
    np.testing.assert_allclose(before, after, atol=1e-5)
    images = np.random.default_rng(2).integers(0, 256, (20, 32, 32, 3), np.uint8)
    patches = filter_patterns.top_patches(inference, images, "layer_conv2", 3, np.zeros(20, int))
    assert patches.field == 14 and all(p.shape[0] <= 14 and p.shape[1] <= 14 for p in patches.patches)


def test_activation_maximisation_excites_the_filter_more_than_its_starting_image():
    from cifar_core.config import ModelConfig
    from cifar_core.model import build_model

    import keras
    keras.utils.set_random_seed(0)  # the untrained weights: with some, 20 steps raised a filter by 2% only
    inference = inference_of(build_model(ModelConfig()))
    for maps, layer_name, filter_index in ((0, "layer_conv1", 7), (1, "layer_conv2", 3)):
        image = filter_patterns.activation_maximisation(inference, layer_name, filter_index)  # the page's steps
        assert image.shape == (24, 24, 3) and image.dtype == np.uint8

        def excitement(x):
            responses = inference.features(x[None].astype(np.float32), training=False)[maps]  # (1, H, W, 64)
            return float(np.mean(responses[0, ..., filter_index]))
        assert excitement(image / 255.0) > 1.5 * excitement(filter_patterns.start_image()) + 1e-3, layer_name


def test_the_background_computes_each_result_once_and_keeps_it():
    calls = []

    def slow_square(n):
        calls.append(n)
        time.sleep(0.2)
        return n * n

    key = ("test", time.monotonic())
    assert filter_patterns.in_background(key, slow_square, 7) is None  # still computing: the caller goes on
    assert filter_patterns.in_background(key, slow_square, 7, wait=5) == 49
    assert filter_patterns.in_background(key, slow_square, 7) == 49 and calls == [7]


def test_an_optimised_image_is_computed_in_the_background_once():
    from cifar_core.config import ModelConfig
    from cifar_core.model import build_model

    inference = inference_of(build_model(ModelConfig()))
    deadline = time.monotonic() + 60
    def optimised():
        return filter_patterns.activation_maximisation_in_background(inference, "layer_conv1", 2)
    while (first := optimised()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert optimised() is first  # kept, not computed again


def wait_until_computed(at):
    """AppTest never fires the page's polling timer: rerun until no "Computing…" line is left."""
    for _ in range(120):
        if not any("Computing…" in c.value for c in at.caption):
            return at
        time.sleep(0.5)
        at.run()
    raise AssertionError("still computing after 60 s")


def test_the_filters_page_shows_what_one_filter_looks_for_and_opens_its_images(trained_app):
    at = open_page(FILTERS)
    assert any(h.value == "What does one filter look for?" for h in at.subheader)
    # "Computing…" first, unless an earlier test of this process already opened the page on this checkpoint
    # (results are kept per checkpoint): test_the_background_computes_each_result_once_and_keeps_it checks
    # that nothing waits for them.
    wait_until_computed(at)
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(m.value for m in at.markdown)
    assert " of its 9** are " in shown or "**All 9** are" in shown
    assert sum(b.key.startswith("filters_open_") for b in at.button) == 9
    assert any("input changed step by step to excite this filter" in c.value for c in at.caption)

    at.number_input(key="filters_pick").set_value(12).run()
    at.segmented_control(key="filters_layer").set_value("layer_conv2").run()  # the same filter number, of conv2
    at.select_slider(key="filters_timeline").set_value(0).run()  # step 0: choices stay, the image is noise
    wait_until_computed(at)
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="filters_pick").value == 12
    assert at.segmented_control(key="filters_layer").value == "layer_conv2"
    assert any("At step 0 the filter is random, so this is noise" in c.value for c in at.caption)

    opened = next(b for b in at.button if b.key.startswith("filters_open_"))
    opened.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="fm_source").value == "Test image number"
    assert at.number_input(key="fm_index").value == int(opened.key.removeprefix("filters_open_"))
