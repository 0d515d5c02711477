"""A confusion-matrix cell's gallery pages through all its images, most or least sure first, and keeps its page
as the step changes: run headless with AppTest on the tiny trained run, over a test set of 600 images (60 per
class) so that a cell can hold more than one page of 24."""
import numpy as np
import pytest
import streamlit as st

from app_pages import open_page
from cifar_core import snapshots
from cifar_core.data import load_dataset
from cifar_core.insights import confusion, inference
from dashboard.ui.navigation import CONFUSION
from tiny_cifar import write_cifar_folder


@pytest.fixture(scope="module")
def big_test_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar600")
    write_cifar_folder(folder, per_class_train=20, per_class_test=60)
    return folder


@pytest.fixture
def answers(monkeypatch, big_test_set, trained_dir):
    """-> {step: (600, 10) test probabilities} of every point of the run (classified here: the run saved its
    answers for its own 100 test images), and the dataset."""
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(big_test_set))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(trained_dir))
    dataset = load_dataset(big_test_set)
    yield {p.step: inference.test_set_probabilities(p, dataset) for p in snapshots.timeline(trained_dir)}, dataset
    st.cache_data.clear()
    st.cache_resource.clear()


def picks(at):
    return [int(b.key.removeprefix("cm_pick_")) for b in at.button if b.key and b.key.startswith("cm_pick_")]


def open_cell(true, pred):
    at = open_page(CONFUSION)
    at.selectbox(key="cm_true").set_value(true).run()
    at.selectbox(key="cm_pred").set_value(pred).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fullest_cell(probabilities, labels):
    matrix = confusion.confusion_matrix(labels, probabilities.argmax(axis=1)).matrix
    return tuple(int(i) for i in np.unravel_index(np.argmax(matrix), matrix.shape))


def test_a_cell_pages_through_all_its_images_most_sure_first(answers):
    by_step, dataset = answers
    latest = by_step[max(by_step)]
    true, pred = fullest_cell(latest, dataset.test_labels)
    expected = confusion.cell_indices(dataset.test_labels, latest, true, pred)
    pages = -(-len(expected) // 24)
    assert pages >= 2, len(expected)  # the trained network gets most of a class's 60 images right
    at = open_cell(true, pred)
    assert picks(at) == list(expected[:24])  # the first page: describe_cell's sentence and 24 captioned images
    assert "here are the 24 it was most sure of" in " ".join(m.value for m in at.markdown)
    seen = []
    for page in range(1, pages + 1):
        at.number_input(key="cm_page").set_value(page).run()
        assert not at.exception
        assert picks(at) == list(expected[(page - 1) * 24:page * 24]), page
        assert f"page {page} of {pages}" in " ".join(m.value for m in at.markdown)
        seen += picks(at)
    assert seen == list(expected)  # every image of the cell, each once


def test_least_sure_first_reverses_the_order_and_starts_at_its_first_page(answers):
    by_step, dataset = answers
    latest = by_step[max(by_step)]
    true, pred = fullest_cell(latest, dataset.test_labels)
    expected = confusion.cell_indices(dataset.test_labels, latest, true, pred)[::-1]
    at = open_cell(true, pred)
    at.number_input(key="cm_page").set_value(2).run()
    at.radio(key="cm_sort").set_value("least sure first").run()
    assert not at.exception
    assert at.number_input(key="cm_page").value == 1
    assert picks(at) == list(expected[:24])
    confidences = latest[picks(at), pred]
    assert list(confidences) == sorted(confidences)  # least sure first
    assert "here are numbers 1 to 24, least sure first" in " ".join(m.value for m in at.markdown)


def test_the_cell_and_its_page_stay_as_the_step_changes(answers):
    by_step, dataset = answers
    steps = sorted(by_step)
    counts = {step: confusion.confusion_matrix(dataset.test_labels, by_step[step].argmax(axis=1)).matrix
              for step in steps}
    # a cell with two pages or more at the latest step; fewest pages at some other step
    true, pred = fullest_cell(by_step[steps[-1]], dataset.test_labels)
    other = min(steps[:-1], key=lambda step: counts[step][true, pred])
    at = open_cell(true, pred)
    at.number_input(key="cm_page").set_value(2).run()
    at.select_slider(key="cm_timeline").set_value(other).run()
    assert not at.exception
    assert (at.selectbox(key="cm_true").value, at.selectbox(key="cm_pred").value) == (true, pred)
    there = confusion.cell_indices(dataset.test_labels, by_step[other], true, pred)
    page = min(2, max(1, -(-len(there) // 24)))  # the page wanted, or the last one the other step has
    assert picks(at) == list(there[(page - 1) * 24:page * 24])
    at.select_slider(key="cm_timeline").set_value(steps[-1]).run()
    assert at.number_input(key="cm_page").value == 2  # back where the learner was
    expected = confusion.cell_indices(dataset.test_labels, by_step[steps[-1]], true, pred)
    assert picks(at) == list(expected[24:48])

