"""What every page shares: cached data and models, empty states, small drawing helpers.

Pages call these and cifar_core, and draw. Folders come from the environment so
tests (and labs) can point the dashboard elsewhere:
CIFAR10_DATA_DIR (the dataset) and CIFAR10_CHECKPOINT_DIR (default checkpoints/).
"""
import os
import sys
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
    st.set_page_config(page_title=f"{title} · CIFAR-10 CNN", layout="wide")
    st.title(title)
    st.markdown(intro)


@st.cache_resource(show_spinner="Loading CIFAR-10…")
def _load_dataset(folder):
    return data.load_dataset(folder)


def dataset_or_none():
    """The dataset (held once per server process, read-only), or None when it is not there yet."""
    folder = data.find_dataset()
    return _load_dataset(str(folder)) if folder is not None else None


def require_dataset():
    """The dataset, or a one-sentence explanation with the fix, and the page stops."""
    dataset = dataset_or_none()
    if dataset is None:
        st.info("The CIFAR-10 dataset is not on this computer yet: get it on the Home page.")
        st.page_link("Home.py", label="Go to Home to download it", icon="🏠")
        st.stop()
    return dataset


def require_checkpoint(key):
    """A checkpoint picker (newest first), or guidance to train first, and the page stops."""
    infos = list(reversed(checkpoints.list_checkpoints(checkpoint_dir())))
    if not infos:
        st.info("There is no trained model yet: train one for a few minutes on the Train page.")
        st.page_link("pages/2_Train.py", label="Go to Train", icon="🏋️")
        st.stop()
    return st.selectbox("Checkpoint", infos, key=key, format_func=describe_checkpoint,
                        help="Older checkpoints show the network earlier in training.")


def describe_checkpoint(info):
    accuracy = f", test accuracy {info.test_accuracy:.1%}" if info.test_accuracy is not None else ""
    return f"step {info.step:,}{accuracy} ({info.preset})"


@st.cache_resource(show_spinner="Loading the trained network…", max_entries=4)
def _inference_model(path, saved_at):  # keyed by path and save time, never by an array
    from cifar_core import analysis
    return analysis.load_inference_model(path)


def inference_model(info):
    """The checkpoint's own model (never the one being trained); a damaged checkpoint stops the page."""
    try:
        return _inference_model(str(info.path), info.saved_at)
    except checkpoints.CheckpointError as e:
        st.error(str(e))
        st.stop()


@st.cache_data(show_spinner="Classifying the 10,000 test images…", max_entries=8)
def test_probabilities(path, saved_at):
    """(10000, 10) float32 class probabilities of the test set for one checkpoint."""
    from cifar_core import analysis
    dataset = dataset_or_none()
    model = _inference_model(path, saved_at).model
    return analysis.predict_probabilities(model, dataset.test_images)


def training_job():
    """The server's one training job, shared by every browser."""
    from cifar_core import trainer
    return trainer.get_job(checkpoint_dir())
