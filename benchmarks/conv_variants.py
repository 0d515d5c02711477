"""The two convolutions' training passes, computed different ways, side by side (float32).

For each way: the forward pass and the gradients training needs (conv2: its input's and its kernel's;
conv1: its kernel's only, the image needs none), at the default batch of 256, median milliseconds of
interleaved repeats, and how far its results are from oneDNN's direct convolution (largest absolute
difference, beside the largest value). The ways:
  conv2 (12x12x64 -> 64)  direct        tf.nn.conv2d (oneDNN's kernels)
                          winograd      cifar_core.winograd.conv2d_5x5_same, as the float32 step trains it
                          winograd_xla  the same function compiled by XLA (jit_compile=True)
  conv1 (24x24x3 -> 64)   direct        tf.nn.conv2d
                          im2col        tf.image.extract_patches, then one matrix product of 75-long patches

Ways that lose here were tried as ways to speed up the float32 step on CPUs without AVX-512; this
script keeps the evidence. Run it on a quiet machine.

    .venv/bin/python benchmarks/conv_variants.py [--repeats 15] [--batch 256]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cifar_core  # noqa: E402, F401, I001  (before TensorFlow: it turns oneDNN on)
import tensorflow as tf  # noqa: E402

from cifar_core.winograd import conv2d_5x5_same  # noqa: E402


def direct_conv(images, kernel):
    return tf.nn.conv2d(images, kernel, 1, "SAME")


def im2col_conv(images, kernel):
    """The same 5x5 "same" convolution as patches (N, H, W, 25 C) times the kernel (25 C, K)."""
    n, height, width, channels = images.shape
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]])
    patches = tf.image.extract_patches(padded, [1, 5, 5, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
    outputs = tf.matmul(tf.reshape(patches, [-1, 25 * channels]), tf.reshape(kernel, [25 * channels, -1]))
    return tf.reshape(outputs, [n, height, width, kernel.shape[-1]])


def training_pass(conv, kernel, input_gradient, jit_compile=False):
    """A compiled function (images, output gradient) -> the gradients training would take through `conv`."""
    @tf.function(jit_compile=jit_compile)
    def run(images, output_gradient):
        with tf.GradientTape() as tape:
            if input_gradient:
                tape.watch(images)
            loss = tf.reduce_sum(conv(images, kernel) * output_gradient)
        return tape.gradient(loss, [images, kernel] if input_gradient else [kernel])
    return run


def compare(title, shape, ways, input_gradient, repeats):
    images = tf.random.uniform(shape, seed=1)
    kernel = tf.Variable(tf.random.normal([5, 5, shape[-1], 64], stddev=0.1, seed=2))
    output_gradient = tf.random.normal(shape[:-1] + [64], seed=3)
    runs = {name: training_pass(conv, kernel, input_gradient, **options) for name, (conv, options) in ways.items()}
    reference = [g.numpy() for g in runs["direct"](images, output_gradient)]
    times = {name: [] for name in runs}
    for _ in range(3):  # tracing, compiling, oneDNN's kernel creation
        for run in runs.values():
            run(images, output_gradient)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            gradients = run(images, output_gradient)
            times[name].append(time.perf_counter() - start)
    print(f"\n{title}: forward + {'input and kernel' if input_gradient else 'kernel'} gradients, batch {shape[0]}")
    gradient_names = "input grad, kernel grad" if input_gradient else "kernel grad"
    print(f"  {'way':<14}{'ms':>8}  largest difference from direct ({gradient_names})")
    for name, run in runs.items():
        gradients = run(images, output_gradient)
        differences = ", ".join(f"{abs(g.numpy() - r).max():.2g} of {abs(r).max():.3g}"
                                for g, r in zip(gradients, reference))
        print(f"  {name:<14}{statistics.median(times[name]) * 1000:8.1f}  {differences}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    compare("conv2", [args.batch, 12, 12, 64],
            {"direct": (direct_conv, {}), "winograd": (conv2d_5x5_same, {}),
             "winograd_xla": (conv2d_5x5_same, {"jit_compile": True})}, input_gradient=True, repeats=args.repeats)
    compare("conv1", [args.batch, 24, 24, 3],
            {"direct": (direct_conv, {}), "im2col": (im2col_conv, {})}, input_gradient=False, repeats=args.repeats)


if __name__ == "__main__":
    main()
