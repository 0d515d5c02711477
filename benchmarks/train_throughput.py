"""Training images/second: the project's training step against a plain Keras baseline.

Baseline (what the issue measured at 600-800 images/s): a `tf.data` pipeline that
applies the notebook's distortions per image with `map(num_parallel_calls=AUTOTUNE)`,
same network, same distortions, Adam, the default preset's batch (256; --batch to change), trained two ways:
  baseline_fit   `model.fit(pipeline, steps_per_epoch=steps)`, as the issue measured it
                 (each repeat is one fit call, so it pays fit's start-up once per repeat);
  baseline_step  `train_on_batch` on batches pulled from the same pipeline: the bare
                 Keras step without fit's start-up, which favours the baseline.
Project: `cifar_core.training.step.TrainingStep.train_batch`, the step the
background job runs (distortions batched inside the compiled step, fused batch-norm):
  project          as it trains on this machine: precision "auto" (bfloat16 maths where the CPU
                   does them natively, float32 otherwise; the line "precision" says which);
  project_float32  the same step in float32, to show what bfloat16 adds;
  project_float32_direct_conv2  and with conv2 as oneDNN computes it, to show what
                   Winograd's method (cifar_core.winograd) adds in float32.

Both run in this one process, alternating, several repeats; medians and their
ratio are printed. The machine is shared and noisy: compare only numbers from
one run.

    .venv/bin/python benchmarks/train_throughput.py [--repeats 5] [--steps 60] [--batch 256] [--data-dir D]
"""
import argparse
import os
import statistics
import time
from dataclasses import replace
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# cifar_core first: it turns on TensorFlow's oneDNN kernels, which must happen before TensorFlow loads. Imported
# after keras, oneDNN stayed off on CPUs without AVX-512, for the project and the baseline both (on a Zen 3 the
# project's step measured 470 images/s instead of ~1,450).
import cifar_core  # noqa: E402, F401, I001
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cifar_core import augment, data  # noqa: E402
from cifar_core import model as model_module  # noqa: E402
from cifar_core.augment import CROP_SIZE  # noqa: E402
from cifar_core.config import Distortions, preset  # noqa: E402
from cifar_core.model import build_model  # noqa: E402
from cifar_core.training.step import TrainingStep  # noqa: E402

def baseline_pipeline(images, labels, d, batch):
    """The usual way: one image at a time through tf.image's random ops."""
    def distort_one(image, label):
        x = tf.image.random_crop(tf.cast(image, tf.float32) / 255.0, (CROP_SIZE, CROP_SIZE, 3))
        x = tf.image.random_flip_left_right(x)
        x = tf.image.random_hue(x, d.hue)
        x = tf.image.random_contrast(x, *d.contrast)
        x = tf.image.random_brightness(x, d.brightness)
        x = tf.image.random_saturation(x, *d.saturation)
        return tf.clip_by_value(x, 0.0, 1.0), label

    return (tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(10_000).repeat()
            .map(distort_one, num_parallel_calls=tf.data.AUTOTUNE).batch(batch).prefetch(tf.data.AUTOTUNE))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="batches per timed repeat")
    parser.add_argument("--batch", type=int, default=preset("default").batch_size, help="images per batch")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    BATCH = args.batch  # noqa: N806 (a constant for this run)

    dataset = data.load_dataset(args.data_dir)
    config = preset("default", batch_size=BATCH, distortions=Distortions())  # the notebook's distortions

    model = build_model(config.model, plain_keras=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    pipeline = baseline_pipeline(dataset.train_images, dataset.train_labels, config.distortions, BATCH)
    stream = iter(pipeline)

    def baseline_fit(steps):
        model.fit(pipeline, steps_per_epoch=steps, epochs=1, verbose=0)

    def baseline_step(steps):
        for _ in range(steps):
            x, y = next(stream)
            model.train_on_batch(x, y)

    training = TrainingStep(config, dataset)
    float32_training = TrainingStep(replace(config, precision="float32"), dataset)
    with mock.patch.object(model_module, "WinogradConv2D", keras.layers.Conv2D):  # conv2 as oneDNN computes it
        direct_conv_training = TrainingStep(replace(config, precision="float32"), dataset)

    def project(training_step):
        def train(steps):
            for _ in range(steps):
                training_step.train_batch(0)
        return train

    def timed(fn, steps):
        start = time.perf_counter()
        fn(steps)
        return steps * BATCH / (time.perf_counter() - start)

    distort = tf.function(augment.distort)
    rng = np.random.default_rng(0)

    def distortions_only(steps):  # where the time goes: the project's distortions without the network
        for step in range(steps):
            index = rng.integers(0, len(dataset.train_labels), BATCH)
            distort(dataset.train_images[index], tf.constant([0, step]), config.distortions).numpy()

    contenders = {"baseline_fit": baseline_fit, "baseline_step": baseline_step, "project": project(training),
                  "project_float32": project(float32_training),
                  "project_float32_direct_conv2": project(direct_conv_training), "distortions_only": distortions_only}
    for fn in contenders.values():  # warm-up: graph tracing, tf.data buffers
        fn(10)
    results = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, fn in contenders.items():
            results[name].append(timed(fn, args.steps))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in results.items()), flush=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"median images/second over {args.repeats} repeats of {args.steps} batches of {BATCH}: "
          + ", ".join(f"{k} {v:.0f}" for k, v in medians.items()))
    print(f"the project's distortions take {medians['project'] / medians['distortions_only']:.0%} of its step")
    print(f"ratio project / baseline_fit: {medians['project'] / medians['baseline_fit']:.2f}x; "
          f"project / baseline_step: {medians['project'] / medians['baseline_step']:.2f}x")
    print(f"precision of the project's step on this machine: {training.precision}")
    print(f"(tf threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
          f"cores {os.cpu_count()}; numpy {np.__version__}, tensorflow {tf.__version__})")


if __name__ == "__main__":
    main()
