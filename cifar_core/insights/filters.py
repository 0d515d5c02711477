"""The learned 5x5 filters of a conv layer, one input channel at a time (arrays only)."""
from dataclasses import dataclass

import numpy as np

from cifar_core import architecture


@dataclass(frozen=True)
class FilterWeights:
    weights: np.ndarray  # (filters, height, width): one input channel's slice of every filter
    min: float
    max: float
    mean: float
    std: float


def filter_weights(model, layer_name, input_channel):
    """The weights of every filter of conv layer `layer_name` for one input channel."""
    layer = architecture.conv(layer_name)
    kernel = model.get_layer(layer.name).get_weights()[0]  # (5, 5, in_channels, filters)
    channels = kernel.shape[2]
    if not 0 <= input_channel < channels:
        raise ValueError(f"input channel {input_channel} is out of range; {layer_name} has channels "
                         f"0..{channels - 1}")
    w = np.transpose(kernel[:, :, input_channel, :], (2, 0, 1))  # (filters, 5, 5)
    return FilterWeights(w, float(w.min()), float(w.max()), float(w.mean()), float(w.std()))
