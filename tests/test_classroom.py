"""A classroom server: the teacher controls the one run, students watch, and no run is ever lost.

AppTest plays the browsers (a student is a browser whose peer address is not this computer's: the test
sets what the server would see); the training job is real, on the tiny dataset.
"""
import hashlib

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cifar_core import checkpoints, runs
from cifar_core.training import divergence
from cifar_core.training import job as training_job
from dashboard.ui import roles
from dashboard.ui.navigation import TRAIN
from tiny_runs import run_to_end, tiny_config

HOME = "../dashboard/Home.py"  # relative to this file
LONG_RUN = {"steps": 100_000, "checkpoint_every": 100_000, "eval_every": 1000}


@pytest.fixture(autouse=True)
def classroom(monkeypatch, tmp_path, tiny_data_dir):
    """The tiny dataset, an empty checkpoint folder, this test's own job, nobody unlocked, no passcode."""
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    for variable in ("CIFAR10_TEACHER_PASSCODE", "CIFAR10_LOCAL_IS_TEACHER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(roles, "_unlocked", set())
    monkeypatch.setattr(roles, "_failures", {})
    job = training_job.TrainingJob(tmp_path / "checkpoints", tiny_data_dir)
    monkeypatch.setattr(training_job, "_job", job)
    yield job
    job.stop()
    job.wait(120)
    st.cache_data.clear()
    st.cache_resource.clear()


def as_student(monkeypatch, address="192.168.1.23"):
    monkeypatch.setattr(roles, "peer_address", lambda: address)


def as_teacher(monkeypatch):
    monkeypatch.setattr(roles, "peer_address", lambda: None)


def open_train():
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(TRAIN).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements):
    return " | ".join(str(e.value) for e in elements)


CONTROLS = ("train_start", "train_pause", "train_resume", "train_stop", "train_fresh", "train_preset", "train_steps")


def start_long_run(job):
    job.start(tiny_config(**LONG_RUN), by="teacher")
    while job.status().step < 2:
        assert job.status().state == "running", job.status().message
        job.wait(0.05)


def test_a_student_sees_the_live_run_but_no_control(classroom, monkeypatch):
    start_long_run(classroom)
    as_student(monkeypatch)
    at = open_train()
    for key in CONTROLS:
        with pytest.raises(KeyError):
            at.get_by_key(key)
    assert "The teacher controls this run" in texts(at.info)
    assert "You are watching" in texts(at.sidebar.markdown)
    assert "Started" in texts(at.caption) and "by the teacher" in texts(at.caption)
    assert classroom.status().state == "running"


def test_the_teachers_browser_shows_every_control_and_says_so(classroom):
    at = open_train()
    for key in CONTROLS:
        assert at.get_by_key(key) is not None, key
    assert "You are the teacher" in texts(at.sidebar.markdown)


def test_a_students_forged_clicks_change_nothing(classroom, monkeypatch):
    start_long_run(classroom)
    at = open_train()
    for key in ("train_pause", "train_stop", "train_fresh_yes", "train_start"):
        as_teacher(monkeypatch)  # drawn for the teacher: the button exists in this page...
        at.run()
        if key == "train_fresh_yes":
            at.button(key="train_fresh").click().run()  # (asks first: nothing happens yet)
        as_student(monkeypatch)  # ...but the click now comes from a student's connection
        at.button(key=key).click().run()
        assert not at.exception
        assert classroom.status().state == "running", key
        assert "Only the teacher can" in texts(at.warning), key
    assert not list(classroom.checkpoint_dir.glob(runs.ASIDE_PREFIX + "*"))  # nothing set aside


def test_the_passcode_unlocks_control_and_a_wrong_one_does_not(classroom, monkeypatch):
    monkeypatch.setenv("CIFAR10_TEACHER_PASSCODE", "owl-2026")
    as_student(monkeypatch)
    at = open_train()
    at.text_input(key="teacher_passcode").input("owl-2025")
    at.button(key="teacher_unlock_submit").click().run()
    assert "not the teacher passcode" in texts(at.error)
    with pytest.raises(KeyError):
        at.get_by_key("train_start")
    at.text_input(key="teacher_passcode").input("owl-2026")
    at.button(key="teacher_unlock_submit").click().run()
    assert at.get_by_key("train_start") is not None
    assert "You are the teacher" in texts(at.sidebar.markdown)


def test_wrong_passcodes_slow_down_further_tries():
    assert [roles._wait_after(n) for n in range(7)] == [0, 0, 0, 2, 4, 8, 16]
    assert roles._wait_after(50) == roles.LONGEST_WAIT


def test_after_three_wrong_tries_the_next_one_must_wait(classroom, monkeypatch):
    monkeypatch.setenv("CIFAR10_TEACHER_PASSCODE", "owl-2026")
    as_student(monkeypatch)
    at = open_train()
    for _ in range(roles.FREE_TRIES):
        at.text_input(key="teacher_passcode").input("guess")
        at.button(key="teacher_unlock_submit").click().run()
    at.text_input(key="teacher_passcode").input("owl-2026")  # even the right one, too soon
    at.button(key="teacher_unlock_submit").click().run()
    assert "Too many wrong tries: wait" in texts(at.error)
    with pytest.raises(KeyError):
        at.get_by_key("train_start")


def test_behind_a_proxy_the_local_browser_can_be_made_a_student(classroom, monkeypatch):
    monkeypatch.setenv("CIFAR10_LOCAL_IS_TEACHER", "0")
    at = open_train()
    with pytest.raises(KeyError):
        at.get_by_key("train_start")


def tree_digest(folder):
    """{relative path: sha256} of every file below `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_start_fresh_then_restore_brings_the_run_back_byte_for_byte(classroom):
    first = run_to_end(classroom, tiny_config())
    before = {name: digest for name, digest in tree_digest(classroom.checkpoint_dir).items()
              if name.startswith("ckpt-")}
    run_to_end(classroom, tiny_config(steps=15), fresh=True)
    (aside,) = runs.set_aside_runs(classroom.checkpoint_dir)
    assert (aside.step, aside.preset, aside.best_accuracy) == (30, "quick", max(first.test_accuracy[-2:]))
    message = classroom.restore_run(aside.name, by="teacher")
    after = {name: digest for name, digest in tree_digest(classroom.checkpoint_dir).items()
             if name.startswith("ckpt-")}
    assert after == before  # the original checkpoints, history and answers, byte for byte
    (kept,) = runs.set_aside_runs(classroom.checkpoint_dir)  # the fresh run, set aside in turn
    assert kept.step == 15 and kept.name in message
    assert checkpoints.latest_checkpoint(classroom.checkpoint_dir).test_accuracy == first.test_accuracy[-1]


def test_deleting_a_set_aside_run_asks_twice_and_is_for_the_teacher_only(classroom, monkeypatch):
    run_to_end(classroom, tiny_config(steps=15))
    run_to_end(classroom, tiny_config(steps=15), fresh=True)
    (aside,) = runs.set_aside_runs(classroom.checkpoint_dir)
    at = open_train()
    at.button(key=f"train_delete_{aside.name}").click().run()
    assert "for good" in texts(at.warning) and runs.set_aside_runs(classroom.checkpoint_dir)  # asked, kept
    as_student(monkeypatch)
    at.button(key=f"train_delete_yes_{aside.name}").click().run()
    assert runs.set_aside_runs(classroom.checkpoint_dir)  # a student's confirmation deletes nothing
    as_teacher(monkeypatch)
    at.run()
    at.button(key=f"train_delete_{aside.name}").click().run()
    at.button(key=f"train_delete_yes_{aside.name}").click().run()
    assert runs.set_aside_runs(classroom.checkpoint_dir) == []


def test_a_set_aside_run_is_offered_read_only_on_the_analysis_pages(classroom):
    from dashboard.ui.navigation import FILTERS
    run_to_end(classroom, tiny_config(steps=15))
    run_to_end(classroom, tiny_config(steps=20), fresh=True)
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(FILTERS).run()
    assert at.select_slider(key="filters_timeline").options[-1].startswith("step 20 ")  # the current run's
    options = at.selectbox(key="filters_run").options
    assert len(options) == 2 and options[0] == "the current run" and "set-aside run previous-" in options[1]
    (aside,) = runs.set_aside_runs(classroom.checkpoint_dir)
    at.selectbox(key="filters_run").set_value(aside.name).run()  # its own snapshots: steps 0 and 15
    assert not at.exception and at.selectbox(key="filters_run").index == 1
    assert [o.split(" · ")[0] for o in at.select_slider(key="filters_timeline").options] == [
        "step 0 (untrained)", "step 15"]


def test_an_unknown_set_aside_run_cannot_be_restored_or_deleted(classroom):
    with pytest.raises(runs.RunError, match="no set-aside run called '../elsewhere'"):
        classroom.restore_run("../elsewhere")
    with pytest.raises(runs.RunError):
        classroom.delete_run("previous-none")


def test_stop_start_keeps_the_learning_rate_schedule_and_the_target(classroom, tmp_path, tiny_data_dir):
    config = tiny_config(steps=60, checkpoint_every=20)
    uninterrupted = training_job.TrainingJob(tmp_path / "uninterrupted", tiny_data_dir)
    run_to_end(uninterrupted, config)
    classroom.start(config)
    while classroom.status().step < 13:
        classroom.wait(0.02)
    classroom.stop()
    classroom.wait(60)
    assert classroom.status().target_step == 60
    resumed = run_to_end(classroom, config)  # Start again, same settings: the same run goes on
    assert (resumed.schedule_start, resumed.target_step, resumed.step) == (0, 60, 60)
    expected, got = uninterrupted.history(), classroom.history()
    assert got["steps"] == expected["steps"]
    assert got["learning_rate"] == pytest.approx(expected["learning_rate"])  # no second warm-up


def test_a_diverging_run_stops_as_failed_and_says_to_lower_the_learning_rate(classroom, monkeypatch):
    from cifar_core.training import step
    real = step.TrainingStep.train_batch

    def blows_up(self, start_step):  # a real step, whose loss then turns into NaN as a diverged run's does
        accuracy, loss = real(self, start_step)
        return accuracy, float("nan") if self.step >= 5 else loss

    monkeypatch.setattr(step.TrainingStep, "train_batch", blows_up)
    status = run_to_end(classroom, tiny_config())
    assert status.state == "failed" and status.step == 5
    assert "diverged at step 5" in status.message and "lower one" in status.message


def test_accuracy_back_at_chance_after_learning_counts_as_diverged():
    watch = divergence.DivergenceWatch(tiny_config())
    assert not any(watch.back_at_chance(a) for a in (0.1, 0.12, 0.1, 0.1, 0.1, 0.1))  # never learned: not diverged
    assert not watch.back_at_chance(0.6)
    assert [watch.back_at_chance(0.1) for _ in range(divergence.AT_CHANCE_CHECKS)] == [False] * 4 + [True]


def test_a_damaged_newer_checkpoint_is_named_when_the_run_resumes_from_an_older_one(classroom):
    config = tiny_config(steps=60, checkpoint_every=20)
    run_to_end(classroom, config)  # checkpoints at steps 20, 40 and 60
    newest = classroom.checkpoint_dir / "ckpt-00000060"
    (newest / checkpoints.META).write_text("[]")  # valid JSON of the wrong shape
    status = run_to_end(classroom, config)
    (warning,) = status.warnings  # said, for the whole run
    assert warning.startswith("ckpt-00000060 is damaged (") and warning.endswith("resuming from ckpt-00000040.")
    assert (status.start_step, status.step) == (40, 60)
    valid, damaged = checkpoints.scan_checkpoints(classroom.checkpoint_dir)
    assert valid[-1].step == 60  # saved anew...
    assert len(damaged) == 1 and (damaged[0].path / checkpoints.META).read_text() == "[]"  # ...the damaged one kept
