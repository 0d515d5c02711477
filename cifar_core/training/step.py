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
from cifar_core.augment import CROP_SIZE
from cifar_core.config import PRECISIONS
from cifar_core.insights import embedding
from cifar_core.insights.inference import accuracy_and_loss
from cifar_core.model import build_model


class TrainingStep:
    """The network being trained, its optimizer and one compiled step of `config.batch_size` images."""

    def __init__(self, config, dataset):
        self.config = config
        self.dataset = dataset
        keras.utils.set_random_seed(config.seed)  # the initial weights follow the seed
        self.precision = resolve_precision(config.precision)
        # bfloat16 training (measured 1.5x the float32 step on a CPU with AVX512-BF16), float16 on a GPU;
        # the test-set answers come from a float32 twin, so they match what the pages compute from a checkpoint.
        dtype = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}.get(self.precision, "float32")
        self.model = build_model(config.model, dtype=dtype)
        self._float32_model = build_model(config.model) if self.precision != "float32" else self.model
        self._with_fc2 = embedding.with_fc2(self._float32_model)  # same layers: [fc2, probabilities] in one pass
        # The test passes call the float32 twin compiled once (the same answers to the bit as calling it layer
        # by layer, measured; a pass over the 10,000 test images took 1.0 s instead of 1.4 s on a Zen 5).
        self._compiled_with_fc2 = CompiledInference(self._with_fc2)
        self._test_pass = None  # (step, TestPass): the last full pass over the test set
        # What checkpoints save, at any precision. Weight decay (AdamW's, decoupled from the gradients) adds no
        # state: a run with it resumes from, and into, a checkpoint of a run without.
        self.optimizer = keras.optimizers.Adam(config.learning_rate, weight_decay=config.weight_decay or None)
        if config.weight_decay:  # the kernels only: batch-norm's scale and shift, and biases, are left alone
            self.optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        self.optimizer.build(self.model.trainable_variables)
        # float16 gradients underflow without loss scaling (Keras requires it for mixed_float16). The scaler
        # wraps Adam and is not saved: a checkpoint holds Adam alone, so a run trained on a GPU goes on on a
        # CPU and back. On resume the scale starts again at 2**15 and halves within a few steps if too high.
        self._loss_scaler = None
        if self.precision == "float16":
            self._loss_scaler = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self._loss_scaler.build(self.model.trainable_variables)
        # What the optimizer minimises (with label smoothing, if any); the loss reported (and charted beside the
        # test loss) is the plain cross-entropy either way, so charts of runs with and without it compare.
        self._training_loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        self._loss = keras.losses.SparseCategoricalCrossentropy()
        self._step_fn = tf.function(self._train_step)  # XLA (jit_compile) measured slower on CPU here
        self._rng = np.random.default_rng(config.seed)
        # On a GPU the training set stays there (uploaded once): only a batch's indices cross the bus each
        # step. As float16, whose integers 0..255 are exact: TensorFlow's GPU gather has no uint8 kernel.
        self._gpu_train_set = None
        if tf.config.list_physical_devices("GPU"):
            with tf.device("/GPU:0"):  # (50000, 32, 32, 3) float16: 307 MB; labels (50000,) int64
                self._gpu_train_set = (tf.identity(dataset.train_images.astype(np.float16)),
                                       tf.identity(dataset.train_labels))
            self._gpu_step_fn = tf.function(self._train_step_on_gpu)

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
        if self._gpu_train_set is not None:
            accuracy, loss = self._gpu_step_fn(index, seed)
        else:
            accuracy, loss = self._step_fn(self.dataset.train_images[index], self.dataset.train_labels[index], seed)
        return float(accuracy), float(loss)

    def _train_step_on_gpu(self, index, seed):
        # index: (B,) int64 rows of the training set kept on the GPU
        images, labels = self._gpu_train_set
        return self._train_step(tf.gather(images, index), tf.gather(labels, index), seed)

    def _train_step(self, images, labels, seed):
        # images: (B, 32, 32, 3) uint8 (float16 on a GPU: the same values); labels: (B,) int64
        x = augment.distort(images, seed, self.config.distortions)  # (B, 24, 24, 3) float32
        with tf.GradientTape() as tape:
            probabilities = self.model(x, training=True)
            loss = self._loss(labels, probabilities)
            if self.config.label_smoothing:
                minimised = self._training_loss(tf.one_hot(labels, probabilities.shape[-1]), probabilities)
            else:
                minimised = loss
            if self._loss_scaler is not None:
                scaled_loss = self._loss_scaler.scale_loss(minimised)
        if self._loss_scaler is None:
            gradients = tape.gradient(minimised, self.model.trainable_variables)
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
        else:
            step = tf.identity(self.optimizer.iterations)
            gradients = tape.gradient(scaled_loss, self.model.trainable_variables)
            # Unscaled, then applied by Adam; a batch whose float16 gradients overflowed is skipped (the scale
            # halves), but still counts as a step, so that the step is the count of batches as on a CPU.
            self._loss_scaler.apply_gradients(zip(gradients, self.model.trainable_variables))
            self.optimizer.iterations.assign(step + 1)
        hits = tf.equal(tf.argmax(probabilities, axis=1), labels)
        return tf.reduce_mean(tf.cast(hits, tf.float32)), loss

    def test_probabilities(self, between_batches=None):
        """(N, 10) float32 class probabilities of the whole test set, centre-cropped."""
        return self.test_pass(between_batches).probabilities

    def test_pass(self, between_batches=None):
        """The whole test set through the network, once per step (~1 s for 10,000 images): a TestPass of
        its probabilities (N, 10) and fc2 activations (N, 128). The checkpoint hooks all read this one pass.
        between_batches: called between two batches of it (the job's StepAside), if given."""
        if self._test_pass is None or self._test_pass[0] != self.step:
            self._evaluation_model()  # the float32 twin gets the weights; _with_fc2 shares its layers
            self._test_pass = (self.step, embedding.test_pass(
                self._compiled_with_fc2, self.dataset.test_images, between_batches=between_batches))
        return self._test_pass[1]

    def evaluate(self, count=None):
        """(accuracy 0..1, mean loss) on the first `count` test images (all when None), centre-cropped."""
        self._evaluation_model()  # the float32 twin gets the weights; _with_fc2 shares its layers
        images = self.dataset.test_images[:count]
        probabilities = embedding.test_pass(self._compiled_with_fc2, images).probabilities
        return accuracy_and_loss(probabilities, self.dataset.test_labels[:count])

    def _evaluation_model(self):
        if self._float32_model is not self.model:
            self._float32_model.set_weights(self.model.get_weights())  # ~0.7M floats: about a millisecond
        return self._float32_model


class CompiledInference:
    """`model(images, training=False)` as one compiled TensorFlow function, traced once for any batch size
    (images: (B, 24, 24, 3) float32). It reads the model's variables when called, so new weights count."""

    def __init__(self, model):
        self._call = tf.function(lambda images: model(images, training=False),
                                 input_signature=[tf.TensorSpec([None, CROP_SIZE, CROP_SIZE, 3], tf.float32)])

    def __call__(self, images, training=False):
        return self._call(images)


def resolve_precision(setting):
    """What a TrainConfig.precision setting means on this machine: "float16", "bfloat16" or "float32"."""
    return choose_precision(setting, len(tf.config.list_physical_devices("GPU")), cpu_computes_bfloat16())


def choose_precision(setting, gpus, cpu_has_bf16):
    """The maths a run computes in: "float16", "bfloat16" or "float32" (the weights always stay float32).

    setting: a TrainConfig.precision; an explicit "float32" or "bfloat16" is kept. "auto" is float16 on a
    GPU (`gpus`: how many TensorFlow sees; Keras' mixed_float16, the GPU's tensor cores), else bfloat16 on a
    CPU that computes it natively (`cpu_has_bf16`: cpu_computes_bfloat16()), else float32."""
    if setting not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {setting!r}")
    if setting != "auto":
        return setting
    if gpus:
        return "float16"
    return "bfloat16" if cpu_has_bf16 else "float32"


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

