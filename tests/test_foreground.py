"""Pages first: work in the dashboard's process that can wait (a training run ...) waits between two pieces while
a page is drawn (cifar_core/foreground.py), within limits, so it is slowed and never stalled."""
import os
import threading
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cifar_core import foreground
from cifar_core.config import ModelConfig
from cifar_core.insights import embedding
from cifar_core.model import build_model
from tiny_runs import run_to_end, tiny_config


def test_with_no_page_being_drawn_the_training_never_waits(monkeypatch):
    monkeypatch.setattr(foreground, "_drawn_at", float("-inf"))  # no page run just ended (in an earlier test)
    assert foreground.StepAside(share=0.25)() == 0.0


def test_the_next_step_waits_until_the_page_is_drawn(monkeypatch):
    monkeypatch.setattr(foreground, "LONGEST_WAIT", 60.0)  # only the page's end lets it go on
    page_started, page_done, order = threading.Event(), threading.Event(), []

    def page():
        with foreground.drawing():
            page_started.set()
            page_done.wait(60)
            order.append("page drawn")

    drawer = threading.Thread(target=page)
    drawer.start()
    page_started.wait(60)
    trainer = threading.Thread(target=lambda: (foreground.StepAside(share=0.25)(), order.append("next step")))
    trainer.start()
    page_done.set()
    drawer.join(60), trainer.join(60)
    assert order == ["page drawn", "next step"]


def test_a_page_that_never_ends_only_slows_the_training_within_its_share(monkeypatch):
    monkeypatch.setattr(foreground, "LONGEST_WAIT", 0.05)
    step_aside = foreground.StepAside(share=0.1, burst=0.2)
    waited, steps, start = 0.0, 0, time.monotonic()
    with foreground.drawing():
        while time.monotonic() - start < 1.5:
            waited += step_aside()
            time.sleep(0.01)  # a training step
            steps += 1
    elapsed = time.monotonic() - start
    assert 0.2 <= waited <= 0.2 + 0.1 * elapsed + 0.02  # its burst, then a tenth of its time
    assert steps > 50  # it trained on meanwhile


def test_pages_drawn_one_after_another_each_have_the_cpu_to_themselves(monkeypatch):
    monkeypatch.setattr(foreground, "AFTER_A_PAGE", 0.2)
    step_aside = foreground.StepAside(share=0.25)
    for _ in range(3):  # three cells clicked in a row: each page run is followed by a wait, none skipped
        with foreground.drawing():
            pass
        assert step_aside() > 0.1


def test_a_run_trains_to_its_end_while_pages_are_drawn_all_the_time(job, monkeypatch):
    monkeypatch.setattr(foreground, "LONGEST_WAIT", 0.01)
    with foreground.drawing():
        status = run_to_end(job, tiny_config(steps=12))
    assert status.state == "finished" and status.step == 12


def test_just_after_a_page_run_the_training_still_waits_a_moment_for_the_browser(monkeypatch):
    monkeypatch.setattr(foreground, "AFTER_A_PAGE", 0.3)
    with foreground.drawing():
        pass
    waited = foreground.StepAside(share=0.25)()
    assert 0.1 < waited <= 0.5  # the rest of the 0.3 s after the page run, not a LONGEST_WAIT more
    monkeypatch.setattr(foreground, "AFTER_A_PAGE", 0.0)
    assert foreground.StepAside(share=0.25)() == 0.0


def test_a_checkpoints_pass_over_the_test_set_lets_a_page_go_first_between_its_batches(monkeypatch):
    monkeypatch.setattr(foreground, "AFTER_A_PAGE", 0.0)
    monkeypatch.setattr(foreground, "LONGEST_WAIT", 0.2)
    network = embedding.with_fc2(build_model(ModelConfig()))
    images = np.zeros((40, 32, 32, 3), np.uint8)
    step_aside, waits = foreground.StepAside(share=0.25), []
    with foreground.drawing():  # a page is being drawn all through the pass
        embedding.test_pass(network, images, batch_size=10, between_batches=lambda: waits.append(step_aside()))
    assert len(waits) == 3 and waits[0] >= 0.15  # between each two of its 4 batches; the first waited out its limit


def test_a_part_of_a_page_that_reruns_alone_on_a_click_counts_as_a_page_being_drawn():
    def page():
        import streamlit as st

        from cifar_core import foreground
        from dashboard.ui.page_fragment import page_fragment

        @page_fragment
        def gallery():  # a fragment's own rerun (a click in it) does not go through Home.py's drawing()
            st.markdown(f"pages being drawn: {foreground._drawing}")

        gallery()

    app = AppTest.from_function(page).run()
    assert [m.value for m in app.markdown] == ["pages being drawn: 1"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="thread priorities are read from Linux's /proc")
def test_the_training_computes_at_a_lower_cpu_priority_than_the_servers_own_threads(job):
    status = run_to_end(job, tiny_config(steps=3))
    assert status.state == "finished"
    python_threads = {thread.native_id for thread in threading.enumerate()}
    native = [int(tid) for tid in os.listdir("/proc/self/task") if int(tid) not in python_threads]
    priority = {tid: value for tid in native if (value := _priority(tid)) is not None}
    server = os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id)
    assert priority and all(value >= foreground.BACKGROUND_NICENESS for value in priority.values()), priority
    assert server < foreground.BACKGROUND_NICENESS  # a page's own Python threads keep the cores first


def _priority(thread_id):
    """A thread's niceness, or None when it ended since /proc listed it (TensorFlow's pools come and go)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except ProcessLookupError:
        return None
