"""What pages load: the dataset, checkpoints and their networks, the training job, each cached once
per server; and the empty states (`require_*`: say what is missing and how to get it, then stop the page).

Folders come from the environment so tests (and labs) can point the dashboard elsewhere:
CIFAR10_DATA_DIR (the dataset) and CIFAR10_CHECKPOINT_DIR (default checkpoints/).
"""
import os
from pathlib import Path

import streamlit as st

from cifar_core import checkpoints, data  # no TensorFlow: keeps the first paint fast
from cifar_core.insights import inference  # TensorFlow only once a network is loaded
from cifar_core.insights.network_cache import NetworkCache
from dashboard.ui import navigation
from dashboard.ui.keras_quirks import keep_keras_state

OFFLINE_HINT = ("No internet? Copy `cifar-10-python.tar.gz` here and run "
                "`python -m cifar_core download --from cifar-10-python.tar.gz`.")


def checkpoint_dir():
    return Path(os.environ.get("CIFAR10_CHECKPOINT_DIR", checkpoints.DEFAULT_DIR))


@st.cache_resource(show_spinner="Loading CIFAR-10…", max_entries=1)
def _load_dataset(folder, stamp):  # stamp: the folder's identity, so a replaced dataset is read anew
    return data.load_dataset(folder)


def dataset_or_none():
    """The dataset (one read-only copy per server process), or None when it is not there yet.

    Reloaded when the folder is replaced (a download, or `download --from` while the server runs)."""
    folder = data.find_dataset()
    return _load_dataset(str(folder), data.folder_stamp(folder)) if folder is not None else None


def require_dataset():
    """The dataset, or a one-sentence explanation with the fix, and the page stops."""
    try:
        dataset = dataset_or_none()
    except data.DataError as e:  # a folder is there but broken: say what is wrong, no traceback
        st.error(f"The CIFAR-10 dataset cannot be loaded: {e}")
        st.stop()
    if dataset is None:
        st.info("The CIFAR-10 dataset is not on this computer yet: get it on the Home page.")
        navigation.link(navigation.HOME, "Go to Home to download it")
        st.stop()
    return dataset


def _load_network(checkpoint):
    loaded = inference.load_inference_model(checkpoint)  # imports Keras
    keep_keras_state()
    return loaded


_NETWORKS = NetworkCache(_load_network)  # one per server process, like st.cache_resource, and loads ahead


def inference_model(checkpoint):
    """The checkpoint's own network (never the one being trained); a damaged checkpoint stops the page."""
    try:
        loaded = _NETWORKS.get(checkpoint)
    except checkpoints.CheckpointError as e:
        st.error(str(e))
        st.stop()
    keep_keras_state()
    return loaded


def prefetch_networks(points):
    """Load these checkpoints' networks in the background (the timeline's neighbours of the one shown)."""
    _NETWORKS.prefetch(points)


@st.cache_data(show_spinner="Getting the network's answers for the test images…", max_entries=16)
def _test_probabilities(path, saved_at, dataset_folder):
    return inference.test_set_probabilities(checkpoints.Checkpoint.open(path), dataset_or_none(),
                                            load_model=_NETWORKS.get)


def test_probabilities(checkpoint, dataset):
    """(N, 10) float32 class probabilities of the dataset's test set for one checkpoint; a damaged checkpoint
    stops the page."""
    try:
        return _test_probabilities(str(checkpoint.path), checkpoint.saved_at, str(dataset.folder))
    except checkpoints.CheckpointError as e:
        st.error(str(e))
        st.stop()


def training_job():
    """The server's one training job, shared by every browser."""
    from cifar_core.training import job
    training = job.get_job(checkpoint_dir())  # imports Keras
    keep_keras_state()
    return training
