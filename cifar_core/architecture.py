"""The network's layers as one table, without TensorFlow: what every page, caption and picker names.

`model.build_model` builds exactly these layers (a test checks names and output shapes), so the
Home flowchart, the Filters and Feature maps pickers and their captions are generated from here.
"""
from dataclasses import dataclass

IMAGE_SHAPE = (32, 32, 3)  # a CIFAR-10 image
COLOUR_CHANNELS = ("R (red)", "G (green)", "B (blue)")


@dataclass(frozen=True)
class Layer:
    name: str                 # the Keras layer's name ("" for the photo itself: the network sees its crop)
    label: str                # what pages call it
    what: str                 # what it does, one line
    output_shape: tuple       # per image, e.g. (24, 24, 64)
    kind: str                 # "input", "crop", "conv", "pool", "flatten", "dense", "softmax"
    input_channels: tuple = ()  # conv layers: the name of each input channel its filters read
    reads: str = ""             # conv layers: what those channels are, in words

    @property
    def filters(self):
        """Conv layers: how many filters (= output maps) it has."""
        return self.output_shape[-1]

    @property
    def maps_layer(self):
        """Conv layers: the layer whose output pages show as feature maps (after ReLU, before pooling)."""
        return f"{self.name}_relu"


def _conv1_maps():
    return tuple(f"conv1 map {i}" for i in range(64))


LAYERS = (
    Layer("", "image", "colour image", IMAGE_SHAPE, "input"),  # the crop is done before the network
    Layer("image", "crop", "random distortions (training) or centre crop (test)", (24, 24, 3), "crop"),
    Layer("layer_conv1", "conv1", "64 filters of 5×5, batch-norm, ReLU", (24, 24, 64), "conv", COLOUR_CHANNELS,
          "the image's three colours"),
    Layer("layer_conv1_pool", "max-pool", "max-pool 2×2", (12, 12, 64), "pool"),
    Layer("layer_conv2", "conv2", "64 filters of 5×5 (+ batch-norm, except the notebook preset), ReLU",
          (12, 12, 64), "conv", _conv1_maps(), "conv1's 64 pooled maps"),
    Layer("layer_conv2_pool", "max-pool", "max-pool 2×2", (6, 6, 64), "pool"),
    Layer("flatten", "flatten", "flatten", (2304,), "flatten"),
    Layer("layer_fc1", "fc1", "dense, ReLU", (256,), "dense"),
    Layer("layer_fc2", "fc2", "dense, ReLU", (128,), "dense"),
    Layer("layer_softmax", "softmax", "10 class probabilities", (10,), "softmax"),
)
CONV_LAYERS = tuple(layer for layer in LAYERS if layer.kind == "conv")
CONV_LAYER_NAMES = tuple(layer.name for layer in CONV_LAYERS)


def conv(name):
    """The conv layer called `name`; ValueError listing the conv layers otherwise."""
    for layer in CONV_LAYERS:
        if layer.name == name:
            return layer
    raise ValueError(f"layer {name!r} not found; conv layers are: {', '.join(CONV_LAYER_NAMES)}")

