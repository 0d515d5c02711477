"""What every page shares: cached data and models, empty states, small drawing helpers.

Pages call these and cifar_core, and draw. Folders come from the environment so
tests (and labs) can point the dashboard elsewhere:
CIFAR10_DATA_DIR (the dataset) and CIFAR10_CHECKPOINT_DIR (default checkpoints/).
"""
import gc
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # cifar_core, when run as `streamlit run`
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cifar_core import checkpoints, data  # noqa: E402  (no TensorFlow: keeps the first paint fast)

OFFLINE_HINT = ("No internet? Copy `cifar-10-python.tar.gz` here and run "
                "`python -m cifar_core download --from cifar-10-python.tar.gz`.")


def checkpoint_dir():
    return Path(os.environ.get("CIFAR10_CHECKPOINT_DIR", checkpoints.DEFAULT_DIR))


def page_header(title, intro):
    """Every page opens the same way: a title and what the learner will see."""
    keep_keras_state()
    st.set_page_config(page_title=f"{title} · CIFAR-10 CNN", layout="wide")
    st.title(title)
    st.markdown(intro)


def _leave_keras_alone(*args, **kwargs):
    """Stands in for keras.backend.clear_session in this server (see keep_keras_state)."""


def keep_keras_state():
    """Stop Streamlit from resetting Keras after every script run.

    Once Keras is imported, Streamlit 1.67 calls keras.backend.clear_session() at the end of every run (to
    free a notebook-style app's models). Here that is a full garbage collection of TensorFlow's objects,
    ~0.2 s holding the interpreter, after every click and every tick of the Train page (the training
    thread waits for it too), and it clears TensorFlow's kernel cache under the training thread. This
    server keeps its models on purpose (the training run, one model per checkpoint in the cache), and
    nothing in it needs clear_session. Called by every page and after every TensorFlow import here.
    """
    backend = getattr(sys.modules.get("keras"), "backend", None)  # None until Keras is (fully) imported
    if backend is not None and backend.clear_session is not _leave_keras_alone:
        backend.clear_session = _leave_keras_alone
        # TensorFlow's and Keras' ~400,000 import-time objects stay for the server's life: keep them out
        # of Python's own full collections too (each scanned them all: ~0.2 s).
        gc.freeze()


@st.cache_resource(show_spinner="Loading CIFAR-10…")
def _load_dataset(folder):
    return data.load_dataset(folder)


def dataset_or_none():
    """The dataset (held once per server process, read-only), or None when it is not there yet."""
    folder = data.find_dataset()
    return _load_dataset(str(folder)) if folder is not None else None


def require_dataset():
    """The dataset, or a one-sentence explanation with the fix, and the page stops."""
    try:
        dataset = dataset_or_none()
    except data.DataError as e:  # a folder is there but broken: say what is wrong, no traceback
        st.error(f"The CIFAR-10 dataset cannot be loaded: {e}")
        st.stop()
    if dataset is None:
        st.info("The CIFAR-10 dataset is not on this computer yet: get it on the Home page.")
        st.page_link("Home.py", label="Go to Home to download it", icon=":material/home:")
        st.stop()
    return dataset


def require_checkpoint(key):
    """A checkpoint picker (newest first), or guidance to train first, and the page stops."""
    infos = list(reversed(checkpoints.list_checkpoints(checkpoint_dir())))
    if not infos:
        st.info("There is no trained model yet: train one for a few minutes on the Train page.")
        st.page_link("pages/2_Train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    return st.selectbox("Checkpoint", infos, key=key, format_func=describe_checkpoint,
                        help="Older checkpoints show the network earlier in training.")


def describe_checkpoint(info):
    accuracy = f", test accuracy {info.test_accuracy:.1%}" if info.test_accuracy is not None else ""
    return f"step {info.step:,}{accuracy} ({info.preset})"


@st.cache_resource(show_spinner="Loading the trained network…", max_entries=4)
def _inference_model(path, saved_at):  # keyed by path and save time, never by an array
    from cifar_core import analysis
    keep_keras_state()
    return analysis.load_inference_model(path)


def inference_model(info):
    """The checkpoint's own model (never the one being trained); a damaged checkpoint stops the page."""
    try:
        return _inference_model(str(info.path), info.saved_at)
    except checkpoints.CheckpointError as e:
        st.error(str(e))
        st.stop()


@st.cache_data(show_spinner="Getting the network's answers for the test images…", max_entries=8)
def _test_probabilities(path, saved_at):
    dataset = dataset_or_none()
    saved = checkpoints.read_test_probabilities(path)  # training saves them with each checkpoint
    if saved is not None and len(saved) == len(dataset.test_labels):
        return saved
    from cifar_core import analysis  # an older checkpoint, or another dataset: classify the test set here
    return analysis.predict_probabilities(_inference_model(path, saved_at).model, dataset.test_images)


def test_probabilities(info):
    """(N, 10) float32 class probabilities of the test set for one checkpoint; a damaged checkpoint stops
    the page."""
    try:
        return _test_probabilities(str(info.path), info.saved_at)
    except checkpoints.CheckpointError as e:
        st.error(str(e))
        st.stop()


def training_job():
    """The server's one training job, shared by every browser."""
    from cifar_core import trainer
    job = trainer.get_job(checkpoint_dir())  # imports Keras
    keep_keras_state()
    return job


# --- small helpers for Home and Train (added; the helpers above are unchanged) ---------

def keep_choice(key, default):
    """Seed widget `key` so a learner's choice survives a visit to another page.

    Streamlit forgets a widget's value when a run does not draw it (another page); a
    plain copy under another name is kept, and seeds the widget when the page comes back.
    Call before drawing the widget, and draw it without `value=`.
    """
    copy = f"_kept_{key}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(copy, default)
    st.session_state[copy] = st.session_state[key]


def set_choice(key, value):
    """Change a kept widget's value (from a callback, or before the widget is drawn)."""
    st.session_state[key] = st.session_state[f"_kept_{key}"] = value


def format_duration(seconds):
    """'2 h 05 min', '3 min 20 s', '12 s'; '–' when unknown."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def format_time(timestamp):
    """Seconds since the epoch -> '2024-05-01 14:03' in this computer's time zone."""
    import time
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def format_age(timestamp):
    """How long ago: 'just now', '5 min ago', '3 h ago', '2 days ago'."""
    import time
    seconds = max(0, time.time() - timestamp)
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"


def describe_run(status):
    """One line for a TrainingStatus: 'running: step 1,200 of 12,000'."""
    if status.state == "idle":
        return "idle: nothing has been trained since the dashboard started"
    if not status.target_step:  # the thread is still loading data and building the network
        return f"{status.state}: {status.message}"
    return f"{status.state}: step {status.step:,} of {status.target_step:,}"


# --- how many browsers watch the Train page ------------------------------------------------

_watchers = {}  # viewer id -> (time.monotonic() of its last redraw, its redraw interval in s)
_watchers_lock = threading.Lock()


def train_page_watchers(every):
    """How many browsers are watching the Train page, this one included, which redraws every `every` s.

    Each browser session reports in at every redraw; one that has not for twice its interval (plus 2 s)
    has left. Shared by the whole server, like the training job."""
    viewer = st.session_state.setdefault("viewer_id", uuid.uuid4().hex)
    now = time.monotonic()
    with _watchers_lock:
        _watchers[viewer] = (now, every)
        for other, (seen, interval) in list(_watchers.items()):
            if now - seen > 2 * interval + 2:
                del _watchers[other]
        return len(_watchers)
