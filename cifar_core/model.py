"""The notebook's network, layer for layer, with named layers.

    input (24, 24, 3) float in [0, 1]
    -> layer_conv1: conv 5x5, 64 filters -> batch-norm -> ReLU -> max-pool 2x2   (12, 12, 64)
    -> layer_conv2: conv 5x5, 64 filters [-> batch-norm] -> ReLU -> max-pool 2x2 (6, 6, 64)
    -> flatten (2304) -> layer_fc1: dense 256, ReLU -> layer_fc2: dense 128, ReLU
    -> layer_softmax: dense 10, softmax

Pages find layers by these names: the conv kernels for filters, and the
`*_relu` outputs for feature maps.
"""
import keras
from keras import layers

from cifar_core.augment import CROP_SIZE
from cifar_core.config import NUM_CLASSES

CONV_LAYERS = ("layer_conv1", "layer_conv2")


def build_model(config):
    """A fresh, uncompiled Keras model for `config` (a TrainConfig)."""
    inputs = keras.Input((CROP_SIZE, CROP_SIZE, 3), name="image")
    x = _conv_block(inputs, "layer_conv1", batch_norm=True)
    x = _conv_block(x, "layer_conv2", batch_norm=config.batch_norm_conv2)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="layer_fc1")(x)
    x = layers.Dense(128, activation="relu", name="layer_fc2")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="layer_softmax")(x)
    return keras.Model(inputs, outputs, name="cifar10_cnn")


def _conv_block(x, name, batch_norm):
    # A bias before batch-norm would be cancelled by its mean subtraction; batch-norm's beta replaces it.
    x = layers.Conv2D(64, 5, padding="same", use_bias=not batch_norm, name=name)(x)
    if batch_norm:
        # momentum 0.9 (Keras' default is 0.99): test-time statistics settle within ~50 steps, not ~500,
        # so even a short classroom run evaluates well.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_layer(model, name):
    """The conv layer called `name`; ValueError listing the conv layers otherwise."""
    if name not in CONV_LAYERS:
        raise ValueError(f"layer {name!r} not found; conv layers are: {', '.join(CONV_LAYERS)}")
    return model.get_layer(name)
