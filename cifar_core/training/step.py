"""One run's TensorFlow side: the model, Adam, the compiled training step, evaluation.

Kept apart from job.py (threads, state, checkpoints) so that module needs
no TensorFlow at import time, and so benchmarks can time the bare step.
"""
import os
import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cifar_core import augment
from cifar_core.insights import embedding
from cifar_core.insights.inference import accuracy_and_loss, predict_probabilities
from cifar_core.model import build_model


class TrainingStep:
    """The network being trained, its optimizer and one compiled step of `config.batch_size` images."""

    def __init__(self, config, dataset):
        self.config = config
        self.dataset = dataset
        keras.utils.set_random_seed(config.seed)  # the initial weights follow the seed
        self.precision = resolve_precision(config.precision)
        # bfloat16 training (measured 1.5x the float32 step on a CPU with AVX512-BF16); the test-set
        # answers come from a float32 twin, so they match what the pages compute from a checkpoint.
        dtype = "mixed_bfloat16" if self.precision == "bfloat16" else "float32"
        self.model = build_model(config.model, dtype=dtype)
        self._float32_model = build_model(config.model) if self.precision == "bfloat16" else self.model
        self._with_fc2 = embedding.with_fc2(self._float32_model)  # same layers: [fc2, probabilities] in one pass
        self._test_pass = None  # (step, TestPass): the last full pass over the test set
        self.optimizer = keras.optimizers.Adam(config.learning_rate)
        self.optimizer.build(self.model.trainable_variables)
        self._loss = keras.losses.SparseCategoricalCrossentropy()
        self._step_fn = tf.function(self._train_step)  # XLA (jit_compile) measured slower on CPU here
        self._rng = np.random.default_rng(config.seed)

    @property
    def step(self):
        """The global step: Adam's iteration count, so it is saved and restored with the optimizer."""
        return int(self.optimizer.iterations.numpy())

    def restore(self, checkpoint):
        """Continue from a Checkpoint: its weights, Adam's state and so its step."""
        checkpoint.restore(self.model, self.optimizer)
        self._test_pass = None
        self._rng = np.random.default_rng([self.config.seed, self.step])  # do not replay the same batches

    def train_batch(self, start_step):
        """One batch of `batch_size` random training images, on the schedule of a run that started at
        `start_step`. Returns (batch accuracy, loss)."""
        c = self.config
        self.optimizer.learning_rate.assign(c.learning_rate_at(self.step - start_step))
        index = self._rng.integers(0, len(self.dataset.train_labels), c.batch_size)
        seed = tf.constant([c.seed, self.step], tf.int32)
        accuracy, loss = self._step_fn(self.dataset.train_images[index], self.dataset.train_labels[index], seed)
        return float(accuracy), float(loss)

    def _train_step(self, images, labels, seed):
        # images: (B, 32, 32, 3) uint8; labels: (B,) int64
        x = augment.distort(images, seed, self.config.distortions)  # (B, 24, 24, 3) float32
        with tf.GradientTape() as tape:
            probabilities = self.model(x, training=True)
            loss = self._loss(labels, probabilities)
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
        hits = tf.equal(tf.argmax(probabilities, axis=1), labels)
        return tf.reduce_mean(tf.cast(hits, tf.float32)), loss

    def test_probabilities(self):
        """(N, 10) float32 class probabilities of the whole test set, centre-cropped."""
        return self.test_pass().probabilities

    def test_pass(self):
        """The whole test set through the network, once per step (~1 s for 10,000 images): a TestPass of
        its probabilities (N, 10) and fc2 activations (N, 128). The checkpoint hooks all read this one pass."""
        if self._test_pass is None or self._test_pass[0] != self.step:
            self._evaluation_model()  # the float32 twin gets the weights; _with_fc2 shares its layers
            self._test_pass = (self.step, embedding.test_pass(self._with_fc2, self.dataset.test_images))
        return self._test_pass[1]

    def evaluate(self, count=None):
        """(accuracy 0..1, mean loss) on the first `count` test images (all when None), centre-cropped."""
        probabilities = predict_probabilities(self._evaluation_model(), self.dataset.test_images[:count])
        return accuracy_and_loss(probabilities, self.dataset.test_labels[:count])

    def _evaluation_model(self):
        if self._float32_model is not self.model:
            self._float32_model.set_weights(self.model.get_weights())  # ~0.7M floats: about a millisecond
        return self._float32_model


def resolve_precision(setting):
    """What a TrainConfig.precision setting means on this machine: "bfloat16" or "float32"."""
    if setting != "auto":
        return setting
    return "bfloat16" if cpu_computes_bfloat16() else "float32"


def cpu_computes_bfloat16():
    """True on x86 CPUs with bfloat16 dot-product instructions that TensorFlow's oneDNN kernels use.

    Elsewhere (older CPUs, Apple silicon, oneDNN turned off) bfloat16 is emulated and slower than
    float32, so "auto" stays float32. Linux only: other systems are not measured and stay float32."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None

