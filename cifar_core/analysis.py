"""Look inside a trained network: arrays only, never figures (pages draw).

A model for analysis is loaded from a checkpoint into its own Keras model,
never the one being trained (evaluating that one would disturb training).
"""
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cifar_core import augment, checkpoints
from cifar_core.model import CONV_LAYERS, build_model, conv_layer
from cifar_core.session import predict_probabilities

__all__ = ["InferenceModel", "load_inference_model", "predict_probabilities", "filter_weights", "feature_maps",
           "image_probabilities"]


@dataclass(frozen=True)
class InferenceModel:
    model: keras.Model       # (B, 24, 24, 3) -> (B, 10) probabilities
    features: keras.Model    # (B, 24, 24, 3) -> [conv1 maps (B, 24, 24, 64), conv2 maps (B, 12, 12, 64), probs]
    checkpoint: Path
    step: int


def load_inference_model(checkpoint_path):
    """A fresh model with a checkpoint's weights (CheckpointError if the checkpoint is damaged)."""
    checkpoint_path = Path(checkpoint_path)
    config = checkpoints.config_of(checkpoint_path)
    model = build_model(config)
    meta = checkpoints.restore(checkpoint_path, model)
    # Feature maps are the ReLU outputs, before pooling: what each filter responds to, at full resolution.
    outputs = [model.get_layer(f"{name}_relu").output for name in CONV_LAYERS] + [model.output]
    return InferenceModel(model, keras.Model(model.input, outputs), checkpoint_path, int(meta["step"]))


@dataclass(frozen=True)
class FilterWeights:
    weights: np.ndarray  # (filters, height, width): one input channel's slice of every filter
    min: float
    max: float
    mean: float
    std: float


def filter_weights(model, layer_name, input_channel):
    """The weights of every filter of a conv layer for one input channel."""
    kernel = conv_layer(model, layer_name).get_weights()[0]  # (5, 5, in_channels, filters)
    channels = kernel.shape[2]
    if not 0 <= input_channel < channels:
        raise ValueError(f"input channel {input_channel} is out of range; {layer_name} has channels "
                         f"0..{channels - 1}")
    w = np.transpose(kernel[:, :, input_channel, :], (2, 0, 1))  # (filters, 5, 5)
    return FilterWeights(w, float(w.min()), float(w.max()), float(w.mean()), float(w.std()))


def feature_maps(inference, image):
    """One (32, 32, 3) uint8 image -> ({layer name: (H, W, 64) maps}, (10,) probabilities)."""
    x = augment.centre_crop(np.asarray(image, np.uint8)[None])
    *maps, probabilities = inference.features(x, training=False)
    return ({name: m[0].numpy() for name, m in zip(CONV_LAYERS, maps)}, probabilities[0].numpy())


def image_probabilities(inference, image):
    """One (32, 32, 3) uint8 image -> (10,) class probabilities."""
    x = augment.centre_crop(np.asarray(image, np.uint8)[None])
    return inference.model(x, training=False)[0].numpy()
