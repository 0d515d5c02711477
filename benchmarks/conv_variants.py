"""The two convolutions' training passes, computed different ways, side by side (float32; and bfloat16).

For each way: the forward pass and the gradients training needs (conv2: its input's and its kernel's;
conv1: its kernel's only, the image needs none), at the default batch of 256, median milliseconds of
interleaved repeats, and how far its results are from oneDNN's direct convolution (largest absolute
difference, beside the largest value). The ways:
  conv2 (12x12x64 -> 64)  direct        tf.nn.conv2d (oneDNN's kernels)
                          winograd      cifar_core.winograd.conv2d_5x5_same, as the float32 step trains it
                          winograd_xla  the same function compiled by XLA (jit_compile=True)
  conv1 (24x24x3 -> 64)   direct        tf.nn.conv2d
                          im2col        tf.image.extract_patches, then one matrix product of 75-long patches

  conv2's kernel gradient alone, in bfloat16 (the largest share of the bfloat16 step, in oneDNN's older
  jit_bf16 kernel, while its forward pass runs a faster brgemm one; benchmarks/step_profile.py):
                          direct        Conv2DBackpropFilter (oneDNN's kernel, what training runs)
                          as_forward    a forward convolution: the padded input with images and channels
                                        swapped, convolved "valid" with the output gradient as a 12x12 kernel
                          as_matmul     5 matrix products, one per kernel row, of the input's 5 shifted
                                        columns side by side (N 12 12, 5 x 64) with the output gradient

Ways that lose here were tried as ways to speed up the step (float32 on CPUs without AVX-512, bfloat16
on those with AVX512-BF16); this script keeps the evidence. Run it on a quiet machine.

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


def median_times(runs, arguments, repeats):
    """{name: median seconds} of each run(*arguments), the runs interleaved `repeats` times after 3 rounds of
    warm-up (tracing, compiling, oneDNN's kernel creation). On a CPU a call returns once its results exist."""
    for _ in range(3):
        for run in runs.values():
            run(*arguments)
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run(*arguments)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def compare(title, shape, ways, input_gradient, repeats):
    images = tf.random.uniform(shape, seed=1)
    kernel = tf.Variable(tf.random.normal([5, 5, shape[-1], 64], stddev=0.1, seed=2))
    output_gradient = tf.random.normal(shape[:-1] + [64], seed=3)
    runs = {name: training_pass(conv, kernel, input_gradient, **options) for name, (conv, options) in ways.items()}
    reference = [g.numpy() for g in runs["direct"](images, output_gradient)]
    times = median_times(runs, (images, output_gradient), repeats)
    print(f"\n{title}: forward + {'input and kernel' if input_gradient else 'kernel'} gradients, batch {shape[0]}")
    gradient_names = "input grad, kernel grad" if input_gradient else "kernel grad"
    print(f"  {'way':<14}{'ms':>8}  largest difference from direct ({gradient_names})")
    for name, run in runs.items():
        gradients = run(images, output_gradient)
        differences = ", ".join(f"{abs(g.numpy() - r).max():.2g} of {abs(r).max():.3g}"
                                for g, r in zip(gradients, reference))
        print(f"  {name:<14}{times[name] * 1000:8.1f}  {differences}")


def kernel_gradient_direct(inputs, output_gradient):
    return tf.raw_ops.Conv2DBackpropFilter(input=inputs, filter_sizes=[5, 5, 64, 64],
                                           out_backprop=output_gradient, strides=[1, 1, 1, 1], padding="SAME")


def kernel_gradient_as_forward(inputs, output_gradient):
    # inputs (N, 12, 12, 64), output_gradient (N, 12, 12, 64) -> kernel gradient (5, 5, 64, 64)
    padded = tf.pad(inputs, [[0, 0], [2, 2], [2, 2], [0, 0]])
    swapped = tf.transpose(padded, [3, 1, 2, 0])            # (64 input channels, 16, 16, N)
    as_kernel = tf.transpose(output_gradient, [1, 2, 0, 3])  # (12, 12, N, 64 output channels)
    return tf.transpose(tf.nn.conv2d(swapped, as_kernel, 1, "VALID"), [1, 2, 0, 3])


def kernel_gradient_as_matmul(inputs, output_gradient):
    padded = tf.pad(inputs, [[0, 0], [2, 2], [2, 2], [0, 0]])
    gradient = tf.reshape(output_gradient, [-1, 64])         # (N 12 12, 64)
    rows = []
    for row in range(5):  # (N, 12, 12, 5 x 64): the 5 shifts of this kernel row side by side
        shifted = tf.concat([padded[:, row:row + 12, column:column + 12] for column in range(5)], axis=-1)
        rows.append(tf.matmul(tf.reshape(shifted, [-1, 5 * 64]), gradient, transpose_a=True))  # (5 x 64, 64)
    return tf.reshape(tf.stack(rows), [5, 5, 64, 64])


def compare_kernel_gradient(batch, repeats):
    inputs = tf.cast(tf.random.uniform([batch, 12, 12, 64], seed=1), tf.bfloat16)
    output_gradient = tf.cast(tf.random.normal([batch, 12, 12, 64], seed=3), tf.bfloat16)
    runs = {name: tf.function(way) for name, way in (("direct", kernel_gradient_direct),
                                                      ("as_forward", kernel_gradient_as_forward),
                                                      ("as_matmul", kernel_gradient_as_matmul))}
    reference = tf.cast(runs["direct"](inputs, output_gradient), tf.float32).numpy()
    times = median_times(runs, (inputs, output_gradient), repeats)
    print(f"\nconv2's kernel gradient in bfloat16, batch {batch}")
    print(f"  {'way':<14}{'ms':>8}  largest difference from direct")
    for name, run in runs.items():
        difference = abs(tf.cast(run(inputs, output_gradient), tf.float32).numpy() - reference).max()
        print(f"  {name:<14}{times[name] * 1000:8.1f}  {difference:.2g} of {abs(reference).max():.3g}")


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
    compare_kernel_gradient(args.batch, args.repeats)


if __name__ == "__main__":
    main()
