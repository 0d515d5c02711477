"""Comparing two steps on the Confusion matrix page: which cells grew or shrank, and which images moved."""
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cifar_core import snapshots
from cifar_core.data import load_dataset
from cifar_core.insights import confusion, inference
from dashboard.figures.confusion import difference_figure, per_class_compare_figure
from dashboard.ui.navigation import CONFUSION
from app_pages import HOME

NAMES = [f"c{i}" for i in range(10)]


def answers(predicted, confidence):
    """(N, 10) probabilities that predict `predicted` with `confidence`, the rest spread evenly."""
    predicted, confidence = np.asarray(predicted), np.asarray(confidence, dtype=float)
    probabilities = np.repeat(((1 - confidence) / 9)[:, None], 10, axis=1)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


# Five images: 0 stays right, 1 turns from class 1 to right, 2 stays right, 3 turns from class 0 to class 2,
# 4 stays right.
LABELS = np.array([0, 0, 1, 1, 2])
BEFORE = np.array([0, 1, 1, 0, 2])
AFTER = np.array([0, 0, 1, 2, 2])


def test_the_difference_counts_each_cell_later_minus_earlier():
    change = confusion.compare_confusions(LABELS, BEFORE, AFTER)
    expected = np.zeros((10, 10), int)
    expected[0, 0], expected[0, 1], expected[1, 0], expected[1, 2] = 1, -1, -1, 1
    np.testing.assert_array_equal(change.difference, expected)
    np.testing.assert_array_equal(change.difference.sum(axis=1), 0)  # the same images, moved within their row
    np.testing.assert_allclose(change.before.per_class_accuracy[:3], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(change.after.per_class_accuracy[:3], [1.0, 0.5, 1.0])
    assert change.normalised_difference()[0, 0] == pytest.approx(0.5)  # one of class 0's two images


def test_a_cell_lists_the_images_that_entered_and_left_it():
    before, after = answers(BEFORE, [0.9] * 5), answers(AFTER, [0.9] * 5)
    gained = confusion.cell_changes(LABELS, before, after, 0, 0)
    np.testing.assert_array_equal(gained.entered, [1])
    assert len(gained.left) == 0
    lost = confusion.cell_changes(LABELS, before, after, 1, 0)
    assert len(lost.entered) == 0
    np.testing.assert_array_equal(lost.left, [3])
    np.testing.assert_array_equal(lost.left_to, [2])  # image 3 is called class 2 now
    steady = confusion.cell_changes(LABELS, before, after, 2, 2)
    assert len(steady.entered) == len(steady.left) == 0


def test_images_that_entered_come_most_confident_first():
    labels = np.full(4, 3)
    before = answers([5, 5, 3, 3], [0.5, 0.5, 0.6, 0.8])
    after = answers([3, 3, 3, 5], [0.6, 0.9, 0.7, 0.8])
    change = confusion.cell_changes(labels, before, after, 3, 3)
    np.testing.assert_array_equal(change.entered, [1, 0])  # 0.9 before 0.6; image 2 was there already
    np.testing.assert_array_equal(change.left, [3])
    np.testing.assert_array_equal(change.left_to, [5])


def test_the_difference_heatmap_is_signed_and_clickable_with_both_counts():
    change = confusion.compare_confusions(LABELS, BEFORE, AFTER)
    drawn = difference_figure(change, NAMES, False, False, (1, 0), "step 0", "step 30")
    z = np.asarray(drawn.data[0].z)
    assert z[0, 0] == 1 and z[0, 1] == -1 and z[1, 2] == 1 and z[5, 5] == 0
    heatmap = drawn.data[0]
    assert heatmap.zmid == 0 and heatmap.zmin == -1 and heatmap.zmax == 1  # white = unchanged
    figure = json.loads(drawn.to_json())  # as the browser gets it
    markers = figure["data"][1]
    assert markers["marker"]["opacity"] == 0 and figure["layout"]["hoverdistance"] == -1
    by_position = {(y, x): (data, text) for x, y, data, text in
                   zip(markers["x"], markers["y"], markers["customdata"], markers["text"])}
    assert by_position[(1, 0)][0] == [1, 0, -1, 1, 0]  # [true, predicted, change, before, after]: plain lists
    assert "shrank" in by_position[(1, 0)][1] and "grew" in by_position[(1, 2)][1]
    assert "more right answers: good" in by_position[(0, 0)][1]  # on the diagonal, growing is good
    assert "step 0" in figure["layout"]["title"]["text"] and "red is good" in figure["layout"]["title"]["text"]
    assert figure["layout"]["font"]["size"] >= 14


def test_the_colours_span_the_changes_off_the_diagonal():
    labels = np.repeat(np.arange(10), 10)  # 10 images a class: untrained says 0 to all, trained gets all right
    change = confusion.compare_confusions(labels, np.zeros(100, int), labels.copy())
    heatmap = difference_figure(change, NAMES, False, False, None, "a", "b").data[0]
    assert heatmap.zmax == 10 and heatmap.z[1][1] == 10 and heatmap.z[1][0] == -10
    hidden = difference_figure(change, NAMES, False, True, None, "a", "b").data[0]
    assert np.isnan(hidden.z[1][1]) and hidden.text[1][1] == ""


def test_per_class_accuracy_shows_both_steps_side_by_side():
    figure = per_class_compare_figure(np.full(10, 0.1), np.full(10, 0.6), NAMES, "step 0", "step 30")
    assert [bar.name for bar in figure.data] == ["step 0", "step 30"] and figure.layout.barmode == "group"
    assert list(figure.data[1].y) == [0.6] * 10


def open_compare():
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(CONFUSION).run()
    at.toggle(key="cm_compare").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_comparing_shows_the_difference_from_the_untrained_network(trained_app):
    at = open_compare()
    assert at.get_by_key("cm_compare_with") is not None
    charts = {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
    titles = [spec["layout"].get("title", {}).get("text", "") for spec in charts.values()]
    assert any(title.startswith("Change from step 0 (untrained)") for title in titles), titles
    assert "biggest reds off the diagonal" in " ".join(c.value for c in at.caption)
    assert "since step 0" in at.metric[0].proto.delta


def test_a_difference_cell_shows_its_images_and_those_that_left(trained_app):
    data_dir, checkpoint_dir = trained_app
    dataset = load_dataset(data_dir)
    first, last = snapshots.timeline(checkpoint_dir)[0], snapshots.timeline(checkpoint_dir)[-1]
    before, after = (inference.test_set_probabilities(point, dataset) for point in (first, last))
    change = confusion.compare_confusions(dataset.test_labels, before.argmax(axis=1), after.argmax(axis=1))
    true, pred = (int(i) for i in np.unravel_index(np.argmax(np.abs(change.difference)), (10, 10)))
    at = open_compare()
    at.selectbox(key="cm_true").set_value(true).run()
    at.selectbox(key="cm_pred").set_value(pred).run()
    assert not at.exception
    moved = confusion.cell_changes(dataset.test_labels, before, after, true, pred)
    now = confusion.cell_indices(dataset.test_labels, after, true, pred)[:24]
    picks = [b.key for b in at.button if b.key and b.key.startswith("cm_pick_")]
    assert picks == [f"cm_pick_{i}" for i in [*now, *moved.left[:24]]]
    text = " ".join(m.value for m in at.markdown)
    if len(now):
        assert f"**{len(moved.entered):,}** of them are new here since step 0" in text
    if len(moved.left):
        assert "left this cell since step 0" in text
    assert picks  # the cell changed most: images entered it or left it
    at.button(key=picks[0]).click().run()  # "Look inside" works on the difference too
    assert not at.exception and at.get_by_key("cm_view_probs") is not None


def test_the_chosen_cell_stays_while_the_step_changes(trained_app):
    at = open_compare()
    at.selectbox(key="cm_true").set_value(2).run()
    at.selectbox(key="cm_pred").set_value(2).run()
    at.select_slider(key="cm_timeline").set_value(0).run()
    assert not at.exception
    assert (at.selectbox(key="cm_true").value, at.selectbox(key="cm_pred").value) == (2, 2)
