"""Why this answer? Grad-CAM, SmoothGrad, integrated gradients and occlusion, checked on a network built by hand
whose answer depends only on the top-left quadrant of what it sees; then the Feature maps page drawing them.

The hand-built network (input: the 24x24 crop):
  layer_conv2: 2x2 conv, stride 2 -> (12, 12, 2); map 0 = mean of (R - G - B) over each 2x2 block ("red"),
               map 1 = mean of (G - R - B) ("green")
  layer_conv2_relu -> flatten -> layer_softmax: logit 0 = mean of the red map over its top-left 6x6
               (= the crop's top-left 12x12 quadrant), logit 1 = the same of the green map, the rest 0.
The test picture is green with a red square exactly on that quadrant: logit 0 is 1 and the answer is class 0.
"""
import keras
import numpy as np
import pytest
from keras import layers

from cifar_core.augment import centre_crop
from cifar_core.insights import explanations
from cifar_core.insights.inference import InferenceModel
from dashboard.figures.explanations import overlay
from dashboard.ui.navigation import FEATURE_MAPS
from app_pages import open_page

TOP_LEFT = (slice(0, 12), slice(0, 12))  # the decisive quadrant, in crop pixels


def quadrant_network(scale=1.0):
    """The hand-built network; `scale` multiplies every logit (1000: a softmax saturated to exactly 1.0)."""
    inputs = keras.Input((24, 24, 3), name="image")
    x = layers.Conv2D(2, 2, strides=2, use_bias=False, name="layer_conv2")(inputs)
    x = layers.ReLU(name="layer_conv2_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", name="layer_softmax")(x)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((2, 2, 3, 2), np.float32)
    kernel[:, :, :, 0] = np.array([1, -1, -1]) / 4  # red
    kernel[:, :, :, 1] = np.array([-1, 1, -1]) / 4  # green
    dense = np.zeros((12, 12, 2, 10), np.float32)  # flatten order: row, column, map
    dense[:6, :6, 0, 0] = scale / 36
    dense[:6, :6, 1, 1] = scale / 36
    model.get_layer("layer_conv2").set_weights([kernel])
    model.get_layer("layer_softmax").set_weights([dense.reshape(288, 10), np.zeros(10, np.float32)])
    return InferenceModel(model, None, None, 0)


def red_quadrant_picture():
    """(32, 32, 3) uint8: green, with red on the crop's top-left quadrant (picture rows and columns 4..15)."""
    picture = np.zeros((32, 32, 3), np.uint8)
    picture[..., 1] = 255
    picture[4:16, 4:16] = (255, 0, 0)
    return picture


@pytest.fixture(scope="module")
def net():
    return quadrant_network()


def outside(values):
    """The crop's three quadrants that the answer does not depend on."""
    return np.concatenate([values[:12, 12:].ravel(), values[12:, :].ravel()])


def test_the_hand_built_network_answers_from_the_red_quadrant(net):
    probabilities = net.model(centre_crop(red_quadrant_picture()[None])).numpy()[0]
    assert probabilities.argmax() == 0
    assert explanations.gradcam(net, red_quadrant_picture(), 0).logit == pytest.approx(1.0)


def test_gradcam_highlights_the_quadrant_the_answer_depends_on(net):
    cam = explanations.gradcam(net, red_quadrant_picture(), 0)
    assert cam.heat.shape == (24, 24) and cam.method == "gradcam" and cam.class_index == 0
    assert cam.heat.max() == pytest.approx(1.0) and cam.heat.min() >= 0
    assert cam.heat[:11, :11].min() > 0.9  # the quadrant, less the one-pixel blur of upsampling 12x12 -> 24x24
    assert cam.heat[:, 13:].max() == 0 and cam.heat[13:, :].max() == 0


def test_hiding_any_part_changes_nothing_for_a_class_nothing_in_the_image_supports(net):
    # Class 1 counts green in the top-left quadrant, and it is red there (and the grey patch is not green).
    assert np.abs(explanations.occlusion(net, red_quadrant_picture(), 1).values).max() < 1e-6


def test_occluding_the_decisive_quadrant_lowers_the_logit_and_elsewhere_not(net):
    drops = explanations.occlusion(net, red_quadrant_picture(), 0).values  # (24, 24) logit drops
    assert drops.shape == (24, 24)
    # Pixel (0, 0) is covered only by the patch at (0, 0): grey over 9 of the 36 red blocks, 9/36 of the logit.
    assert drops[0, 0] == pytest.approx(9 / 36)
    assert drops[TOP_LEFT].min() > 0
    assert np.abs(drops[16:, :]).max() < 1e-6 and np.abs(drops[:, 16:]).max() < 1e-6  # no patch reaches the red


def test_smoothgrad_is_a_crop_sized_map_on_the_decisive_quadrant_the_same_each_time(net):
    saliency = explanations.smoothgrad(net, red_quadrant_picture(), 0)
    assert saliency.heat.shape == saliency.values.shape == (24, 24)
    assert 0 <= saliency.heat.min() and saliency.heat.max() == pytest.approx(1.0)
    np.testing.assert_allclose(saliency.heat[TOP_LEFT], 1.0, atol=1e-5)  # d logit / d red = 1/144 for each pixel
    assert outside(saliency.heat).max() == 0
    np.testing.assert_array_equal(explanations.smoothgrad(net, red_quadrant_picture(), 0).heat, saliency.heat)


def test_integrated_gradients_share_the_logit_out_among_the_decisive_pixels(net):
    attributions = explanations.integrated_gradients(net, red_quadrant_picture(), 0)
    assert attributions.values.shape == attributions.heat.shape == (24, 24)
    # logit(picture) - logit(black) = 1 - 0, shared equally by the 144 red pixels.
    assert attributions.values.sum() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(attributions.values[TOP_LEFT], 1 / 144, rtol=1e-4)
    assert np.abs(outside(attributions.values)).max() == 0


def test_a_sure_answer_is_still_explained_gradients_of_the_logit_not_the_saturated_probability():
    sure = quadrant_network(scale=1000.0)
    assert sure.model(centre_crop(red_quadrant_picture()[None])).numpy()[0, 0] == 1.0  # saturated
    attributions = explanations.integrated_gradients(sure, red_quadrant_picture(), 0)
    assert attributions.values.sum() == pytest.approx(1000.0, rel=1e-4)
    assert explanations.smoothgrad(sure, red_quadrant_picture(), 0).heat[TOP_LEFT].min() > 0.99


def test_an_unknown_method_or_layer_is_refused_with_the_choices(net):
    with pytest.raises(ValueError, match="methods are: gradcam, smoothgrad, integrated_gradients, occlusion"):
        explanations.explain(net, red_quadrant_picture(), "lime", 0)
    with pytest.raises(ValueError, match="layer 'layer_conv9' not found"):
        explanations.gradcam(net, red_quadrant_picture(), 0, layer="layer_conv9")


def test_the_overlay_colours_only_the_crop_and_leaves_the_picture_where_the_map_is_zero():
    picture = red_quadrant_picture()
    heat = np.zeros((24, 24), np.float32)
    heat[0, 0] = 1.0
    drawn = overlay(picture, heat)  # (256, 256, 3): 8 screen pixels per picture pixel
    assert drawn.shape == (256, 256, 3)
    crop_pixel_1_1 = drawn[5 * 8 + 4, 5 * 8 + 4]  # picture pixel (5, 5) = crop pixel (1, 1), heat 0: its own red
    np.testing.assert_array_equal(crop_pixel_1_1, (255, 0, 0))
    assert tuple(drawn[4 * 8 + 4, 4 * 8 + 4]) != (255, 0, 0)  # crop pixel (0, 0), heat 1: tinted
    assert tuple(drawn[4, 4]) != tuple(picture[0, 0])  # the border the network never sees: washed out


def test_the_feature_maps_page_explains_the_answer_with_each_method(trained_app):
    at = open_page(FEATURE_MAPS)
    assert at.segmented_control(key="fm_explain").value == "gradcam"
    assert at.selectbox(key="fm_explain_class").value == "answer"
    assert "Bright regions are where conv2's maps" in " ".join(m.value for m in at.markdown)
    for method, words in (("smoothgrad", "small changes"), ("integrated_gradients", "from a black image"),
                          ("occlusion", "grey 6x6 patch")):
        at.segmented_control(key="fm_explain").set_value(method).run()
        assert not at.exception, [e.value for e in at.exception]
        assert words in " ".join(m.value for m in at.markdown), method
    name = at.selectbox(key="fm_explain_class").options[1 + 3].removesuffix(" (true)")  # after "its answer"
    at.selectbox(key="fm_explain_class").set_value(3).run()
    assert not at.exception
    assert f"the **{name}** score" in " ".join(m.value for m in at.markdown)
