"""Which maths a run computes in on which machine, and the GPU's float16 step (run here, slowly, on the CPU)."""
import numpy as np
import pytest

from cifar_core import checkpoints, data
from cifar_core.training import step
from cifar_core.training.step import choose_precision
from tiny_runs import run_to_end, tiny_config


@pytest.mark.parametrize("gpus, cpu_has_bf16, expected", [
    (1, True, "float16"),    # a GPU: its float16 tensor cores, whatever the CPU does
    (1, False, "float16"),
    (2, False, "float16"),
    (0, True, "bfloat16"),   # no GPU, a CPU with AVX512-BF16 or AMX
    (0, False, "float32"),   # no GPU, a CPU that would only emulate bfloat16
])
def test_auto_is_float16_on_a_gpu_else_bfloat16_where_the_cpu_computes_it_else_float32(gpus, cpu_has_bf16, expected):
    assert choose_precision("auto", gpus, cpu_has_bf16) == expected


@pytest.mark.parametrize("setting", ["float32", "bfloat16"])
@pytest.mark.parametrize("gpus", [0, 1])
@pytest.mark.parametrize("cpu_has_bf16", [False, True])
def test_an_explicit_precision_is_kept_on_any_machine(setting, gpus, cpu_has_bf16):
    assert choose_precision(setting, gpus, cpu_has_bf16) == setting


def test_float16_is_chosen_by_auto_never_set():
    # A run's config says "auto" and each machine decides: the same run is float16 on a GPU, bfloat16 or
    # float32 on a laptop. So "float16" is no setting, and it is refused like any unknown one.
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16; got 'float16'"):
        choose_precision("float16", 1, False)


def test_this_machine_without_a_gpu_never_trains_in_float16():
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    assert step.resolve_precision("auto") == ("bfloat16" if step.cpu_computes_bfloat16() else "float32")
    assert step.resolve_precision("float32") == "float32"


@pytest.fixture
def as_on_a_gpu(monkeypatch):
    """The float16 step a GPU gets, on this CPU: only the machine's answer is pretended; the model, the loss
    scaling and the checkpoints are the real ones (TensorFlow's CPU float16 is slow, not wrong)."""
    monkeypatch.setattr(step, "resolve_precision", lambda setting: "float16")


def test_a_float16_run_learns_and_a_cpu_goes_on_from_its_checkpoint(as_on_a_gpu, monkeypatch, tiny_data_dir,
                                                                      tmp_path):
    from cifar_core.training.job import TrainingJob

    trained = run_to_end(TrainingJob(tmp_path, tiny_data_dir), tiny_config(steps=20, checkpoint_every=20))
    assert trained.state == "finished" and trained.step == 20, trained.message
    assert trained.test_accuracy[-1] > 0.3  # chance is 0.1
    saved = checkpoints.latest_checkpoint(tmp_path)

    monkeypatch.undo()  # this machine's own precision again: the lab's GPU run, taken home
    home = step.TrainingStep(saved.config, data.load_dataset(tiny_data_dir))
    home.restore(saved)  # the checkpoint holds Adam alone (no loss scale): it fits any precision
    assert home.precision != "float16" and home.step == 20
    assert home.evaluate()[0] == pytest.approx(saved.test_accuracy)  # the same weights, both in float32
    extended = run_to_end(TrainingJob(tmp_path, tiny_data_dir), saved.config, extra_steps=10)
    assert extended.state == "finished" and extended.step == 30, extended.message


def test_a_float16_batch_whose_gradients_overflow_is_skipped_but_counts_as_a_step(as_on_a_gpu, tiny_data_dir):
    training = step.TrainingStep(tiny_config(), data.load_dataset(tiny_data_dir))
    assert training.precision == "float16"
    training.train_batch(0)
    weights = [v.numpy() for v in training.model.trainable_variables]
    training._loss_scaler.dynamic_scale.assign(2.0 ** 120)  # far past float16's 65,504: the gradients overflow
    training.train_batch(0)
    assert training.step == 2  # the step is the count of batches, as on a CPU (job.py's schedule relies on it)
    assert all(np.array_equal(before, v.numpy()) for before, v in zip(weights, training.model.trainable_variables))
    assert float(training._loss_scaler.dynamic_scale.numpy()) == 2.0 ** 119  # halved, for the next batch
