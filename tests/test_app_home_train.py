"""Home, Dataset and Train pages, run headless with AppTest.

A tiny learnable dataset (200 training, 100 test images) stands in for CIFAR-10;
every test gets its own empty checkpoint folder and, where it trains, its own
training job (the server's one job is swapped for it). Pages run the way a
browser reaches them: Home first, then switch_page. Fragment timers never fire
in AppTest, so a test calls at.run() where a browser would tick.
"""
import functools
import hashlib
import subprocess
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cifar_core import checkpoints, data, download
from cifar_core.training import job as training_job
from dashboard.ui import state
from dashboard.ui.navigation import DATASET, HOME as HOME_PAGE, TRAIN
from tiny_runs import run_to_end, tiny_config

HOME = "../dashboard/Home.py"  # relative to this file
TINY_RUN = {"train_steps": 30, "train_batch_size": 32, "train_eval_every": 10, "train_checkpoint_every": 15}


@pytest.fixture(autouse=True)
def folders(monkeypatch, tmp_path, tiny_data_dir):
    """The tiny dataset, an empty checkpoint folder, no training job yet; caches cleared afterwards."""
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(training_job, "_job", None)
    yield tmp_path / "checkpoints"
    st.cache_data.clear()  # caches are shared between AppTest instances
    st.cache_resource.clear()


@pytest.fixture
def no_dataset(monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path / "no-data"))  # the env var is the only place looked
    return tmp_path / "no-data"


def use_job(monkeypatch, job):
    monkeypatch.setattr(training_job, "_job", job)  # what get_job() returns from now on
    return job


@pytest.fixture
def job(monkeypatch, folders):
    """A fresh training job for this test's checkpoint folder; stopped and joined afterwards."""
    job = use_job(monkeypatch, training_job.TrainingJob(folders))
    yield job
    job.stop()
    job.wait(timeout=120)


def open_page(page=None):
    at = AppTest.from_file(HOME, default_timeout=90).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements):
    return " | ".join(str(e.value) for e in elements)


def captions(at):
    return [caption for image in at.image for caption in image.captions]


def train_tiny(job):
    status = run_to_end(job, tiny_config())
    assert status.state == "finished", status.message


# --- Home ------------------------------------------------------------------------------

def test_home_paints_without_importing_tensorflow(tiny_data_dir, folders):
    # A fresh interpreter: this test process has imported TensorFlow long ago.
    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file(sys.argv[1], default_timeout=60).run()\n"
            "assert not at.exception, at.exception\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    home = str(Path(__file__).resolve().parent.parent / "dashboard" / "Home.py")
    result = subprocess.run([sys.executable, "-c", code, home], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_home_draws_the_network_and_says_the_dataset_is_here_but_no_model_yet():
    at = open_page()
    assert len(at.get("graphviz_chart")) == 1
    assert "conv1: 64 filters of 5×5" in at.get("graphviz_chart")[0].proto.spec
    assert "200 training and 100 test images" in texts(at.success)
    assert "not byte-identical to the official release" in texts(at.success)
    assert "No model yet" in texts(at.info)
    assert "idle" in texts(at.markdown)
    assert not at.button  # nothing to download


def test_home_without_dataset_offers_the_download_and_the_offline_route(no_dataset):
    at = open_page()
    assert at.button(key="home_download").label == "Download CIFAR-10"
    assert "not on this computer yet" in texts(at.info)
    assert "cifar-10-python.tar.gz" in texts(at.caption)  # loaders.OFFLINE_HINT


def serve_folder(folder):
    """A static HTTP server on 127.0.0.1 for `folder`; returns (base url, server)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)


def test_home_download_fetches_installs_and_then_shows_the_dataset(no_dataset, tiny_data_dir, tmp_path,
                                                                  monkeypatch, no_proxy):
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tiny_data_dir / data.BATCH_FOLDER, arcname=data.BATCH_FOLDER)
    base, server = serve_folder(served)
    monkeypatch.setattr(download, "OFFICIAL_URL", f"{base}/cifar-10-python.tar.gz")
    monkeypatch.setattr(download, "ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    try:
        at = open_page()
        at.button(key="home_download").click().run()
    finally:
        server.shutdown()
    assert not at.exception and not at.error, texts(at.error)
    assert (no_dataset / data.BATCH_FOLDER / "test_batch").is_file()
    assert "200 training and 100 test images" in texts(at.success)


def test_home_download_failure_is_a_friendly_error(no_dataset, tmp_path, monkeypatch, no_proxy):
    base, server = serve_folder(tmp_path)  # no archive there: 404
    monkeypatch.setattr(download, "OFFICIAL_URL", f"{base}/cifar-10-python.tar.gz")
    try:
        at = open_page()
        at.button(key="home_download").click().run()
    finally:
        server.shutdown()
    assert not at.exception
    assert "The download did not work: could not download" in texts(at.error)
    assert at.button(key="home_download")  # try again


# --- Dataset -----------------------------------------------------------------------------

def test_dataset_page_shows_a_page_of_images_with_their_true_classes():
    at = open_page(DATASET)
    for key in ("dataset_split", "dataset_class", "dataset_smooth", "dataset_page", "dataset_previous",
                "dataset_next"):
        assert at.get_by_key(key) is not None, key
    names = captions(at)
    assert len(names) == 48 and set(names) <= set(data.load_dataset().class_names)
    assert "Images 1–48 of 200" in texts(at.caption)


def test_dataset_filter_by_class_shows_only_that_class():
    at = open_page(DATASET)
    at.selectbox(key="dataset_class").set_value("cat").run()
    assert captions(at) == ["cat"] * 20  # 20 cats in the tiny training set
    at.radio(key="dataset_split").set_value("test").run()
    assert captions(at) == ["cat"] * 10


def test_dataset_pages_through_and_a_new_filter_starts_at_page_one():
    at = open_page(DATASET)
    at.button(key="dataset_next").click().run()
    assert at.number_input(key="dataset_page").value == 2 and "Images 49–96 of 200" in texts(at.caption)
    at.number_input(key="dataset_page").set_value(5).run()
    assert len(captions(at)) == 200 - 4 * 48 and at.button(key="dataset_next").disabled
    at.button(key="dataset_previous").click().run()
    assert at.number_input(key="dataset_page").value == 4
    at.selectbox(key="dataset_class").set_value("frog").run()
    assert at.number_input(key="dataset_page").value == 1 and captions(at) == ["frog"] * 20


def test_smooth_and_raw_images_differ():
    at = open_page(DATASET)
    raw = at.image[0].value
    at.toggle(key="dataset_smooth").set_value(True).run()
    assert len(at.image[0].value) == len(raw) and at.image[0].value != raw


@pytest.mark.parametrize("page", [DATASET, TRAIN])
def test_without_dataset_the_page_says_where_to_get_it(no_dataset, page):
    at = open_page(page)
    assert "not on this computer yet" in texts(at.info)
    assert not at.error


# --- Train -------------------------------------------------------------------------------

def test_train_page_offers_presets_settings_and_run_controls(job):
    at = open_page(TRAIN)
    for key in ("train_preset", *TINY_RUN, "train_learning_rate", "train_start", "train_pause", "train_resume",
                "train_stop", "train_fresh"):
        assert at.get_by_key(key) is not None, key
    assert at.button(key="train_pause").disabled and at.button(key="train_stop").disabled
    assert "Nothing trained yet" in texts(at.info)
    assert "No run yet." in texts(at.markdown)


def test_choosing_a_preset_fills_in_its_settings(job):
    at = open_page(TRAIN)
    at.radio(key="train_preset").set_value("notebook").run()
    assert at.number_input(key="train_steps").value == 100_000
    assert at.number_input(key="train_batch_size").value == 64
    assert at.number_input(key="train_learning_rate").value == pytest.approx(1e-4)
    assert "Exactly the notebook" in texts(at.caption)


def test_choices_survive_a_visit_to_another_page(job):
    at = open_page(TRAIN)
    at.radio(key="train_preset").set_value("quick").run()
    at.number_input(key="train_steps").set_value(30).run()
    at.switch_page(DATASET).run()
    at.switch_page(TRAIN).run()
    assert at.radio(key="train_preset").value == "quick" and at.number_input(key="train_steps").value == 30


def test_start_trains_in_the_background_and_another_browser_sees_the_run_but_cannot_start_another(job):
    at = open_page(TRAIN)
    for key, value in TINY_RUN.items():
        at.number_input(key=key).set_value(value)
    at.button(key="train_start").click().run()
    assert "Training started" in texts(at.success)
    at.button(key="train_pause").click().run()  # keeps the run alive while we press Start again
    assert job.status().state == "paused" and not at.button(key="train_resume").disabled
    assert at.toggle(key="train_hold").value is False  # holding the charts is offered while a run is on

    other_browser = open_page(TRAIN)
    assert "Paused " in texts(other_browser.markdown) and not other_browser.button(key="train_resume").disabled
    assert "Paused. Paused" not in texts(other_browser.markdown)
    metrics = {m.label: m.value for m in other_browser.metric}
    assert metrics["Images per second"] == metrics["Time left"] == "–"  # paused: no speed, no time left
    other_browser.button(key="train_start").click().run()  # Start while paused offers to go on: it resumes
    assert job.status().state in ("running", "finished") and "goes on now" in texts(other_browser.success)
    assert job.wait(timeout=120)
    at.run()  # what the fragment's next tick does
    assert not at.exception and not at.error
    assert "Finished at step 30; checkpoint saved." in texts(at.markdown) and not at.toggle  # nothing to hold
    assert list(at.dataframe[0].value["step"]) == [30, 15]  # newest first
    charts = at.get("plotly_chart")
    assert len(charts) == 2 and "test images" in charts[0].proto.spec and "loss" in charts[1].proto.spec

    at.switch_page(HOME_PAGE).run()
    assert [m.value for m in at.metric][0] == "30" and "finished: step 30 of 30" in texts(at.markdown)


def test_start_fresh_asks_first_and_sets_old_checkpoints_aside(job, folders):
    train_tiny(job)
    at = open_page(TRAIN)
    at.button(key="train_fresh").click().run()
    assert "current run is kept: it is set aside" in texts(at.warning)
    at.button(key="train_fresh_cancel").click().run()
    assert not at.warning and len(checkpoints.list_checkpoints(folders)) == 2

    at.button(key="train_fresh").click().run()
    at.button(key="train_fresh_yes").click().run()
    at.button(key="train_stop").click().run()  # stop at once: only the setting aside matters here
    assert job.wait(timeout=120)
    # the new run, stopped before its first step, is kept to go on with; the old one is set aside whole
    assert [c.step for c in checkpoints.list_checkpoints(folders)] == [0]
    (aside,) = folders.glob("previous-*")
    assert sorted(p.name for p in aside.iterdir()) == ["ckpt-00000015", "ckpt-00000030", "snapshots"]


def test_with_many_browsers_watching_each_redraws_less_often(job, monkeypatch):
    monkeypatch.setattr(state, "_watchers", {})  # no browsers left over from other tests
    job.start(tiny_config(steps=100_000, eval_every=1000, checkpoint_every=100_000))
    while job.status().step == 0:
        assert job.status().state == "running", job.status().message
        threading.Event().wait(0.1)
    job.pause()  # still a run: its page keeps redrawing
    first, _second = open_page(TRAIN), open_page(TRAIN)
    assert "browsers are watching" not in texts(first.caption)  # one or two: every second
    open_page(TRAIN)
    first.run()
    # AppTest's browsers are all on this computer, whose drawing shares the training's cores: one redraw a
    # second from the three together, the charts every fifth
    assert "3 browsers are watching this run: each one redraws every 3 seconds (the charts every 15)" \
        in texts(first.caption)


def test_browsers_on_other_computers_slow_the_redraws_less_than_tabs_on_this_one():
    # a class: 30 students' laptops and the teacher's projector; only the script runs count
    assert state.redraw_seconds(31, here=1) == 20.7
    assert state.redraw_seconds(3, here=0) == 2.0
    # three tabs on the server's own computer: their drawing counts too
    assert state.redraw_seconds(3, here=3) == 3.0
    assert state.redraw_seconds(2, here=2) == 1.0  # one or two browsers: every second


def test_page_runs_leave_keras_state_alone(job):
    # Streamlit resets Keras after every script run (a full garbage collection, ~0.2 s with TensorFlow
    # loaded, on every click and every Train tick); the dashboard opts out. A reset restarts layer names.
    import keras
    at = open_page(TRAIN)  # imports Keras for the training job
    first = keras.layers.Dense(1).name
    at.run()
    assert keras.layers.Dense(1).name != first


def test_other_settings_while_a_run_exists_ask_to_continue_it_or_start_a_new_one(job, folders):
    train_tiny(job)  # a finished quick run of 30 steps
    at = open_page(TRAIN)
    at.radio(key="train_preset").set_value("notebook").run()
    at.button(key="train_start").click().run()
    assert "other settings (quick preset" in texts(at.warning) and job.status().state == "finished"  # asked first
    at.button(key="train_continue").click().run()  # its own settings: a finished run trains 30 steps more
    assert job.wait(timeout=120) and job.status().step == 60 and job.status().config.preset == "quick"

    at.run()
    assert all("extended by 30 steps" in chart.proto.spec for chart in at.get("plotly_chart"))  # marked at 30
    at.radio(key="train_preset").set_value("notebook").run()
    at.button(key="train_start").click().run()
    at.button(key="train_new").click().run()
    at.button(key="train_stop").click().run()  # stop at once: only which run trains matters here
    assert job.wait(timeout=120)
    assert job.status().config.preset == "notebook" and job.status().start_step == 0
    (aside,) = folders.glob("previous-*")
    assert [p.name for p in sorted(aside.glob("ckpt-*"))][-1] == "ckpt-00000060"  # the quick run, kept


def test_a_failed_run_shows_its_message(monkeypatch, folders, tmp_path):
    failing = use_job(monkeypatch, training_job.TrainingJob(folders, data_dir=tmp_path / "gone"))
    at = open_page(TRAIN)
    at.button(key="train_start").click().run()
    assert failing.wait(timeout=120)
    at.run()
    assert not at.exception
    assert "Training failed" in texts(at.error)


def test_when_the_dataset_has_gone_the_failed_run_still_says_why(monkeypatch, folders, tmp_path):
    gone = tmp_path / "gone"
    failing = use_job(monkeypatch, training_job.TrainingJob(folders, data_dir=gone))
    failing.start(tiny_config())
    assert failing.wait(timeout=120) and failing.status().state == "failed"
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(gone))  # the pages cannot find it either
    at = open_page(TRAIN)
    assert not at.exception
    assert "Training failed" in texts(at.error) and str(gone) in texts(at.error)
    assert "not on this computer yet" in texts(at.info)
