"""Which classes the network mixes up: a confusion matrix from test-set probabilities.

NumPy and scikit-learn only, no TensorFlow: the Confusion matrix page draws from
the probabilities a checkpoint saved, and needs a network only to look inside one image.
"""
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from cifar_core.config import NUM_CLASSES


@dataclass(frozen=True)
class Confusion:
    matrix: np.ndarray              # (10, 10) int: rows = true class, columns = predicted class
    per_class_accuracy: np.ndarray  # (10,) fraction of each true class predicted right
    accuracy: float                 # overall fraction right

    def normalised(self):
        """(10, 10) float: each row as fractions of its true class (a row with no images stays 0)."""
        rows = self.matrix.sum(axis=1, keepdims=True)
        return self.matrix / np.maximum(rows, 1)


def confusion_matrix(labels, predicted):
    """Confusion matrix of true `labels` against `predicted` classes, both (N,) ints in 0..9."""
    matrix = sk_confusion_matrix(labels, predicted, labels=np.arange(NUM_CLASSES))
    totals = matrix.sum(axis=1)
    per_class = np.divide(np.diag(matrix), totals, out=np.zeros(NUM_CLASSES), where=totals > 0)
    return Confusion(matrix, per_class, float(np.trace(matrix) / max(1, matrix.sum())))


def cell_indices(labels, probabilities, true_class, predicted_class):
    """Indices of the images of one confusion-matrix cell, most confident first.

    labels: (N,) ints; probabilities: (N, 10). Confidence is the probability the
    network gave its (wrong or right) predicted class.
    """
    predicted = np.argmax(probabilities, axis=1)
    index = np.flatnonzero((labels == true_class) & (predicted == predicted_class))
    confidence = probabilities[index, predicted_class]
    return index[np.argsort(-confidence, kind="stable")]
