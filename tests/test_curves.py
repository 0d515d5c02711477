"""The Train page's learning curves: figures from a hand-made history, and the page drawing them for a
trained checkpoint folder (the session's 30-step run: snapshots at steps 0 and 30)."""
import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cifar_core.training import job as training_job
from dashboard.figures.curves import accuracy_figure, loss_figure
from dashboard.ui import timeline
from dashboard.ui.navigation import CONFUSION, TRAIN

HOME = "../dashboard/Home.py"  # relative to this file
HISTORY = {  # a run of 30 steps resumed at 20, then extended at 30 to 40
    "steps": [10, 20, 30, 40], "batch_accuracy": [0.2, 0.3, 0.45, 0.5], "loss": [2.2, 2.0, 1.7, 1.5],
    "learning_rate": [1e-3] * 4, "test_steps": [0, 20, 40], "test_accuracy": [0.1, 0.25, 0.35],
    "test_loss": [2.3, 2.1, 1.9], "session_steps": [0, 20, 30],
    "session_kinds": ["new run (quick)", "resumed", "extended by 10 steps"]}
KEPT = [(0, 0.1), (40, 0.35)]  # snapshots: (step, test accuracy)


def trace(fig, name):
    (found,) = [t for t in fig.data if t.name == name]
    return found


@pytest.mark.parametrize("figure", [accuracy_figure, loss_figure])
def test_both_charts_show_training_batches_beside_test_images(figure):
    fig = figure(HISTORY)
    assert list(trace(fig, "training batches").x) == [10, 20, 30, 40]
    assert list(trace(fig, "test images").x) == [0, 20, 40]


def test_the_loss_chart_has_the_test_loss_at_its_test_checks():
    test = trace(loss_figure(HISTORY), "test images")
    assert list(zip(test.x, test.y)) == [(0, 2.3), (20, 2.1), (40, 1.9)]


def test_an_older_history_without_test_loss_or_sessions_still_draws():
    older = {key: HISTORY[key] for key in ("steps", "batch_accuracy", "loss", "test_steps", "test_accuracy")}
    fig = loss_figure(older)
    assert list(trace(fig, "test images").y) == [] and not fig.layout.shapes


@pytest.mark.parametrize("figure", [accuracy_figure, loss_figure])
def test_a_line_marks_where_a_run_was_resumed_or_extended_but_not_the_first_start(figure):
    fig = figure(HISTORY)
    assert [shape.x0 for shape in fig.layout.shapes] == [20, 30]
    labels = [note.text for note in fig.layout.annotations]
    assert labels == ["resumed", "extended by 10 steps"]


@pytest.mark.parametrize("figure", [accuracy_figure, loss_figure])
def test_snapshot_diamonds_carry_their_steps_for_a_click(figure):
    diamonds = trace(figure(HISTORY, KEPT), "snapshots")
    assert diamonds.marker.symbol == "diamond"
    assert list(diamonds.x) == [0, 40] and [list(c) for c in diamonds.customdata] == [[0], [40]]
    assert diamonds.hovertext[1] == "snapshot at step 40 · 35%: click to open it"


def test_snapshot_diamonds_sit_along_the_bottom_off_the_curves_points():
    # on the test accuracy a diamond covered the test point of its step, and a click took the point
    figure = accuracy_figure(HISTORY, [(0, 0.1), (40, None)])
    diamonds = trace(figure, "snapshots")
    assert diamonds.yaxis == "y2" and list(diamonds.y) == [0.03, 0.03] and list(figure.layout.yaxis2.range) == [0, 1]
    assert diamonds.hovertext[0] == "snapshot at step 0 · 10%: click to open it"
    assert diamonds.hovertext[1] == "snapshot at step 40: click to open it"


def test_no_snapshots_no_diamonds():
    assert [t.name for t in accuracy_figure(HISTORY).data] == ["training batches", "test images"]


@pytest.mark.parametrize("figure", [accuracy_figure, loss_figure])
def test_text_is_readable_on_a_projector(figure):
    layout = figure(HISTORY, KEPT).layout
    for axis in (layout.xaxis, layout.yaxis):
        assert axis.tickfont.size >= 14 and axis.title.font.size >= 14 and axis.tickfont.color == "#222222"
    assert layout.legend.font.size >= 14 and layout.font.size >= 14
    assert all(note.font.size >= 14 for note in layout.annotations)
    assert layout.dragmode == "zoom"  # a drag still zooms although clicks are on


# --- the Train page ----------------------------------------------------------------------

@pytest.fixture
def trained(monkeypatch, tiny_data_dir, trained_dir):
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(trained_dir))
    monkeypatch.setattr(training_job, "_job", None)  # a fresh idle job: the charts come from the checkpoint
    yield trained_dir
    if training_job._job is not None:
        training_job._job.shutdown()
    st.cache_data.clear()  # caches are shared between AppTest instances
    st.cache_resource.clear()


def open_train():
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(TRAIN).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_train_page_draws_both_losses_and_the_snapshots_of_a_trained_folder(trained):
    at = open_train()
    accuracy, loss = ({t["name"]: t for t in json.loads(chart.proto.spec)["data"]}
                      for chart in at.get("plotly_chart"))
    assert set(accuracy) == set(loss) == {"training batches", "test images", "snapshots"}
    # the 30-step run's test checks (every 10 steps, the step-0 snapshot, the checkpoints), a loss each
    assert loss["test images"]["x"] == [0, 10, 15, 20, 30]
    assert len(loss["test images"]["y"]) == 5
    assert loss["snapshots"]["customdata"] == [[0], [30]]  # the diamonds at the snapshots of steps 0 and 30
    assert "Diamonds mark snapshots kept for the timeline" in " ".join(m.value for m in at.markdown)
    assert at.segmented_control(key="train_open_on").value == "pages/filters.py"


def test_a_clicked_snapshot_opens_the_chosen_page_at_its_step(trained):
    at = open_train()
    at.segmented_control(key="train_open_on").set_value(CONFUSION).run()
    at.session_state["train_open_step"] = 30  # a click on the step-30 diamond: AppTest cannot click
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Confusion matrix" and at.session_state[timeline.STEP] == 30
