import os

import pytest

# Keep TensorFlow quiet on a 2-core laptop; set before TF is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tiny_cifar import write_cifar_folder  # noqa: E402
from tiny_runs import run_to_end, tiny_config  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A tiny learnable CIFAR-10 folder in the official format (200 train, 100 test)."""
    root = tmp_path_factory.mktemp("cifar")
    write_cifar_folder(root, per_class_train=20, per_class_test=10)
    return root


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, tiny_data_dir):
    """A checkpoint folder holding a real network trained for 30 tiny steps (checkpoints at 15 and 30).
    Shared by many tests: copy it before changing anything in it."""
    from cifar_core.training.job import TrainingJob
    folder = tmp_path_factory.mktemp("checkpoints")
    status = run_to_end(TrainingJob(folder, tiny_data_dir), tiny_config())
    assert status.state == "finished", status.message
    return folder


@pytest.fixture
def job(tiny_data_dir, tmp_path):
    """A TrainingJob on the tiny dataset writing to an empty folder; stopped at the end of the test."""
    from cifar_core.training.job import TrainingJob
    job = TrainingJob(tmp_path / "ckpt", tiny_data_dir)
    yield job
    job.stop()
    job.wait(60)


@pytest.fixture
def trained_app(monkeypatch, tiny_data_dir, trained_dir):
    """The dashboard pointed at the tiny dataset and the trained run; -> (data folder, checkpoint folder).
    Streamlit's caches are shared between AppTest instances: emptied afterwards."""
    import streamlit as st
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(trained_dir))
    yield tiny_data_dir, trained_dir
    st.cache_data.clear()
    st.cache_resource.clear()
