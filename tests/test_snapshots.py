"""Snapshots: the network kept at log-spaced steps for a run's whole life, for the timeline. Real Keras runs."""
import json

import numpy as np
import pytest

from cifar_core import checkpoints, runs, snapshots
from cifar_core.checkpoint_files import OPTIMIZER, WEIGHTS
from cifar_core.insights import inference
from cifar_core.training.hooks import TEST_PROBABILITIES
from tiny_runs import run_to_end as run
from tiny_runs import tiny_config

# 120 steps of 8 images: snapshots at 0, 50, 100 and 120; checkpoints every 20, only the newest 2 (+ best) kept.
SHORT = dict(steps=120, batch_size=8, checkpoint_every=20, keep_checkpoints=2)


def steps_of(found):
    return [checkpoint.step for checkpoint in found]


def test_the_schedule_is_step_0_then_one_two_five_times_powers_of_ten_then_the_end():
    assert snapshots.scheduled_steps(36_000) == [0, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 36_000]
    assert snapshots.scheduled_steps(1500) == [0, 50, 100, 200, 500, 1000, 1500]
    assert snapshots.scheduled_steps(30) == [0, 30]
    assert not snapshots.is_scheduled(20) and not snapshots.is_scheduled(300) and snapshots.is_scheduled(200_000)


def test_a_run_keeps_the_untrained_network_and_log_spaced_snapshots_after_its_checkpoints_are_pruned(job):
    status = run(job, tiny_config(**SHORT))
    assert status.state == "finished", status.message
    assert steps_of(checkpoints.list_checkpoints(job.checkpoint_dir))[-2:] == [100, 120]
    assert 0 not in steps_of(checkpoints.list_checkpoints(job.checkpoint_dir))  # pruned long ago
    kept = snapshots.list_snapshots(job.checkpoint_dir)
    assert steps_of(kept) == [0, 50, 100, 120]
    untrained, trained = kept[0], kept[-1]
    assert untrained.is_snapshot and untrained.test_accuracy < 0.35  # ten classes: chance is 10%
    assert trained.test_accuracy > untrained.test_accuracy + 0.2
    # Weights and the test set's answers, no optimizer state: snapshots are for looking, and small.
    assert WEIGHTS in untrained.meta["sha256"] and OPTIMIZER not in untrained.meta["sha256"]
    assert untrained.artifact(TEST_PROBABILITIES).shape == (100, 10)
    with pytest.raises(checkpoints.CheckpointError, match="keeps no history"):
        untrained.history()
    # Its network is the untrained one: its answers match the accuracy saved with it.
    loaded = inference.load_inference_model(untrained)
    probabilities = inference.predict_probabilities(loaded.model, job_dataset(job).test_images)
    assert np.mean(probabilities.argmax(axis=1) == job_dataset(job).test_labels) == pytest.approx(
        untrained.test_accuracy)
    assert steps_of(snapshots.timeline(job.checkpoint_dir)) == [0, 50, 100, 120]


def job_dataset(job):
    from cifar_core.data import load_dataset
    return load_dataset(job.data_dir)


def test_the_test_loss_is_recorded_beside_the_test_accuracy_from_step_0(job):
    run(job, tiny_config())
    history = job.history()
    assert len(history["test_loss"]) == len(history["test_accuracy"]) == len(history["test_steps"])
    assert history["test_steps"][0] == 0 and history["test_loss"][0] == pytest.approx(np.log(10), rel=0.3)
    assert history["test_loss"][-1] < history["test_loss"][0]  # it learned
    assert history["session_steps"] == [0] and history["session_kinds"] == ["new run (quick)"]
    saved = checkpoints.latest_checkpoint(job.checkpoint_dir).history()
    assert saved["test_loss"] == history["test_loss"]


def test_snapshots_survive_a_stop_and_resume_and_an_extended_run_adds_its_own(job):
    long_run = tiny_config(**{**SHORT, "steps": 100_000, "checkpoint_every": 100_000})
    job.start(long_run)
    while job.status().step < 60:
        job.wait(0.05)
    job.stop()
    assert job.wait(60)
    stopped = job.status().step
    first = snapshots.list_snapshots(job.checkpoint_dir)
    assert steps_of(first) == [0, 50]
    # The timeline ends at the stopped run's checkpoint, past its last snapshot.
    assert steps_of(snapshots.timeline(job.checkpoint_dir)) == [0, 50, stopped]
    job.start(long_run)
    while job.status().step < 110:
        assert job.status().state == "running", job.status().message
        job.wait(0.05)
    job.stop()
    job.wait(60)
    again = snapshots.list_snapshots(job.checkpoint_dir)
    assert steps_of(again)[:3] == [0, 50, 100]
    assert again[0] == first[0]  # the same save, not a new step-0 snapshot
    assert job.history()["session_kinds"] == ["new run (quick)", "resumed"]
    assert job.history()["session_steps"] == [0, stopped]


def test_a_run_set_aside_keeps_its_snapshots_and_gets_them_back_when_restored(job):
    run(job, tiny_config())
    before = snapshots.list_snapshots(job.checkpoint_dir)
    run(job, tiny_config(steps=20, checkpoint_every=10), fresh=True)
    (aside,) = runs.set_aside_runs(job.checkpoint_dir)
    assert steps_of(snapshots.list_snapshots(aside.path)) == [0, 30]
    assert steps_of(snapshots.list_snapshots(job.checkpoint_dir)) == [0, 20]  # the new run's own
    job.restore_run(aside.name)
    assert snapshots.list_snapshots(job.checkpoint_dir) == before


def test_a_snapshot_with_an_unknown_kind_is_reported_damaged(job):
    run(job, tiny_config())
    first = snapshots.list_snapshots(job.checkpoint_dir)[0]
    meta = json.loads((first.path / "meta.json").read_text())
    (first.path / "meta.json").write_text(json.dumps({**meta, "kind": "mystery"}))
    valid, damaged = checkpoints.scan_checkpoints(snapshots.folder_of(job.checkpoint_dir))
    assert steps_of(valid) == [30] and '"kind": "mystery"' in damaged[0].reason
    with pytest.raises(checkpoints.CheckpointError, match="snapshot"):
        snapshots.list_snapshots(job.checkpoint_dir)[0].restore(object(), optimizer=object())


def test_artifacts_are_compressed_and_an_older_checkpoints_npy_artifact_is_still_read(trained_dir, tmp_path):
    import shutil
    from cifar_core.checkpoint_files import sha256
    from cifar_core.training.hooks import FC2_ACTIVATIONS

    latest = checkpoints.latest_checkpoint(trained_dir)
    fc2 = latest.artifact(FC2_ACTIVATIONS)
    assert (latest.path / f"{FC2_ACTIVATIONS}.npz").stat().st_size < fc2.nbytes  # ReLU zeros compress
    older = tmp_path / latest.name
    shutil.copytree(latest.path, older)
    (older / f"{TEST_PROBABILITIES}.npz").unlink()  # as saved before artifacts were compressed
    np.save(older / f"{TEST_PROBABILITIES}.npy", latest.artifact(TEST_PROBABILITIES))
    meta = json.loads((older / "meta.json").read_text())
    del meta["sha256"][f"{TEST_PROBABILITIES}.npz"]
    meta["sha256"][f"{TEST_PROBABILITIES}.npy"] = sha256(older / f"{TEST_PROBABILITIES}.npy")
    (older / "meta.json").write_text(json.dumps(meta))
    assert np.array_equal(checkpoints.Checkpoint.open(older).artifact(TEST_PROBABILITIES),
                          latest.artifact(TEST_PROBABILITIES))
