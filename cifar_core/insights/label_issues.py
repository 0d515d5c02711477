"""Suspect labels: test images whose label, not the network, may be the mistake (arrays only).

Two sources of suspicion:
- confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset
  Labels", JAIR 2021), written out below, on a checkpoint's test-set probabilities. These are out-of-sample
  (the network never trains on the test set), which the method needs: on its own training images a network
  simply learns the wrong labels.
- the published CIFAR-10 test label errors (cleanlab/label-errors, Apache-2.0: cifar_core/label_errors/,
  NOTICE credits the source), each image checked by five people. Their indices are positions in the
  official `test_batch`, so they apply only to a dataset verified byte-identical to the official release.
NumPy and the standard library only: no TensorFlow, no Streamlit.
"""
import csv
import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

PUBLISHED_FILE = "cifar10_test_label_errors.csv"  # in cifar_core/label_errors/, one row per checked image
VOTERS = 5           # Mechanical Turk workers who looked at each published image
ERROR_BELOW = 3      # fewer than 3 of 5 agreeing with the given label: the paper's "label errors" (54)
OFFICIAL_TEST_SIZE = 10_000


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value
class LabelIssues:
    """Test images whose label is in doubt, most suspect first."""
    indices: np.ndarray    # (S,) int: test-image indices
    suggested: np.ndarray  # (S,) int: the class the evidence points to instead
    support: np.ndarray    # (S,) float in 0..1: how much the evidence backs the given label (the network's
    #                        probability of it, or the share of people who agreed with it); lowest first

    def suggestions(self):
        """{test-image index: suggested class}, for badges in any gallery."""
        return dict(zip(self.indices.tolist(), self.suggested.tolist()))

    def __len__(self):
        return len(self.indices)


def _issues(indices, suggested, support):
    order = np.lexsort((indices, support))  # least support first; ties by index
    return LabelIssues(np.asarray(indices, np.int64)[order], np.asarray(suggested, np.int64)[order],
                       np.asarray(support, np.float64)[order])


NO_ISSUES = _issues(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


def confident_learning(labels, probabilities):
    """Confident learning's off-diagonal of the confident joint: the images the network is confidently
    sure belong to another class than their label. labels: (N,) ints; probabilities: (N, K)."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, np.float64)
    n, k = probabilities.shape
    self_confidence = probabilities[np.arange(n), labels]  # (N,) the probability of the given label
    # (K,) per class j: the mean probability of j over the images labelled j, the bar an image must reach to
    # count as "confidently j". A class with no image labelled so has no bar: nothing is confidently it.
    counts = np.bincount(labels, minlength=k)
    thresholds = np.bincount(labels, weights=self_confidence, minlength=k) / np.maximum(counts, 1)
    thresholds[counts == 0] = np.inf
    confident = probabilities >= thresholds                                  # (N, K)
    guess = np.where(confident, probabilities, -1.0).argmax(axis=1)          # (N,) likeliest confident class
    # The confident joint C[given, guess] counts these pairs; its off-diagonal are the suspects, less those
    # whose top answer is still their label (as cleanlab does: "looks like a dog" must be what the network says).
    answer = probabilities.argmax(axis=1)
    flagged = np.flatnonzero(confident.any(axis=1) & (guess != labels) & (answer != labels))
    return _issues(flagged, guess[flagged], self_confidence[flagged])


@dataclass(frozen=True, eq=False)
class PublishedList:
    """Every image of the published list (275), in the official test_batch's order of indices."""
    indices: np.ndarray  # (P,) int: positions in the official test_batch
    given: np.ndarray    # (P,) int: the label there
    suggested: np.ndarray  # (P,) int: the class confident learning suggested
    votes: np.ndarray    # (P, 4) int: of 5 people, how many said given, suggested, neither, both


def doubtful_labels(labels, probabilities, official):
    """-> (suspects by confident learning, published label errors) for a test set's (N,) labels and the
    network's (N, 10) answers at one step; `official`: the dataset is the official release (Dataset.official)."""
    return confident_learning(labels, probabilities), published_issues(labels, official)


@functools.cache
def published_list():
    """The published list as shipped with the package (read once)."""
    with (resources.files("cifar_core") / "label_errors" / PUBLISHED_FILE).open(newline="") as f:
        rows = np.array([[int(v) for v in row] for row in list(csv.reader(f))[1:]], np.int64)
    return PublishedList(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3:7])


def published_issues(labels, official):
    """The published label errors (fewer than 3 of 5 people agreed with the label) as LabelIssues on this
    test set, or none: when the dataset is not verified as the official release (`official`, e.g.
    Dataset.official), or when its labels at the listed indices are not the list's (not the official order),
    the indices would name other images. labels: (N,) ints."""
    published = published_list()
    labels = np.asarray(labels)
    if not official or len(labels) != OFFICIAL_TEST_SIZE or not np.array_equal(labels[published.indices],
                                                                                published.given):
        return NO_ISSUES
    errors = published.votes[:, 0] < ERROR_BELOW
    return _issues(published.indices[errors], published.suggested[errors], published.votes[errors, 0] / VOTERS)
