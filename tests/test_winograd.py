"""conv2 trains with Winograd's F(4x4, 5x5): the same convolution, values and gradients, as oneDNN's."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from cifar_core.config import PRESETS
from cifar_core.model import build_model
from cifar_core.winograd import WinogradConv2D, conv2d_5x5_same


@pytest.mark.parametrize("shape", [(3, 12, 12, 8), (2, 8, 16, 5)])
def test_winograd_convolution_and_its_gradients_match_the_direct_convolution(shape):
    images = tf.random.stateless_normal(shape, seed=[1, 2])
    kernel = tf.random.stateless_normal((5, 5, shape[-1], 6), seed=[3, 4]) * 0.2
    upstream = tf.random.stateless_normal(shape[:3] + (6,), seed=[5, 6])  # a gradient from the layers above
    results = []
    for conv in (conv2d_5x5_same, lambda x, k: tf.nn.conv2d(x, k, 1, "SAME")):
        with tf.GradientTape() as tape:
            tape.watch([images, kernel])
            outputs = conv(images, kernel)
            loss = tf.reduce_sum(outputs * upstream)
        results.append([outputs, *tape.gradient(loss, [images, kernel])])
    for winograd_value, direct_value in zip(*results):
        scale = float(tf.reduce_max(tf.abs(direct_value)))
        np.testing.assert_allclose(winograd_value.numpy(), direct_value.numpy(), atol=1e-5 * scale)


def test_the_layer_uses_winograd_only_to_train_in_float32_and_keras_conv_otherwise():
    keras.utils.set_random_seed(0)  # the kernel's initial values
    layer = WinogradConv2D(4, 5, padding="same")
    images = tf.random.stateless_normal((2, 12, 12, 3), seed=[7, 8])
    direct = layer(images, training=False)
    # float rounding: ~1e-5 of the largest output (~1 here), never more than a few times that
    np.testing.assert_allclose(layer(images, training=True).numpy(), direct.numpy(), atol=1e-4)
    assert layer._winograd_fits(images)
    assert not layer._winograd_fits(tf.zeros((2, 10, 10, 3)))   # not a multiple of 4: Keras' own conv
    assert layer(tf.zeros((2, 10, 10, 3)), training=True).shape == (2, 10, 10, 4)
    half = WinogradConv2D(4, 5, padding="same", dtype="mixed_bfloat16")
    half(images)
    assert not half._winograd_fits(images)


def test_the_training_network_and_the_plain_keras_one_compute_the_same_training_pass():
    trained = build_model(PRESETS["default"].model)
    plain = build_model(PRESETS["default"].model, plain_keras=True)
    assert isinstance(trained.get_layer("layer_conv2"), WinogradConv2D)
    assert type(plain.get_layer("layer_conv2")) is keras.layers.Conv2D
    assert type(trained.get_layer("layer_conv1")) is keras.layers.Conv2D   # 3 input channels: no gain there
    plain.set_weights(trained.get_weights())
    images = tf.random.stateless_uniform((4, 24, 24, 3), seed=[9, 10])
    np.testing.assert_allclose(trained(images, training=True).numpy(), plain(images, training=True).numpy(),
                               atol=1e-4)
