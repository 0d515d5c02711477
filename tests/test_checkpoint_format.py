"""Checkpoint files keyed by the project's own names: they outlive a Keras upgrade, load into the plain-Keras
network, and checkpoints saved before (Keras' model.weights.h5, optimizer.npz by position) still resume.

Real checkpoints from the session's tiny run (`trained_dir`, copied before anything changes)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cifar_core import checkpoints
from cifar_core.checkpoint_files import LEGACY_WEIGHTS, OPTIMIZER, WEIGHTS, sha256
from cifar_core.checkpoints import Checkpoint, CheckpointError
from cifar_core.config import ModelConfig
from cifar_core.data import load_dataset
from cifar_core.insights import inference
from cifar_core.model import build_model
from tiny_runs import run_to_end, tiny_config

LATEST = "ckpt-00000030"  # trained_dir's latest checkpoint
# Every weight of the quick preset's network (batch-norm after both convs), as architecture.py names its layers.
WEIGHT_NAMES = {
    "layer_conv1/kernel", "layer_conv2/kernel",
    *(f"{bn}/{name}" for bn in ("layer_conv1_bn", "layer_conv2_bn")
      for name in ("gamma", "beta", "moving_mean", "moving_variance")),
    *(f"{dense}/{name}" for dense in ("layer_fc1", "layer_fc2", "layer_softmax") for name in ("kernel", "bias")),
}
TRAINABLE = WEIGHT_NAMES - {name for name in WEIGHT_NAMES if "moving_" in name}


def write_legacy_checkpoint(checkpoint, model, optimizer, folder):
    """Copy `checkpoint` into `folder` in the layout saved before weights.npz, with `model` and `optimizer`
    holding its state: Keras' model.weights.h5 and optimizer.npz by position (arr_0, arr_1 ...), written as
    save_checkpoint wrote them then; meta.json's checksums to match. -> the copy's path."""
    copy = Path(shutil.copytree(checkpoint.path, Path(folder) / checkpoint.name))
    (copy / WEIGHTS).unlink()
    model.save_weights(copy / LEGACY_WEIGHTS)
    np.savez(copy / OPTIMIZER, *[v.numpy() for v in optimizer.variables])
    rehash(copy, drop=WEIGHTS)
    return copy


def rehash(folder, drop=None):
    """Rewrite meta.json's checksums for the files as they are now (without `drop`)."""
    meta = json.loads((folder / checkpoints.META).read_text())
    names = [name for name in meta["sha256"] if name != drop] + [LEGACY_WEIGHTS] * (drop == WEIGHTS)
    meta["sha256"] = {name: sha256(folder / name) for name in names}
    (folder / checkpoints.META).write_text(json.dumps(meta))


def state_of(training):
    """(weights, optimizer variables) of a TrainingStep, as arrays."""
    return training.model.get_weights(), [v.numpy() for v in training.optimizer.variables]


def assert_same_state(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture
def folder(trained_dir, tmp_path):
    return Path(shutil.copytree(trained_dir, tmp_path / "checkpoints"))


def test_checkpoint_files_are_keyed_by_the_projects_layer_and_weight_names(trained_dir):
    latest = checkpoints.latest_checkpoint(trained_dir)
    assert WEIGHTS in latest.meta["sha256"] and LEGACY_WEIGHTS not in latest.meta["sha256"]
    with np.load(latest.path / WEIGHTS) as weights:
        assert set(weights.files) == WEIGHT_NAMES
        assert weights["layer_conv1/kernel"].shape == (5, 5, 3, 64)
        assert weights["layer_conv1_bn/moving_variance"].shape == (64,)
    with np.load(latest.path / OPTIMIZER) as optimizer:
        slots = {f"{name}/{slot}" for name in TRAINABLE for slot in ("momentum", "velocity")}
        assert set(optimizer.files) == {"iterations", "learning_rate"} | slots
        assert int(optimizer["iterations"]) == 30  # the global step
        assert optimizer["layer_fc1/kernel/velocity"].shape == (2304, 256)
    snapshot = checkpoints.Checkpoint.open(trained_dir / "snapshots" / LATEST)
    with np.load(snapshot.path / WEIGHTS) as weights:
        assert set(weights.files) == WEIGHT_NAMES


def test_a_plain_keras_network_loads_a_checkpoint_and_answers_the_same(trained_dir, tiny_data_dir):
    latest = checkpoints.latest_checkpoint(trained_dir)
    fused = inference.load_inference_model(latest).model
    plain = build_model(latest.config.model, plain_keras=True)
    latest.restore(plain)
    assert type(plain.get_layer("layer_conv1_bn")).__name__ == "BatchNormalization"
    for a, b in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    images = load_dataset(tiny_data_dir).test_images
    np.testing.assert_allclose(inference.predict_probabilities(plain, images),
                               inference.predict_probabilities(fused, images), atol=1e-6)


def test_a_checkpoint_saved_before_weights_npz_restores_the_same_state_and_resumes(trained_dir, tiny_data_dir,
                                                                                  tmp_path):
    from cifar_core.training.job import TrainingJob
    from cifar_core.training.step import TrainingStep

    dataset = load_dataset(tiny_data_dir)
    latest = checkpoints.latest_checkpoint(trained_dir)
    original = TrainingStep(tiny_config(), dataset)
    original.restore(latest)
    legacy = write_legacy_checkpoint(latest, original.model, original.optimizer, tmp_path / "ckpt")
    with np.load(legacy / OPTIMIZER) as saved:
        assert saved.files[:2] == ["arr_0", "arr_1"]  # by position, as it was

    opened = Checkpoint.open(legacy)
    opened.verify()
    restored = TrainingStep(tiny_config(seed=99), dataset)  # other initial weights
    restored.restore(opened)
    assert restored.step == 30
    assert_same_state(state_of(restored), state_of(original))

    before = legacy.joinpath(LEGACY_WEIGHTS).read_bytes()
    job = TrainingJob(tmp_path / "ckpt", tiny_data_dir)
    status = run_to_end(job, tiny_config(), extra_steps=10)
    assert status.state == "finished", status.message
    assert (status.start_step, status.step) == (30, 40)
    resumed = checkpoints.latest_checkpoint(tmp_path / "ckpt")
    assert resumed.step == 40 and WEIGHTS in resumed.meta["sha256"]  # new checkpoints: the new files
    assert legacy.joinpath(LEGACY_WEIGHTS).read_bytes() == before  # the old one left as it was


def test_a_snapshot_saved_before_weights_npz_loads_into_both_networks(trained_dir, tiny_data_dir, tmp_path):
    snapshot = Checkpoint.open(trained_dir / "snapshots" / LATEST)
    expected = inference.load_inference_model(snapshot).model
    copy = Path(shutil.copytree(snapshot.path, tmp_path / "snapshots" / LATEST))
    (copy / WEIGHTS).unlink()
    expected.save_weights(copy / LEGACY_WEIGHTS)  # a float32 fused network wrote it, as the training twin did
    rehash(copy, drop=WEIGHTS)
    old = Checkpoint.open(copy)
    assert old.is_snapshot
    plain = build_model(old.config.model, plain_keras=True)
    old.restore(plain)
    for network in (inference.load_inference_model(old).model, plain):
        for a, b in zip(expected.get_weights(), network.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_network_with_other_layers_is_refused_by_name_and_left_unchanged(trained_dir):
    latest = checkpoints.latest_checkpoint(trained_dir)
    other = build_model(ModelConfig(batch_norm_conv2=False))  # the notebook's network
    before = other.get_weights()
    with pytest.raises(CheckpointError) as refused:
        latest.restore(other)
    message = str(refused.value)
    assert "does not fit this network" in message and "weights.npz has no layer_conv2/bias" in message
    assert "it holds layer_conv2_bn/beta" in message and "which this network has not" in message
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_optimizer_file_with_other_names_is_refused_and_nothing_is_assigned(folder, tiny_data_dir):
    import keras

    latest = folder / LATEST
    with np.load(latest / OPTIMIZER) as saved:
        arrays = {name.replace("layer_fc2/", "layer_fc9/"): saved[name] for name in saved.files}
    np.savez(latest / OPTIMIZER, **arrays)
    rehash(latest)
    checkpoint = Checkpoint.open(latest)
    model = build_model(checkpoint.config.model)
    optimizer = keras.optimizers.Adam()
    before = model.get_weights()
    with pytest.raises(CheckpointError, match="optimizer.npz has no layer_fc2/bias/momentum.*holds layer_fc9/"):
        checkpoint.restore(model, optimizer)
    for a, b in zip(before, model.get_weights(), strict=True):  # not even the weights, which did fit
        np.testing.assert_array_equal(a, b)
    assert int(optimizer.iterations.numpy()) == 0


def test_an_old_weights_file_beside_the_new_one_is_reported_not_ignored(folder):
    (folder / LATEST / LEGACY_WEIGHTS).write_bytes(b"weights copied in from an old checkpoint")
    valid, damaged = checkpoints.scan_checkpoints(folder)
    assert [c.step for c in valid] == [15] and [d.name for d in damaged] == [LATEST]
    assert damaged[0].reason == f"it holds {LEGACY_WEIGHTS}, which its meta.json does not cover: its weights are " \
                                f"{WEIGHTS}"
