"""The learned 5x5 filters of a conv layer (arrays only): one input channel at a time, conv1's as colour
patches, and how much structure they have (to tell random noise from learned edges and colour blobs)."""
from dataclasses import dataclass

import numpy as np

from cifar_core import architecture

# Mean neighbour correlation (see filter_structure) below which the filters read as noise, and above which
# most of them are clearly smooth. Random initialisation gives about -0.01 (±0.01 over 64 filters); a
# smooth edge or blob gives 0.5-0.9 (a one-pixel checkerboard would give -1). Measured on a quick run
# (full CIFAR-10): step 50 0.01, 100 0.07, 200 0.17, 500 0.30, 1,000 and 1,500 0.35, where by eye the
# patches are still mostly noisy with soft blobs showing: "structured" is kept for clearly smooth filters.
NOISE_BELOW = 0.15
STRUCTURED_ABOVE = 0.5
COLOURFUL_ABOVE = 0.5  # a filter's colour share (see filter_structure) above which it reads as coloured


@dataclass(frozen=True)
class FilterWeights:
    weights: np.ndarray  # (filters, height, width): one input channel's slice of every filter
    min: float
    max: float
    mean: float
    std: float


@dataclass(frozen=True)
class FilterStructure:
    smoothness: np.ndarray  # (filters,): correlation of horizontally/vertically neighbouring weights
    colour: np.ndarray      # (filters,) in 0..1: share of a filter's energy in how its 3 channels differ

    @property
    def mean_smoothness(self):
        return float(np.mean(self.smoothness))

    @property
    def colourful_filters(self):
        """How many filters are both smooth and coloured (colour blobs and colour edges)."""
        return int(np.sum((self.smoothness > STRUCTURED_ABOVE) & (self.colour > COLOURFUL_ABOVE)))

    @property
    def stage(self):
        """"noise", "emerging" or "structured": what the filters look like, as a string option."""
        if self.mean_smoothness < NOISE_BELOW:
            return "noise"
        return "emerging" if self.mean_smoothness < STRUCTURED_ABOVE else "structured"


def _kernel(model, layer_name):
    layer = architecture.conv(layer_name)
    return model.get_layer(layer.name).get_weights()[0]  # (5, 5, in_channels, filters)


def filter_weights(model, layer_name, input_channel):
    """The weights of every filter of conv layer `layer_name` for one input channel."""
    kernel = _kernel(model, layer_name)
    channels = kernel.shape[2]
    if not 0 <= input_channel < channels:
        raise ValueError(f"input channel {input_channel} is out of range; {layer_name} has channels "
                         f"0..{channels - 1}")
    w = np.transpose(kernel[:, :, input_channel, :], (2, 0, 1))  # (filters, 5, 5)
    return FilterWeights(w, float(w.min()), float(w.max()), float(w.mean()), float(w.std()))


def colour_patches(kernel):
    """(5, 5, 3, filters) kernel of a layer that reads an RGB image -> (filters, 5, 5, 3) float32 in 0..1.

    One symmetric scale for all filters, 0.5 + w / (2 max|w|): a zero weight is grey 0.5 and the largest
    |weight| of the layer reaches 0 or 1, so patches can be compared with each other (a faint patch is a
    weak filter, not a stretched one)."""
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"colour patches need a kernel of shape (height, width, 3, filters) that reads the "
                         f"3 colour channels; received shape {kernel.shape}. Use filter_weights to see one "
                         f"input channel at a time instead.")
    scale = float(np.abs(kernel).max()) or 1.0  # an all-zero kernel: all grey
    return np.transpose(0.5 + kernel / (2.0 * scale), (3, 0, 1, 2))  # (filters, 5, 5, 3)


def layer_colour_patches(model, layer_name):
    """Conv layer `layer_name`'s filters as (filters, 5, 5, 3) colour patches in 0..1 (conv1 reads RGB)."""
    kernel = _kernel(model, layer_name)
    if kernel.shape[2] != 3:
        raise ValueError(f"layer {layer_name!r} reads {kernel.shape[2]} input channels, not the 3 colour "
                         f"channels of an image; colour patches exist only for layer_conv1. Use "
                         f"filter_weights({layer_name!r}, input_channel) to see one input channel at a time.")
    return colour_patches(kernel)


def filter_structure(kernel):
    """(5, 5, channels, filters) kernel -> FilterStructure, two honest numbers per filter.

    smoothness: Pearson correlation, within one filter, between each weight and its right and lower
    neighbours (same channel), the filter's mean taken off first. Independent random weights give about 0;
    smooth edges and blobs, whose neighbours are alike, give clearly more. An all-zero filter counts as 0.
    colour: 1 - (energy of the channel-mean image) / (total energy), after taking off the filter's mean:
    0 when all channels carry the same pattern (a grey edge), 2/3 for random weights of 3 channels, 1 when
    the channels cancel out (e.g. red against green)."""
    w = np.transpose(np.asarray(kernel, np.float64), (3, 0, 1, 2))  # (filters, 5, 5, channels)
    w = w - w.mean(axis=(1, 2, 3), keepdims=True)
    left, right = w[:, :, :-1], w[:, :, 1:]  # (filters, 5, 4, channels): horizontal neighbours
    top, bottom = w[:, :-1], w[:, 1:]        # (filters, 4, 5, channels): vertical neighbours
    a = np.concatenate([left.reshape(len(w), -1), top.reshape(len(w), -1)], axis=1)     # (filters, pairs)
    b = np.concatenate([right.reshape(len(w), -1), bottom.reshape(len(w), -1)], axis=1)  # (filters, pairs)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))  # (filters,)
    smoothness = np.divide((a * b).sum(axis=1), denominator, out=np.zeros(len(w)), where=denominator > 0)
    energy = (w * w).sum(axis=(1, 2, 3))                                        # (filters,)
    grey = w.shape[3] * (w.mean(axis=3) ** 2).sum(axis=(1, 2))                  # (filters,)
    colour = np.clip(np.divide(energy - grey, energy, out=np.zeros(len(w)), where=energy > 0), 0.0, 1.0)
    return FilterStructure(smoothness.astype(np.float32), colour.astype(np.float32))


def layer_structure(model, layer_name):
    """FilterStructure of conv layer `layer_name`'s filters."""
    return filter_structure(_kernel(model, layer_name))
