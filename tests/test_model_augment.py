"""The network is the notebook's, and the distortions are per image and reproducible."""
import numpy as np
import pytest

from cifar_core import augment
from cifar_core.config import CROP_FLIP, PRESETS, Distortions, preset
from cifar_core.model import FusedBatchNormalization, build_model, conv_layer
from cifar_core.training.step import resolve_precision


def test_notebook_network_has_named_layers_and_the_notebooks_parameter_count():
    model = build_model(PRESETS["notebook"].model)
    names = [layer.name for layer in model.layers]
    for name in ("layer_conv1", "layer_conv2", "layer_fc1", "layer_fc2", "layer_softmax"):
        assert name in names
    # Worked out by hand: conv1 5*5*3*64 (no bias: batch-norm follows) + BN 4*64,
    # conv2 5*5*64*64 + 64, fc1 (6*6*64)*256 + 256, fc2 256*128 + 128, softmax 128*10 + 10.
    assert model.count_params() == 4800 + 256 + 102_464 + 590_080 + 32_896 + 1290
    assert model.output_shape == (None, 10)
    assert model.get_layer("layer_conv1").get_weights()[0].shape == (5, 5, 3, 64)
    assert model.get_layer("layer_conv2").get_weights()[0].shape == (5, 5, 64, 64)


def test_default_preset_adds_only_batch_norm_after_conv2():
    extra = build_model(PRESETS["default"].model).count_params() - build_model(PRESETS["notebook"].model).count_params()
    assert extra == 4 * 64 - 64  # BN's gamma, beta, mean, variance replace conv2's 64 biases


def test_fused_batch_norm_trains_and_infers_like_keras_batch_norm():
    import keras
    import tensorflow as tf

    x = tf.random.stateless_normal((8, 6, 6, 4), seed=[1, 2]) * 3.0 + 1.0  # far from normalized
    upstream = tf.random.stateless_normal(x.shape, seed=[3, 4])  # some gradient from the layers above
    results = []
    for layer in (keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        gradients = tape.gradient(loss, [x, *layer.trainable_variables])
        results.append([y, *gradients, layer.moving_mean, layer.moving_variance, layer(x, training=False)])
    assert float(tf.reduce_mean(results[1][0] ** 2)) == pytest.approx(1.0, abs=0.01)  # normalized
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(np.asarray(fused_value), np.asarray(keras_value), rtol=1e-3, atol=1e-3)


def test_precision_settings(monkeypatch):
    assert (resolve_precision("float32"), resolve_precision("bfloat16")) == ("float32", "bfloat16")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN: bfloat16 would be emulated, slow
    assert resolve_precision("auto") == "float32"
    assert PRESETS["notebook"].precision == "float32" and PRESETS["default"].precision == "auto"
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16; got 'half'"):
        preset("default", precision="half")


def test_unknown_conv_layer_error_lists_the_conv_layers():
    with pytest.raises(ValueError, match="layer_conv1, layer_conv2"):
        conv_layer(build_model(PRESETS["quick"].model), "layer_conv3")


def test_notebook_preset_keeps_the_notebooks_settings():
    notebook = PRESETS["notebook"]
    assert (notebook.learning_rate, notebook.batch_size, notebook.schedule) == (1e-4, 64, "constant")
    assert notebook.distortions == Distortions(flip=True, hue=0.05, contrast=(0.3, 1.0),
                                               brightness=0.2, saturation=(0.0, 2.0))
    with pytest.raises(ValueError, match="unknown preset 'fast'; presets are: notebook, default, quick"):
        preset("fast")


def _batch_of_one_image(count=16):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return np.repeat(image[None], count, axis=0)


def test_each_image_in_a_batch_gets_its_own_distortion():
    out = augment.distort(_batch_of_one_image(), seed=(1, 2)).numpy()
    assert out.shape == (16, 24, 24, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    flat = out.reshape(16, -1)
    # Same input image 16 times: every pair of outputs differs.
    assert all(not np.allclose(flat[i], flat[j]) for i in range(16) for j in range(i + 1, 16))


def test_distortions_are_reproducible_with_a_seed():
    batch = _batch_of_one_image()
    a = augment.distort(batch, seed=(7, 3)).numpy()
    assert np.array_equal(a, augment.distort(batch, seed=(7, 3)).numpy())
    assert not np.allclose(a, augment.distort(batch, seed=(7, 4)).numpy())


def test_without_distortions_a_crop_is_an_exact_window_of_the_image():
    batch = _batch_of_one_image(4)
    out = augment.distort(batch, seed=(0, 0), distortions=augment.NO_DISTORTIONS).numpy()
    pixels = np.round(out * 255).astype(np.uint8)
    windows = [batch[0, top:top + 24, left:left + 24] for top in range(9) for left in range(9)]
    for crop in pixels:
        assert any(np.array_equal(crop, w) for w in windows)


def test_flip_mirrors_the_crop():
    # A left-to-right ramp: flipped crops run right-to-left.
    ramp = np.tile(np.arange(0, 256, 8, dtype=np.uint8)[None, :, None], (32, 1, 3))
    only_flip = Distortions(flip=True, hue=0.0, contrast=(1.0, 1.0), brightness=0.0, saturation=(1.0, 1.0))
    out = augment.distort(np.repeat(ramp[None], 32, axis=0), seed=(5, 5), distortions=only_flip).numpy()
    rising = out[:, 0, -1, 0] > out[:, 0, 0, 0]
    assert rising.any() and (~rising).any()


def _colours_one_at_a_time(crops, draws, d):
    """The colour distortions as the notebook applies them, one after another (NumPy): crops (B, 24, 24, 3)
    in 0..1, draws (B, 8) the distortion's uniform draws."""
    def uniform(column, low, high):
        return (low + (high - low) * draws[:, column])[:, None, None, None]
    rotation = augment._grey_axis_rotation(2 * np.pi * (-d.hue + 2 * d.hue * draws[:, 3])).numpy()  # (B, 3, 3)
    x = np.einsum("bhwc,bdc->bhwd", crops, rotation)                  # hue
    mean = x.mean(axis=(1, 2), keepdims=True)
    x = (x - mean) * uniform(4, *d.contrast) + mean                   # contrast
    x = x + uniform(5, -d.brightness, d.brightness)                   # brightness
    grey = (x * np.array(augment.LUMA)).sum(axis=-1, keepdims=True)
    x = grey + (x - grey) * uniform(6, *d.saturation)                 # saturation
    return np.clip(x, 0, 1)


@pytest.mark.parametrize("distortions", [Distortions(), PRESETS["default"].distortions], ids=["notebook", "default"])
def test_the_colour_distortions_in_one_pass_equal_them_one_at_a_time(distortions):
    import tensorflow as tf

    batch = np.random.default_rng(4).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    seed = (11, 5)
    crops = augment.distort(batch, seed, CROP_FLIP).numpy()    # the same crops and flips, colours unchanged
    draws = tf.random.stateless_uniform((64, 8), seed=seed).numpy()         # the draws distort makes
    out = augment.distort(batch, seed, distortions).numpy()
    expected = _colours_one_at_a_time(crops, draws, distortions)
    assert np.abs(expected - crops).max() > 0.1                            # the colours did change
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_test_time_input_is_the_centre_crop():
    batch = _batch_of_one_image(2)
    out = augment.centre_crop(batch).numpy()
    assert np.array_equal(np.round(out * 255).astype(np.uint8), batch[:, 4:28, 4:28])


def test_preview_uses_the_training_distortions_and_is_deterministic():
    image = _batch_of_one_image(1)[0]
    a = augment.preview(image, count=9, seed=3)
    assert a.shape == (9, 24, 24, 3)
    assert np.array_equal(a, augment.preview(image, count=9, seed=3))
    assert np.array_equal(a, augment.distort(np.repeat(image[None], 9, axis=0), seed=(3, 0)).numpy())
