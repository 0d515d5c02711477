"""The notebook's network, layer for layer, with named layers.

    input (24, 24, 3) float in [0, 1]
    -> layer_conv1: conv 5x5, 64 filters -> batch-norm -> ReLU -> max-pool 2x2   (12, 12, 64)
    -> layer_conv2: conv 5x5, 64 filters [-> batch-norm] -> ReLU -> max-pool 2x2 (6, 6, 64)
    -> flatten (2304) -> layer_fc1: dense 256, ReLU -> layer_fc2: dense 128, ReLU
    -> layer_softmax: dense 10, softmax

The names and shapes are cifar_core.architecture's table (a test keeps the two
in step): pages find the conv kernels there for filters, and the `*_relu`
outputs for feature maps.
"""
import keras
import tensorflow as tf
from keras import layers

from cifar_core import architecture
from cifar_core.augment import CROP_SIZE
from cifar_core.config import NUM_CLASSES
from cifar_core.winograd import WinogradConv2D


def build_model(model_config, dtype="float32", plain_keras=False):
    """A fresh, uncompiled Keras model for `model_config` (a ModelConfig).

    dtype: the Keras dtype policy of every layer but the softmax, which stays float32 so the loss
    is computed from full-precision probabilities. "mixed_bfloat16" computes in bfloat16 and keeps
    the weights float32, so its checkpoints load into a float32 model.
    plain_keras: Keras' own BatchNormalization and Conv2D instead of FusedBatchNormalization and (for conv2)
    WinogradConv2D: same variables and results (to float rounding), slower; the baseline of
    benchmarks/train_throughput.py, and what export.py saves (a file needs no cifar_core to load). The two
    load the same checkpoints (keyed by weights_by_name), but not each other's Keras weight files: Keras
    keys a `.weights.h5` by class-derived names (fused_batch_normalization...). Between models in memory,
    get_weights / set_weights match."""
    batch_norm_layer = layers.BatchNormalization if plain_keras else FusedBatchNormalization
    # conv2 (64 input channels, most of the step's arithmetic) trains with Winograd's method in float32
    conv2_layer = layers.Conv2D if plain_keras else WinogradConv2D
    inputs = keras.Input((CROP_SIZE, CROP_SIZE, 3), name="image")
    x = _conv_block(inputs, "layer_conv1", layers.Conv2D, batch_norm_layer, dtype)
    x = _conv_block(x, "layer_conv2", conv2_layer, batch_norm_layer if model_config.batch_norm_conv2 else None,
                    dtype)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    x = layers.Dense(256, activation="relu", name="layer_fc1", dtype=dtype)(x)
    x = layers.Dense(128, activation="relu", name="layer_fc2", dtype=dtype)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="layer_softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cifar10_cnn")


def _conv_block(x, name, conv_layer, batch_norm_layer, dtype):
    # A bias before batch-norm would be cancelled by its mean subtraction; batch-norm's beta replaces it.
    x = conv_layer(64, 5, padding="same", use_bias=batch_norm_layer is None, name=name, dtype=dtype)(x)
    if batch_norm_layer:
        # momentum 0.9 (Keras' default is 0.99): test-time statistics settle within ~50 steps, not ~500,
        # so even a short classroom run evaluates well.
        x = batch_norm_layer(momentum=0.9, name=f"{name}_bn", dtype=dtype)(x)
    x = layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)
    return layers.MaxPooling2D(2, strides=2, name=f"{name}_pool", dtype=dtype)(x)


class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization, training with TensorFlow's fused kernel.

    Keras 3 normalizes a batch with separate mean, variance and arithmetic ops: on the (B, 24, 24, 64)
    output of conv1 that took 9.7 ms of a 45 ms training step (batch 128, 2 cores); the fused kernel
    takes 3.4 ms. Same variables in the same order (get_weights / set_weights match), same results to float rounding.
    Inference and anything unusual (a mask, another axis) go through Keras' own code.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None or self.axis not in (-1, 3) \
                or len(inputs.shape) != 4:
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
        # The kernel returns the unbiased (n - 1) variance; Keras keeps the biased one, as the outputs use.
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
        variance = variance * (count - 1) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def conv_layer(model, name):
    """The Keras conv layer called `name`; ValueError listing the conv layers otherwise."""
    return model.get_layer(architecture.conv(name).name)


# --- the names checkpoints key their arrays by (checkpoints.py) --------------------------------------

def weights_by_name(model):
    """{"layer_conv1/kernel": variable, "layer_conv1_bn/moving_mean": variable, ...}: every weight of `model`
    (trainable or not) by its layer's name and its own. Keras' own paths and file keys change between
    versions and layer classes; these are this project's names (architecture.py's table), the same for the
    fused and the plain-Keras network."""
    named = {}
    for layer in model.layers:
        for variable in layer.weights:
            named[f"{layer.name}/{variable.name}"] = variable
    if len(named) != len(model.weights):
        raise ValueError(f"{len(model.weights)} weights but {len(named)} distinct layer/weight names")
    return named


def optimizer_variables_by_name(model, optimizer):
    """{"iterations": ..., "learning_rate": ..., "layer_conv1/kernel/momentum": ...}: a built optimizer's
    variables, each slot (Adam's momentum, velocity) named after the network's weight it belongs to.

    Keras names a slot "<weight's path with _ for />_<slot>" (its own docstring says otherwise: such names
    move between versions), so slots are matched to weights here, by those paths, and keyed by ours. A
    variable matched to no weight keeps its own name; two variables under one name are an error."""
    owners = {variable.path.replace("/", "_") + "_": name
              for name, variable in weights_by_name(model).items() if variable.trainable}
    named = {}
    for variable in optimizer.variables:
        if variable is optimizer.iterations:
            key = "iterations"
        else:
            prefix = max((p for p in owners if variable.name.startswith(p)), key=len, default=None)
            key = variable.name if prefix is None else f"{owners[prefix]}/{variable.name[len(prefix):]}"
        if key in named:
            raise ValueError(f"two optimizer variables are named {key!r}")
        named[key] = variable
    return named
