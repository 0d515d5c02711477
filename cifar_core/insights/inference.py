"""A checkpoint's own network, and its answers: class probabilities for images and for the test set.

A network for looking inside is loaded from a checkpoint into its own Keras model,
never the one being trained (evaluating that one would disturb training).
TensorFlow is imported only by the functions that run a network: the test set's
answers are usually read from the checkpoint (`test_set_probabilities`), so the
Confusion matrix page and `evaluate` of a new checkpoint need no TensorFlow.
"""
from dataclasses import dataclass

import numpy as np

from cifar_core.architecture import CONV_LAYERS
from cifar_core.training.hooks import TEST_PROBABILITIES

EVAL_BATCH = 250  # images per forward pass: 500 cost ~140 MB more peak memory, no faster


@dataclass(frozen=True)
class InferenceModel:
    model: object            # keras.Model: (B, 24, 24, 3) -> (B, 10) probabilities
    features: object         # keras.Model: (B, 24, 24, 3) -> [conv1 maps (B, 24, 24, 64), conv2 maps (B, 12, 12, 64), probs]
    checkpoint: object       # the Checkpoint it was loaded from
    step: int


def load_inference_model(checkpoint):
    """A fresh float32 network with a Checkpoint's weights (CheckpointError if the checkpoint is damaged)."""
    import keras

    from cifar_core.model import build_model

    model = build_model(checkpoint.config.model)
    checkpoint.restore(model)
    # Feature maps are the ReLU outputs, before pooling: what each filter responds to, at full resolution.
    outputs = [model.get_layer(layer.maps_layer).output for layer in CONV_LAYERS] + [model.output]
    return InferenceModel(model, keras.Model(model.input, outputs), checkpoint, checkpoint.step)


def predict_probabilities(model, images, batch_size=EVAL_BATCH):
    """(N, 32, 32, 3) uint8 -> (N, 10) float32 class probabilities, centre-cropped, in batches."""
    from cifar_core.augment import centre_crop

    out = np.empty((len(images), 10), np.float32)
    for start in range(0, len(images), batch_size):
        x = centre_crop(images[start:start + batch_size])
        out[start:start + batch_size] = model(x, training=False).numpy()
    return out


def accuracy_and_loss(probabilities, labels):
    """(accuracy 0..1, mean cross-entropy loss) of (N, 10) class probabilities against (N,) true labels."""
    picked = probabilities[np.arange(len(labels)), labels]  # (N,) the probability given to the true class
    return float(np.mean(probabilities.argmax(axis=1) == labels)), float(np.mean(-np.log(np.maximum(picked, 1e-7))))


def test_set_probabilities(checkpoint, dataset, load_model=load_inference_model):
    """(N, 10) float32: the checkpoint's answers on the dataset's test images.

    Read from the checkpoint when training saved them for this test set; otherwise (an older
    checkpoint, another dataset) the network classifies the test set, loaded with `load_model`
    (a caching loader, for the dashboard). CheckpointError when any file of the checkpoint is damaged:
    answers saved beside damaged weights are not to be trusted either."""
    checkpoint.verify()
    saved = checkpoint.artifact(TEST_PROBABILITIES)
    if saved is not None and saved.shape == (len(dataset.test_labels), 10):
        return saved
    return predict_probabilities(load_model(checkpoint).model, dataset.test_images)
