"""The Filters view: conv1's filters as colour patches on one grey-centred scale, and the structure measure
behind its "what to notice" line (random noise about 0, smooth edges and blobs clearly more)."""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cifar_core.insights import filters
from dashboard.figures.filters import colour_patches_figure
from dashboard.ui.navigation import FILTERS
from app_pages import HOME

Y, X = np.mgrid[0:5, 0:5]  # (5, 5) pixel coordinates of a 5x5 filter


def hand_made_kernel():
    """(5, 5, 3, 4): filter 0 +0.2 on red only, 1 -0.1 everywhere, 2 zero, 3 +0.4 on blue."""
    kernel = np.zeros((5, 5, 3, 4), np.float32)
    kernel[:, :, 0, 0] = 0.2
    kernel[:, :, :, 1] = -0.1
    kernel[:, :, 2, 3] = 0.4  # the largest |weight|: it sets the one scale, 0.5 + w / 0.8
    return kernel


def test_the_colour_patches_of_a_hand_made_kernel_have_the_expected_colours():
    patches = filters.colour_patches(hand_made_kernel())
    assert patches.shape == (4, 5, 5, 3)
    red, dark, zero, blue = patches
    np.testing.assert_allclose(red[2, 2], [0.75, 0.5, 0.5])     # red: 0.5 + 0.2 / 0.8, green and blue grey
    np.testing.assert_allclose(dark[2, 2], [0.375, 0.375, 0.375])  # darker than grey, and no colour
    np.testing.assert_array_equal(zero, np.full((5, 5, 3), 0.5))  # a zero filter is exactly grey
    np.testing.assert_allclose(blue[2, 2], [0.5, 0.5, 1.0])     # the largest weight reaches 1


def test_one_scale_is_used_for_all_filters():
    kernel = hand_made_kernel()
    kernel[:, :, 2, 3] = 4.0  # a much stronger filter 3 makes every other filter fainter
    patches = filters.colour_patches(kernel)
    np.testing.assert_allclose(patches[0, 0, 0], [0.5 + 0.2 / 8.0, 0.5, 0.5])
    assert patches.min() >= 0.0 and patches.max() == 1.0


def test_the_colour_patches_need_a_layer_that_reads_three_colours():
    with pytest.raises(ValueError, match=r"received shape \(5, 5, 64, 64\).*filter_weights"):
        filters.colour_patches(np.zeros((5, 5, 64, 64)))


def test_conv1_of_a_real_model_gives_64_patches_and_conv2_says_why_it_has_none():
    from cifar_core.config import ModelConfig
    from cifar_core.model import build_model

    model = build_model(ModelConfig())
    patches = filters.layer_colour_patches(model, "layer_conv1")
    assert patches.shape == (64, 5, 5, 3) and patches.min() >= 0.0 and patches.max() <= 1.0
    assert filters.layer_structure(model, "layer_conv1").stage == "noise"  # freshly initialised
    with pytest.raises(ValueError, match="reads 64 input channels.*only for layer_conv1"):
        filters.layer_colour_patches(model, "layer_conv2")


def test_random_weights_measure_as_noise():
    structure = filters.filter_structure(np.random.default_rng(0).normal(size=(5, 5, 3, 64)))
    assert abs(structure.mean_smoothness) < 0.05
    assert structure.stage == "noise" and structure.colourful_filters == 0


def test_smooth_edges_and_colour_blobs_measure_as_structured():
    edge = np.tanh(X - 2.0)                             # (5, 5) light on the right, dark on the left
    blob = np.exp(-((X - 2) ** 2 + (Y - 2) ** 2) / 2.0)  # (5, 5) a soft spot in the middle
    kernel = np.zeros((5, 5, 3, 2))
    kernel[:, :, :, 0] = edge[..., None]                  # the same edge in all three colours: grey
    kernel[:, :, :, 1] = blob[..., None] * [1, -1, 0]     # a red spot that dislikes green
    structure = filters.filter_structure(kernel)
    assert structure.smoothness.min() > 0.6 and structure.stage == "structured"
    np.testing.assert_allclose(structure.colour, [0.0, 1.0], atol=1e-6)
    assert structure.colourful_filters == 1


def test_the_patch_figure_is_an_8x8_grid_with_white_gaps_and_filter_numbers_on_hover():
    patches = filters.colour_patches(np.random.default_rng(1).normal(size=(5, 5, 3, 64)))
    image = colour_patches_figure(patches).data[0]
    assert np.asarray(image.z).shape == (8 * 6 - 1, 8 * 6 - 1, 3)  # 8 patches of 5 + 7 gaps of 1
    assert tuple(image.z[5][0]) == (255, 255, 255)                  # the gap below the first row
    assert image.text[0][0] == "filter 0" and image.text[6][6] == "filter 9" and image.text[5][0] == ""


def test_the_page_shows_colour_patches_first_and_keeps_the_choices_as_the_step_moves(trained_app):
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(FILTERS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key="filters_view").value == "patches"
    assert at.get_by_key("filters_patches") is not None
    assert any("What to notice" in m.value for m in at.markdown)

    at.segmented_control(key="filters_view").set_value("channel").run()
    at.selectbox(key="filters_channel_conv1").set_value(2).run()
    at.select_slider(key="filters_timeline").set_value(0).run()  # step 0: the untrained network
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(m.value for m in at.markdown)
    assert "random noise: nothing learned yet. This is the untrained network" in shown
    assert at.segmented_control(key="filters_view").value == "channel"
    assert at.selectbox(key="filters_channel_conv1").value == 2
    assert at.get_by_key("filters_grid") is not None
