"""The analysis pages (Augmentation, Filters, Feature maps, Confusion matrix), run headless with AppTest.

A tiny learnable dataset (200 training, 100 test images) and a real checkpoint
trained on it for 30 steps stand in for CIFAR-10. Pages run the way a browser
reaches them: Home first, then switch_page.
"""
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cifar_core import checkpoints
from cifar_core.config import PRESETS
from cifar_core.data import load_dataset
from cifar_core.insights import confusion, filters, inference
from cifar_core.training.hooks import TEST_PROBABILITIES
from dashboard.figures.confusion import confusion_figure
from dashboard.figures.curves import thin
from dashboard.figures.feature_maps import verdict
from dashboard.ui.navigation import AUGMENTATION, CONFUSION, FEATURE_MAPS, FILTERS
from dashboard.ui.words import plural
from app_pages import open_page

ANSWERS = f"{TEST_PROBABILITIES}{checkpoints.ARTIFACT_SUFFIX}"


def latest_model(checkpoint_dir):
    return inference.load_inference_model(checkpoints.latest_checkpoint(checkpoint_dir))


def png_bytes():
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 40)).save(photo, format="PNG")
    return photo.getvalue()


def image_urls(at):
    return [url for image in at.image for url in image.value]


@pytest.mark.parametrize("page, widget_keys", [
    (AUGMENTATION, ["aug_class", "aug_index", "aug_random", "aug_reroll", "aug_hue", "aug_contrast",
                    "aug_brightness", "aug_saturation", "aug_flip"]),
    (FILTERS, ["filters_timeline", "filters_play", "filters_layer", "filters_view", "filters_patches"]),
    (FEATURE_MAPS, ["fm_timeline", "fm_play", "fm_source", "fm_probs", "fm_conv1", "fm_conv2"]),
    (CONFUSION, ["cm_timeline", "cm_play", "cm_normalise", "cm_hide_diagonal", "cm_true", "cm_pred", "cm_chart"]),
])
def test_page_draws_its_controls_without_an_error(trained_app, page, widget_keys):
    at = open_page(page)
    assert not at.error
    for key in widget_keys:
        assert at.get_by_key(key) is not None, key


@pytest.mark.parametrize("page", [FILTERS, FEATURE_MAPS, CONFUSION])
def test_without_a_checkpoint_the_page_says_to_train_first(trained_app, monkeypatch, tmp_path, page):
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path))
    at = open_page(page)
    assert "no trained model yet" in at.info[0].value


@pytest.mark.parametrize("page", [AUGMENTATION, FEATURE_MAPS, CONFUSION])
def test_without_the_dataset_the_page_says_where_to_get_it(trained_app, monkeypatch, tmp_path, page):
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path))
    at = open_page(page)
    assert "dataset is not on this computer" in at.info[0].value


def test_reroll_draws_new_distortions_of_the_same_image(trained_app):
    at = open_page(AUGMENTATION)
    original, *distorted = image_urls(at)
    assert len(distorted) == 9
    at.button(key="aug_reroll").click().run()
    original_again, *rerolled = image_urls(at)
    assert original_again == original
    assert set(rerolled).isdisjoint(distorted)


def test_strengths_go_back_to_the_notebooks_values(trained_app):
    at = open_page(AUGMENTATION)
    at.slider(key="aug_hue").set_value(0.3)
    at.toggle(key="aug_flip").set_value(False).run()
    at.button(key="aug_reset").click().run()
    assert at.slider(key="aug_hue").value == pytest.approx(0.05)
    assert at.slider(key="aug_contrast").value == pytest.approx((0.3, 1.0))
    assert at.toggle(key="aug_flip").value is True


def test_the_sliders_start_at_the_latest_runs_strengths_and_go_back_to_them(trained_app):
    run = PRESETS["quick"].distortions  # the checkpoint was trained with the quick preset: crops and flips only
    at = open_page(AUGMENTATION)
    assert at.slider(key="aug_hue").value == pytest.approx(run.hue) == 0.0
    assert at.slider(key="aug_contrast").value == pytest.approx(run.contrast)
    assert at.slider(key="aug_brightness").value == pytest.approx(run.brightness)
    assert at.slider(key="aug_saturation").value == pytest.approx(run.saturation)
    assert at.toggle(key="aug_flip").value is True
    started = " ".join(c.value for c in at.caption)
    assert "started at the strengths of the latest run (quick preset, step 30)" in started
    assert "no colour changes, flips" in started and "Now: the run's values" in started

    at.slider(key="aug_hue").set_value(0.3).run()
    assert "Now: moved since" in " ".join(c.value for c in at.caption)
    at.button(key="aug_reset").click().run()
    assert at.slider(key="aug_hue").value == pytest.approx(0.05)  # the notebook's
    assert "Now: the notebook's values" in " ".join(c.value for c in at.caption)
    at.button(key="aug_run_values").click().run()
    assert at.slider(key="aug_hue").value == pytest.approx(run.hue)
    assert at.slider(key="aug_saturation").value == pytest.approx(run.saturation)


def test_before_any_run_the_sliders_start_at_the_default_presets_strengths(trained_app, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path))
    at = open_page(AUGMENTATION)
    default = PRESETS["default"].distortions
    assert at.slider(key="aug_hue").value == pytest.approx(default.hue)
    assert at.slider(key="aug_contrast").value == pytest.approx(default.contrast)
    assert "the strengths of the default preset" in " ".join(c.value for c in at.caption)


def test_random_image_picks_an_existing_image(trained_app):
    at = open_page(AUGMENTATION)
    at.button(key="aug_random").click().run()
    assert not at.exception
    assert 0 <= at.number_input(key="aug_index").value < 20  # 20 training images per class


def test_conv2_offers_64_input_channels_and_the_stats_of_their_weights(trained_app):
    at = open_page(FILTERS)
    at.segmented_control(key="filters_view").set_value("channel").run()  # conv1 one colour at a time
    assert len(at.selectbox(key="filters_channel_conv1").options) == 3
    at.segmented_control(key="filters_layer").set_value("layer_conv2").run()
    channels = at.selectbox(key="filters_channel_conv2")
    assert len(channels.options) == 64
    channels.set_value(7).run()
    assert not at.exception
    _, checkpoint_dir = trained_app
    expected = filters.filter_weights(latest_model(checkpoint_dir).model, "layer_conv2", 7)
    shown = {metric.label: float(metric.value) for metric in at.metric}
    for name in ("min", "max", "mean", "std"):
        assert shown[name] == pytest.approx(getattr(expected, name), abs=1e-4), name
    at.segmented_control(key="filters_layer").set_value("layer_conv1").run()
    assert at.segmented_control(key="filters_view").value == "channel"  # kept while conv2 was shown


def test_choosing_a_cell_by_keyboard_shows_exactly_its_images(trained_app):
    data_dir, checkpoint_dir = trained_app
    dataset = load_dataset(data_dir)
    probabilities = inference.predict_probabilities(latest_model(checkpoint_dir).model, dataset.test_images)
    matrix = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1)).matrix
    true, pred = np.unravel_index(np.argmax(matrix), matrix.shape)  # the fullest cell
    at = open_page(CONFUSION)
    at.selectbox(key="cm_true").set_value(int(true)).run()
    at.selectbox(key="cm_pred").set_value(int(pred)).run()
    assert not at.exception
    picks = [b.key for b in at.button if b.key and b.key.startswith("cm_pick_")]
    assert len(picks) == min(24, matrix[true, pred])
    expected = confusion.cell_indices(dataset.test_labels, probabilities, true, pred)[:24]
    assert picks == [f"cm_pick_{i}" for i in expected]
    assert f"{matrix[true, pred]:,} test images" in " ".join(m.value for m in at.markdown)
    name, called = dataset.class_names[true], dataset.class_names[pred]
    assert f"test images** of {plural(name)} are called **{called}**" in " ".join(m.value for m in at.markdown)


def test_an_empty_cell_says_so_in_plain_english(trained_app):
    data_dir, checkpoint_dir = trained_app
    dataset = load_dataset(data_dir)
    probabilities = inference.predict_probabilities(latest_model(checkpoint_dir).model, dataset.test_images)
    matrix = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1)).matrix
    true, pred = (int(i) for i in np.argwhere(matrix == 0)[0])  # 100 images cannot fill all 100 cells
    at = open_page(CONFUSION)
    at.selectbox(key="cm_true").set_value(true).run()
    at.selectbox(key="cm_pred").set_value(pred).run()
    name = dataset.class_names[true]
    assert at.info[0].value == (f"None of the 10 test images of {plural(name)} is called "
                                f"**{dataset.class_names[pred]}**.")  # 10 test images per class


def test_a_wrong_answer_names_the_true_class_with_its_article():
    view = SimpleNamespace(predicted=3, probabilities=np.eye(10)[3])
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert verdict(view, names, 0) == "The network says **cat** (100%); it is an **airplane**."
    assert verdict(view, names, 1).endswith("; it is an **automobile**.")
    assert verdict(view, names, 4).endswith("; it is a **deer**.")
    assert verdict(view, names, 3) == "The network says **cat** (100%) — right."
    assert verdict(view, names) == "The network says **cat** (100%)."


def test_a_checkpoint_saved_without_its_test_answers_is_classified_on_the_page(trained_app, tmp_path, monkeypatch):
    import shutil
    _, checkpoint_dir = trained_app
    latest = checkpoints.latest_checkpoint(checkpoint_dir)
    older = tmp_path / latest.name  # as saved before checkpoints kept the test set's answers
    shutil.copytree(latest.path, older)
    (older / ANSWERS).unlink()
    meta = json.loads((older / checkpoints.META).read_text())
    del meta["sha256"][ANSWERS]
    (older / checkpoints.META).write_text(json.dumps(meta))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path))
    at = open_page(CONFUSION)
    assert f"{latest.test_accuracy:.1%}" in [m.value for m in at.metric]


def test_damaged_test_answers_are_reported_not_drawn(trained_app, tmp_path, monkeypatch):
    import shutil
    _, checkpoint_dir = trained_app
    latest = checkpoints.latest_checkpoint(checkpoint_dir)
    shutil.copytree(latest.path, tmp_path / latest.name)
    answers = tmp_path / latest.name / ANSWERS
    answers.write_bytes(b"not numbers")
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path))
    at = open_page(CONFUSION)
    assert "test_probabilities.npz is missing or damaged" in at.error[0].value
    assert len(at.get("plotly_chart")) == 0  # no matrix drawn from damaged numbers


def test_a_long_run_is_charted_with_at_most_400_points_a_curve_of_the_same_shape():
    steps = list(range(10, 36_010, 10))  # a default run logs 3,600 points
    values = [s / 36_000 for s in steps]
    x, y = thin(steps, values, 400)
    assert len(x) == len(y) <= 400 and x == sorted(x) and x[-1] == 36_000
    np.testing.assert_allclose(y, np.asarray(x) / 36_000, atol=0.005)  # a straight line stays one
    assert thin(steps[:50], values[:50], 400) == (steps[:50], values[:50])  # short runs: every point


def test_a_click_anywhere_in_a_cell_reports_that_cell_as_plain_numbers():
    # AppTest cannot click a chart; the browser reports the clicked marker's customdata as sent.
    labels, predicted = np.divmod(np.repeat(np.arange(100), np.arange(100)), 10)  # cell (t, p) holds 10t + p
    result = confusion.confusion_matrix(labels, predicted)
    figure = json.loads(confusion_figure(result, [f"c{i}" for i in range(10)], False, False, None).to_json())
    heatmap, markers = figure["data"]
    assert markers["marker"]["opacity"] == 0 and figure["layout"]["hoverdistance"] == -1
    by_position = {(y, x): data for x, y, data in zip(markers["x"], markers["y"], markers["customdata"])}
    assert len(by_position) == 100
    assert by_position[(3, 5)] == [3, 5, 35]  # a list, not a base64 array the click would return as a dict


def test_looking_inside_a_gallery_image_shows_its_probabilities_and_maps(trained_app):
    at = open_page(CONFUSION)
    at.selectbox(key="cm_true").set_value(0).run()
    for pred in range(10):  # the first non-empty cell of row 0
        at.selectbox(key="cm_pred").set_value(pred).run()
        picks = [b for b in at.button if b.key and b.key.startswith("cm_pick_")]
        if picks:
            break
    picks[0].click().run()
    assert not at.exception
    for key in ("cm_view_probs", "cm_view_conv1", "cm_view_conv2"):
        assert at.get_by_key(key) is not None, key


def test_an_uploaded_photo_is_classified_without_a_true_class(trained_app):
    at = open_page(FEATURE_MAPS)
    at.radio(key="fm_source").set_value("Your own photo").run()
    at.file_uploader(key="fm_upload").set_value(("red.png", png_bytes(), "image/png")).run()
    assert not at.exception and not at.error
    assert "your photo" in at.subheader[0].value
    assert "(true)" not in str(at.get_by_key("fm_probs").proto)


def test_the_upload_says_the_network_must_answer_one_of_its_ten_classes(trained_app):
    at = open_page(FEATURE_MAPS)
    at.radio(key="fm_source").set_value("Your own photo").run()
    note = " ".join(c.value for c in at.caption)
    assert "it must answer one of them, even for a photo of something else" in note


def test_removing_the_upload_clears_its_result(trained_app):
    at = open_page(FEATURE_MAPS)
    at.radio(key="fm_source").set_value("Your own photo").run()
    at.file_uploader(key="fm_upload").set_value(("red.png", png_bytes(), "image/png")).run()
    assert at.subheader[0].value == "What the network sees in your photo"
    at.file_uploader(key="fm_upload").set_value(None).run()
    assert not at.exception
    assert "test image 0" in at.subheader[0].value
    assert "No photo yet" in " ".join(c.value for c in at.caption)


def test_a_bad_upload_explains_itself_and_the_page_carries_on(trained_app):
    at = open_page(FEATURE_MAPS)
    at.radio(key="fm_source").set_value("Your own photo").run()
    at.file_uploader(key="fm_upload").set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert not at.exception
    assert "not an image we can read" in at.error[0].value
    assert "test image 0" in at.subheader[0].value  # no photo yet: the default image

    assert "previous photo" not in at.error[0].value  # there is none

    at.file_uploader(key="fm_upload").set_value(("red.png", png_bytes(), "image/png")).run()
    at.file_uploader(key="fm_upload").set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert not at.exception and at.error
    assert "your photo" in at.subheader[0].value  # the previous good photo stays, and the page says so
    assert "The result below is still your previous photo's." in at.error[0].value
    assert "still the previous one" in at.subheader[0].value
