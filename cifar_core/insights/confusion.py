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


@dataclass(frozen=True)
class ConfusionChange:
    """How the confusion matrix changed between two points of training: `before` (the step compared with)
    and `after` (the chosen step); both over the same test images."""
    before: Confusion
    after: Confusion
    difference: np.ndarray  # (10, 10) int: after minus before counts; each row sums to 0

    def normalised_difference(self):
        """(10, 10) float: the change of each cell as a fraction of its true class."""
        return self.after.normalised() - self.before.normalised()


def compare_confusions(labels, before_predicted, after_predicted):
    """The confusion matrices of two sets of predictions, (N,) ints each, for the same `labels`, and their
    difference (after minus before)."""
    before, after = confusion_matrix(labels, before_predicted), confusion_matrix(labels, after_predicted)
    return ConfusionChange(before, after, after.matrix - before.matrix)


@dataclass(frozen=True)
class CellChange:
    """Which test images moved into and out of one cell between two points of training."""
    entered: np.ndarray  # (E,) indices in the cell after, not before; most confident (after) first
    left: np.ndarray     # (L,) indices in the cell before, not after; most confident (before) first
    left_to: np.ndarray  # (L,) the class each image that left is predicted as after


def cell_changes(labels, before_probabilities, after_probabilities, true_class, predicted_class):
    """The images that entered and left cell (true_class, predicted_class); probabilities: (N, 10) each."""
    before = cell_indices(labels, before_probabilities, true_class, predicted_class)
    after = cell_indices(labels, after_probabilities, true_class, predicted_class)
    entered = after[~np.isin(after, before)]
    left = before[~np.isin(before, after)]
    return CellChange(entered, left, np.argmax(after_probabilities[left], axis=1))
