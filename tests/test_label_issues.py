"""Suspect labels (confident learning, the published CIFAR-10 list) and the worst mistakes, on hand-made data."""
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest

from cifar_core.insights import label_issues, mistakes
from cifar_core.insights.label_issues import confident_learning, published_issues, published_list

ROOT = Path(__file__).resolve().parent.parent


def test_confident_learning_flags_an_image_confidently_of_another_class_worked_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],    # image 2: labelled 0, looks like a 1
                              [0.1, 0.9], [0.3, 0.7], [0.4, 0.6]])   # images 4, 5: unsure, but of nothing else
    # Bars: class 0 mean(0.9, 0.8, 0.2) = 0.633, class 1 mean(0.9, 0.7, 0.6) = 0.733. Image 2 clears class 1's
    # bar (0.8); images 4 and 5 clear neither bar (0.3, 0.4 < 0.633 and 0.7, 0.6 < 0.733).
    issues = confident_learning(labels, probabilities)
    assert issues.indices.tolist() == [2] and issues.suggested.tolist() == [1]
    assert issues.support.tolist() == pytest.approx([0.2])  # the probability the network gave its label


def test_confident_learning_finds_deliberately_flipped_labels_and_not_the_clean_ones():
    rng = np.random.default_rng(0)
    true = np.repeat(np.arange(10), 50)                          # 500 images, 50 per class
    probabilities = rng.dirichlet(np.ones(10), size=500) * 0.4   # 40% spread over all classes ...
    sure = rng.uniform(0.5, 0.95, size=500)
    probabilities *= (1 - sure)[:, None] / probabilities.sum(axis=1, keepdims=True)
    probabilities[np.arange(500), true] += sure                  # ... the rest on the true class: rows sum to 1
    hard = np.arange(5, 500, 50)                                 # one unsure but correctly labelled image per class
    probabilities[hard] = 0.1
    flipped = rng.choice(np.setdiff1d(np.arange(500), hard), size=20, replace=False)
    probabilities[flipped] = 0.01
    probabilities[flipped, true[flipped]] = 0.91                 # the network is sure of what they show
    labels = true.copy()
    labels[flipped] = (true[flipped] + rng.integers(1, 10, size=20)) % 10  # but their labels say otherwise
    issues = confident_learning(labels, probabilities)
    assert sorted(issues.indices.tolist()) == sorted(flipped.tolist())
    assert issues.suggestions() == {int(i): int(true[i]) for i in flipped}
    assert np.all(np.diff(issues.support) >= 0)                  # least support for the label first


def test_an_image_whose_top_answer_is_its_label_is_never_a_suspect():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.875, 0.0625, 0.0625], [0.5, 0.25, 0.25],    # image 1: clears class 1's bar
                              [0.5, 0.25, 0.25], [0.125, 0.25, 0.625]])      # (0.25) but says 0, its label
    assert len(confident_learning(labels, probabilities)) == 0


def test_a_class_nobody_is_labelled_with_suggests_nothing():
    labels = np.array([0, 0, 1])
    probabilities = np.array([[0.9, 0.0, 0.1], [0.2, 0.0, 0.8], [0.1, 0.8, 0.1]])  # class 2: no image has it
    assert len(confident_learning(labels, probabilities)) == 0


def official_order_labels():
    """10,000 labels whose listed positions hold the published list's given labels, as official ones do."""
    listed = published_list()
    labels = np.random.default_rng(1).integers(0, 10, size=10_000)
    labels[listed.indices] = listed.given
    return labels


def test_the_published_list_ships_all_275_checked_images_and_54_errors():
    listed = published_list()
    assert len(listed.indices) == 275 and np.all(listed.votes.sum(axis=1) == 5)
    assert len(published_issues(official_order_labels(), official=True)) == 54  # the paper's count


def test_the_published_errors_map_onto_the_official_test_batch_indices():
    issues = published_issues(official_order_labels(), official=True)
    # Row of cifar10_mturk.json: id 165, given deer (4), guessed bird (2), 1 of 5 agreed with "deer".
    assert issues.suggestions()[165] == 2
    assert issues.support[issues.indices.tolist().index(165)] == pytest.approx(0.2)
    assert 20 not in issues.suggestions()  # id 20: 3 of 5 agreed with its label "horse", not an error
    assert np.all(np.diff(issues.support) >= 0)


def test_the_published_list_is_ignored_for_a_dataset_not_verified_official():
    assert len(published_issues(official_order_labels(), official=False)) == 0


def test_the_published_list_is_ignored_when_the_labels_are_in_another_order():
    shuffled = np.random.default_rng(2).permutation(official_order_labels())  # as data/CIFAR-10 here is
    assert len(published_issues(shuffled, official=True)) == 0
    assert len(published_issues(np.zeros(100, int), official=True)) == 0  # not the 10,000 test images


def test_the_shipped_list_its_licence_and_notice_are_package_data():
    folder = ROOT / "cifar_core" / "label_errors"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {"label_errors/" + path.name for path in folder.iterdir()}
    assert {label_issues.PUBLISHED_FILE, "LICENSE", "NOTICE"} <= {path.name for path in folder.iterdir()}
    assert all(any(fnmatch(name, pattern) for pattern in patterns["cifar_core"]) for name in shipped)
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "Northcutt" in (folder / "NOTICE").read_text()


# --- worst mistakes -------------------------------------------------------------------------------------

LABELS = np.array([0, 1, 2, 0, 1])
PROBABILITIES = np.array([[0.2, 0.7, 0.1],     # 0 called 1, loss -log 0.2 = 1.61
                          [0.05, 0.05, 0.9],   # 1 called 2, loss -log 0.05 = 3.00
                          [0.1, 0.1, 0.8],     # right
                          [0.01, 0.98, 0.01],  # 0 called 1, loss -log 0.01 = 4.61
                          [0.6, 0.3, 0.1]])    # 1 called 0, loss -log 0.3 = 1.20


def test_losses_are_minus_log_the_true_class_probability():
    np.testing.assert_allclose(mistakes.losses(LABELS, PROBABILITIES), -np.log([0.2, 0.05, 0.8, 0.01, 0.3]))
    assert mistakes.losses(np.array([0]), np.array([[0.0, 1.0]]))[0] == pytest.approx(-np.log(1e-7))


def test_worst_mistakes_are_the_wrong_answers_highest_loss_first():
    assert mistakes.worst_mistakes(LABELS, PROBABILITIES).tolist() == [3, 1, 0, 4]
    tied = np.array([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1]])
    assert mistakes.worst_mistakes(np.array([0, 0, 0]), tied).tolist() == [0, 1]  # equal loss: lower index first


def test_confused_pairs_count_both_ways_most_first_each_with_its_images():
    pairs = mistakes.confused_pairs(LABELS, PROBABILITIES)
    assert [(p.first, p.second, p.count) for p in pairs] == [(0, 1, 3), (1, 2, 1)]
    assert pairs[0].first_as_second.tolist() == [3, 0]  # highest loss first
    assert pairs[0].second_as_first.tolist() == [4]
    assert pairs[1].first_as_second.tolist() == [1] and pairs[1].second_as_first.tolist() == []


def test_a_network_right_on_every_image_has_no_mistakes():
    assert mistakes.worst_mistakes(np.array([0, 1]), np.eye(2)).tolist() == []
    assert mistakes.confused_pairs(np.array([0, 1]), np.eye(2)) == []
