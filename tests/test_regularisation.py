"""Label smoothing (trained towards less than certainty, the loss reported stays comparable) and weight decay."""
import numpy as np
import pytest

from cifar_core import data
from cifar_core.insights.inference import predict_probabilities
from cifar_core.training.step import TrainingStep
from tiny_runs import tiny_config


def _train(tiny_data_dir, label_smoothing=0.0, steps=80, **settings):
    """-> (the trained network's probabilities of 200 training images, the losses it reported, its TrainingStep)"""
    config = tiny_config(steps=steps, label_smoothing=label_smoothing, precision="float32",
                         learning_rate=0.003, warmup_steps=0, schedule="constant", **settings)
    dataset = data.load_dataset(tiny_data_dir)
    training = TrainingStep(config, dataset)
    losses = [training.train_batch(0)[1] for _ in range(steps)]
    probabilities = predict_probabilities(training._evaluation_model(), dataset.train_images[:200])
    return probabilities, losses, training


def test_a_smoothed_run_is_less_sure_of_its_answers_and_reports_the_plain_cross_entropy(tiny_data_dir):
    plain, _, _ = _train(tiny_data_dir, 0.0)
    smoothed, smoothed_losses, _ = _train(tiny_data_dir, 0.3)
    # Aimed at 0.73 for the true class (0.7 + 0.3/10), the smoothed network stays well below certainty.
    assert smoothed.max(axis=1).mean() < plain.max(axis=1).mean() - 0.05
    # The loss reported (and charted) is -log p(true class) either way. The smoothed target's own cross-entropy
    # can never fall below that target's entropy, 1.18 here; the reported one does, once the run has learned.
    target = np.array([0.73] + [0.03] * 9)
    assert -(target * np.log(target)).sum() > 1.17
    assert np.mean(smoothed_losses[-10:]) < 1.0


@pytest.mark.parametrize("value", [-0.1, 0.5, 1.0])
def test_label_smoothing_outside_its_range_is_refused_with_the_range(value):
    with pytest.raises(ValueError, match="label_smoothing must be at least 0 and below 0.5"):
        tiny_config(label_smoothing=value)


def test_weight_decay_shrinks_the_kernels_and_leaves_batch_norm_alone(tiny_data_dir):
    def norms(training):
        return {v.path: float(np.linalg.norm(v.numpy())) for v in training.model.trainable_variables}
    _, _, plain = _train(tiny_data_dir, steps=40)
    _, _, decayed = _train(tiny_data_dir, steps=40, weight_decay=0.5)
    plain, decayed = norms(plain), norms(decayed)
    for name in ("layer_conv1/kernel", "layer_fc1/kernel", "layer_softmax/kernel"):
        assert decayed[name] < 0.98 * plain[name], name
    # Same seed, same batches: batch-norm's scale is not decayed, so it stays close to the plain run's.
    assert abs(decayed["layer_conv1_bn/gamma"] - plain["layer_conv1_bn/gamma"]) < 0.05 * plain["layer_conv1_bn/gamma"]


def test_weight_decay_outside_its_range_is_refused():
    with pytest.raises(ValueError, match="weight_decay must be between 0 and 1"):
        tiny_config(weight_decay=2.0)
