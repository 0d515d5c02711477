"""The worst mistakes: the test images with the highest loss, and the pairs of classes mixed up most
(arrays and small dataclasses only; no TensorFlow, no Streamlit)."""
from dataclasses import dataclass

import numpy as np

SMALLEST_PROBABILITY = 1e-7  # -log(0) is infinite: the loss tops out at -log(1e-7) = 16.1, as in training


def losses(labels, probabilities):
    """(N,) cross-entropy of each image: -log of the probability given to its true class.
    labels: (N,) ints; probabilities: (N, K)."""
    picked = np.asarray(probabilities)[np.arange(len(labels)), labels]
    return -np.log(np.maximum(picked.astype(np.float64), SMALLEST_PROBABILITY))


def worst_mistakes(labels, probabilities):
    """(M,) indices of the wrongly answered images, highest loss first (ties: lower index first)."""
    loss = losses(labels, probabilities)
    wrong = np.flatnonzero(np.argmax(probabilities, axis=1) != labels)
    return wrong[np.lexsort((wrong, -loss[wrong]))]


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value
class ConfusedPair:
    """Two classes the network mixes up, counted both ways: images of `first` called `second` and back."""
    first: int            # the lower class number of the two
    second: int
    first_as_second: np.ndarray  # (A,) indices of images of `first` answered `second`, highest loss first
    second_as_first: np.ndarray  # (B,) indices of images of `second` answered `first`, highest loss first

    @property
    def count(self):
        return len(self.first_as_second) + len(self.second_as_first)


def confused_pairs(labels, probabilities):
    """Every unordered pair of classes with at least one mix-up, most mix-ups first (ties: lower classes
    first). labels: (N,) ints; probabilities: (N, K)."""
    labels = np.asarray(labels)
    predicted = np.argmax(probabilities, axis=1)
    worst = worst_mistakes(labels, probabilities)  # every mistake, highest loss first
    true, answer = labels[worst], predicted[worst]
    low, high = np.minimum(true, answer), np.maximum(true, answer)
    pairs = []
    for a, b in sorted(set(zip(low.tolist(), high.tolist()))):
        pairs.append(ConfusedPair(a, b, worst[(true == a) & (answer == b)], worst[(true == b) & (answer == a)]))
    return sorted(pairs, key=lambda pair: -pair.count)  # stable: equal counts stay in class order
