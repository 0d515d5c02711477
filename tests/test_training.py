"""The training job, its checkpoints, and what a model learns: real Keras on tiny data."""
import json
import threading

import numpy as np
import pytest

from cifar_core import checkpoints
from cifar_core.data import load_dataset
from cifar_core.insights import confusion, feature_maps, filters, inference
from cifar_core.training.job import TrainingJob
from tiny_runs import run_to_end as run
from tiny_runs import tiny_config as tiny


def test_a_run_trains_to_its_target_and_checkpoints_along_the_way(job):
    status = run(job, tiny())
    assert status.state == "finished", status.message
    assert (status.start_step, status.step, status.target_step) == (0, 30, 30)
    assert [c.step for c in checkpoints.list_checkpoints(job.checkpoint_dir)] == [15, 30]
    assert status.latest_checkpoint == "ckpt-00000030"
    assert len(status.history_steps) == 3 and len(status.batch_accuracy) == 3
    assert status.images_per_second > 0


def test_accuracy_rises_well_above_chance_within_seconds(job):
    status = run(job, tiny(steps=60, checkpoint_every=60))
    # Ten classes: chance is 10%. The tiny images' classes differ by colour.
    assert status.test_accuracy[-1] >= 0.6, status.test_accuracy


def test_more_steps_for_a_finished_run_go_on_from_the_saved_step(job):
    run(job, tiny())
    with pytest.raises(ValueError, match="The run is complete at step 30"):
        job.start(tiny())  # nothing more to do without more steps
    status = run(job, tiny(), extra_steps=30)
    assert status.message.startswith("Finished at step 60")
    assert (status.start_step, status.step) == (30, 60)
    # The history goes on from the first run's, not from scratch.
    assert status.history_steps[0] == 10 and status.history_steps[-1] == 60


def test_two_simultaneous_starts_yield_one_run(job):
    answers, barrier = [], threading.Barrier(2)

    def press_start():
        barrier.wait()
        answers.append(job.start(tiny()))

    threads = [threading.Thread(target=press_start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(started for started, _ in answers) == [False, True]
    assert "already running" in [m for started, m in answers if not started][0]
    job.wait(120)
    assert job.status().step == 30  # one run of 30 steps, not two


def test_stop_ends_within_a_batch_with_a_checkpoint_and_a_restart_continues_to_the_same_target(job):
    long_run = tiny(steps=100_000, checkpoint_every=100_000)
    job.start(long_run)
    while job.status().step < 5:
        job.wait(0.05)
    job.stop()
    assert job.wait(60)
    stopped = job.status()
    assert stopped.state == "stopped" and stopped.target_step == 100_000
    assert checkpoints.latest_checkpoint(job.checkpoint_dir).step == stopped.step
    job.start(long_run)  # the same run goes on: same target, same schedule
    while job.status().step < stopped.step + 3:
        assert job.status().state == "running", job.status().message
        job.wait(0.05)
    status = job.status()
    assert (status.start_step, status.schedule_start, status.target_step) == (stopped.step, 0, 100_000)
    assert status.message.startswith(f"Resumed from step {stopped.step}")


def test_a_stop_before_the_first_step_keeps_the_run_to_go_on_with(job):
    long_run = tiny(steps=100_000, checkpoint_every=100_000)
    job.start(long_run)
    job.stop()  # while TensorFlow still loads: not one step trained
    assert job.wait(60)
    stopped = job.status()
    assert stopped.state == "stopped" and stopped.step == 0
    assert checkpoints.latest_checkpoint(job.checkpoint_dir).step == 0  # "checkpoint saved" is true
    job.start(long_run)
    while job.status().step < 2:
        assert job.status().state == "running", job.status().message
        job.wait(0.05)
    assert job.status().target_step == 100_000  # the same run, not a new one beside a set-aside one
    assert not [p for p in job.checkpoint_dir.iterdir() if p.name.startswith("previous-")]


def test_pause_holds_the_step_and_resume_goes_on(job):
    job.start(tiny(steps=100_000, checkpoint_every=100_000))
    while job.status().step < 3:
        job.wait(0.05)
    job.pause()
    job.wait(0.5)
    held = job.status().step
    job.wait(0.5)
    assert job.status().state == "paused" and job.status().step == held
    job.resume()
    while job.status().step <= held + 2:
        job.wait(0.05)
    assert job.status().state == "running"


def test_an_exception_in_training_becomes_state_failed(tmp_path):
    job = TrainingJob(tmp_path / "ckpt", tmp_path / "no-data-here")
    job.start(tiny())
    job.wait(60)
    status = job.status()
    assert status.state == "failed"
    assert "Training failed" in status.message and "no-data-here" in status.message


def test_save_and_restore_round_trip_keeps_step_and_optimizer_state(trained_dir, tiny_data_dir):
    from cifar_core.training.step import TrainingStep

    latest = checkpoints.latest_checkpoint(trained_dir)
    first = TrainingStep(tiny(), load_dataset(tiny_data_dir))
    first.restore(latest)
    second = TrainingStep(tiny(seed=99), load_dataset(tiny_data_dir))  # other initial weights
    second.restore(latest)
    assert first.step == second.step == 30
    for a, b in zip(first.optimizer.variables, second.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_truncated_checkpoint_names_the_file_and_offers_the_previous_one(job):
    run(job, tiny())
    latest = checkpoints.latest_checkpoint(job.checkpoint_dir).path
    weights = latest / checkpoints.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    message = job.start(tiny(), extra_steps=10) and job.wait(60) and job.status().message
    assert job.status().state == "failed"
    assert str(weights) in message and "ckpt-00000015" in message and "step 15" in message
    assert weights.exists()  # nothing deleted, nothing silently re-initialised
    assert job.status().step == 0


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_checkpoint_keeps_the_test_set_answers_it_was_measured_on(job, precision):
    from cifar_core.training.hooks import TEST_PROBABILITIES

    run(job, tiny(precision=precision))
    latest = checkpoints.latest_checkpoint(job.checkpoint_dir)
    saved = latest.artifact(TEST_PROBABILITIES)
    dataset = load_dataset(job.data_dir)
    network = inference.load_inference_model(latest)
    np.testing.assert_allclose(saved, inference.predict_probabilities(network.model, dataset.test_images),
                               atol=1e-5)
    assert np.mean(saved.argmax(axis=1) == dataset.test_labels) == pytest.approx(latest.test_accuracy)

    answers = latest.path / f"{TEST_PROBABILITIES}{checkpoints.ARTIFACT_SUFFIX}"
    answers.write_bytes(answers.read_bytes()[:-40])
    with pytest.raises(checkpoints.CheckpointError, match="test_probabilities.npz.*step 15"):
        latest.artifact(TEST_PROBABILITIES)
    answers.unlink()
    with pytest.raises(checkpoints.CheckpointError, match="missing or damaged"):
        latest.artifact(TEST_PROBABILITIES)


def test_the_test_set_answers_are_read_from_the_checkpoint_or_computed_for_an_older_one(trained_dir, tiny_data_dir,
                                                                                      tmp_path):
    import shutil
    dataset = load_dataset(tiny_data_dir)
    latest = checkpoints.latest_checkpoint(trained_dir)
    loads = []

    def load(checkpoint):
        loads.append(checkpoint.step)
        return inference.load_inference_model(checkpoint)

    saved = inference.test_set_probabilities(latest, dataset, load_model=load)
    assert loads == []  # read, not computed
    older = tmp_path / latest.name  # the same checkpoint as saved before the answers were kept
    shutil.copytree(latest.path, older)
    meta = json.loads((older / checkpoints.META).read_text())
    del meta["sha256"]["test_probabilities.npz"]
    (older / checkpoints.META).write_text(json.dumps(meta))
    (older / "test_probabilities.npz").unlink()
    computed = inference.test_set_probabilities(checkpoints.Checkpoint.open(older), dataset, load_model=load)
    assert loads == [30]
    np.testing.assert_allclose(computed, saved, atol=1e-5)


def test_start_fresh_sets_old_checkpoints_aside(job):
    run(job, tiny())
    status = run(job, tiny(steps=15), fresh=True)
    assert (status.start_step, status.step) == (0, 15)
    aside = list(job.checkpoint_dir.glob("previous-*/ckpt-*"))
    assert sorted(p.name for p in aside) == ["ckpt-00000015", "ckpt-00000030"]


def test_a_second_writer_on_the_same_folder_is_refused(tmp_path):
    with checkpoints.WriterLock(tmp_path):
        with pytest.raises(checkpoints.CheckpointError, match="already being written"):
            with checkpoints.WriterLock(tmp_path):
                pass


def test_stale_temporary_folders_are_swept_when_a_writer_starts(tmp_path):
    stale = tmp_path / ".tmp-ckpt-00000100-123"
    stale.mkdir()
    with checkpoints.WriterLock(tmp_path):
        assert not stale.exists()


def test_insights_shapes_and_sums(trained_dir, tiny_data_dir):
    dataset = load_dataset(tiny_data_dir)
    network = inference.load_inference_model(checkpoints.latest_checkpoint(trained_dir))
    probabilities = inference.predict_probabilities(network.model, dataset.test_images)
    assert probabilities.shape == (100, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    result = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1))
    assert result.matrix.shape == (10, 10) and result.matrix.sum() == 100
    assert result.matrix.sum(axis=1).tolist() == [10] * 10  # 10 test images per class
    cell = confusion.cell_indices(dataset.test_labels, probabilities, 3, 5)
    assert len(cell) == result.matrix[3, 5]
    assert np.all(np.diff(probabilities[cell, 5]) <= 0)  # most confident first
    view = feature_maps.network_view(network, dataset.test_images[0])
    assert view.maps["layer_conv1"].shape == (24, 24, 64) and view.maps["layer_conv2"].shape == (12, 12, 64)
    np.testing.assert_allclose(view.probabilities, probabilities[0], rtol=1e-4, atol=1e-6)
    weights = filters.filter_weights(network.model, "layer_conv2", 63)
    assert weights.weights.shape == (64, 5, 5) and weights.min <= weights.mean <= weights.max
    with pytest.raises(ValueError, match="channels 0..2"):
        filters.filter_weights(network.model, "layer_conv1", 3)
