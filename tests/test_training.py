"""The training job, its checkpoints, and what a model learns: real Keras on tiny data."""
import threading

import numpy as np
import pytest

from cifar_core import analysis, checkpoints, confusion
from cifar_core.config import preset
from cifar_core.trainer import TrainingJob


def tiny(**overrides):
    settings = dict(steps=30, batch_size=32, eval_every=10, checkpoint_every=15, eval_images=50)
    settings.update(overrides)
    return preset("quick", **settings)


@pytest.fixture
def job(tiny_data_dir, tmp_path):
    job = TrainingJob(tmp_path / "ckpt", tiny_data_dir)
    yield job
    job.stop()
    job.wait(60)


def run(job, config, **kwargs):
    started, message = job.start(config, **kwargs)
    assert started, message
    assert job.wait(120)
    return job.status()


def test_a_run_trains_to_its_target_and_checkpoints_along_the_way(job):
    status = run(job, tiny())
    assert status.state == "finished", status.message
    assert (status.start_step, status.step, status.target_step) == (0, 30, 30)
    assert [info.step for info in checkpoints.list_checkpoints(job.checkpoint_dir)] == [15, 30]
    assert status.latest_checkpoint == "ckpt-00000030"
    assert len(status.history_steps) == 3 and len(status.batch_accuracy) == 3
    assert status.images_per_second > 0


def test_accuracy_rises_well_above_chance_within_seconds(job):
    status = run(job, tiny(steps=60, checkpoint_every=60))
    # Ten classes: chance is 10%. The tiny images' classes differ by colour.
    assert status.test_accuracy[-1] >= 0.6, status.test_accuracy


def test_a_second_run_resumes_at_the_saved_step(job):
    run(job, tiny())
    status = run(job, tiny())
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


def test_stop_ends_within_a_batch_with_a_checkpoint_and_a_restart_continues(job):
    job.start(tiny(steps=100_000, checkpoint_every=100_000))
    while job.status().step < 5:
        job.wait(0.05)
    job.stop()
    assert job.wait(60)
    stopped = job.status()
    assert stopped.state == "stopped"
    assert checkpoints.latest_checkpoint(job.checkpoint_dir).step == stopped.step
    status = run(job, tiny(steps=10))
    assert (status.start_step, status.step) == (stopped.step, stopped.step + 10)


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


def test_save_and_restore_round_trip_keeps_step_and_optimizer_state(job):
    from cifar_core.session import TrainingSession
    from cifar_core.data import load_dataset

    run(job, tiny())
    path = checkpoints.latest_checkpoint(job.checkpoint_dir).path
    first = TrainingSession(tiny(), load_dataset(job.data_dir))
    first.restore(path)
    second = TrainingSession(tiny(seed=99), load_dataset(job.data_dir))  # other initial weights
    second.restore(path)
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
    message = job.start(tiny()) and job.wait(60) and job.status().message
    assert job.status().state == "failed"
    assert str(weights) in message and "ckpt-00000015" in message and "step 15" in message
    assert weights.exists()  # nothing deleted, nothing silently re-initialised
    assert job.status().step == 0


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_checkpoint_keeps_the_test_set_answers_it_was_measured_on(job, precision):
    from cifar_core.data import load_dataset

    run(job, tiny(precision=precision))
    latest = checkpoints.latest_checkpoint(job.checkpoint_dir)
    saved = checkpoints.read_test_probabilities(latest.path)
    dataset = load_dataset(job.data_dir)
    inference = analysis.load_inference_model(latest.path)
    np.testing.assert_allclose(saved, analysis.predict_probabilities(inference.model, dataset.test_images),
                               atol=1e-5)
    assert np.mean(saved.argmax(axis=1) == dataset.test_labels) == pytest.approx(latest.test_accuracy)

    answers = latest.path / checkpoints.PROBABILITIES
    answers.write_bytes(answers.read_bytes()[:-40])
    with pytest.raises(checkpoints.CheckpointError, match="test_probabilities.npy.*step 15"):
        checkpoints.read_test_probabilities(latest.path)
    answers.unlink()
    with pytest.raises(checkpoints.CheckpointError, match="missing or damaged"):
        checkpoints.read_test_probabilities(latest.path)


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


def test_analysis_shapes_and_sums(job):
    from cifar_core.data import load_dataset

    run(job, tiny())
    dataset = load_dataset(job.data_dir)
    inference = analysis.load_inference_model(checkpoints.latest_checkpoint(job.checkpoint_dir).path)
    probabilities = analysis.predict_probabilities(inference.model, dataset.test_images)
    assert probabilities.shape == (100, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    result = confusion.confusion(dataset.test_labels, probabilities.argmax(axis=1))
    assert result.matrix.shape == (10, 10) and result.matrix.sum() == 100
    assert result.matrix.sum(axis=1).tolist() == [10] * 10  # 10 test images per class
    cell = confusion.cell_indices(dataset.test_labels, probabilities, 3, 5)
    assert len(cell) == result.matrix[3, 5]
    assert np.all(np.diff(probabilities[cell, 5]) <= 0)  # most confident first
    maps, probs = analysis.feature_maps(inference, dataset.test_images[0])
    assert maps["layer_conv1"].shape == (24, 24, 64) and maps["layer_conv2"].shape == (12, 12, 64)
    np.testing.assert_allclose(probs, probabilities[0], rtol=1e-4, atol=1e-6)
    filters = analysis.filter_weights(inference.model, "layer_conv2", 63)
    assert filters.weights.shape == (64, 5, 5) and filters.min <= filters.mean <= filters.max
    with pytest.raises(ValueError, match="channels 0..2"):
        analysis.filter_weights(inference.model, "layer_conv1", 3)
