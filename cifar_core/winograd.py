"""conv2's training convolution computed with Winograd's minimal filtering, F(4x4, 5x5).

A 5x5 convolution costs 25 multiply-adds per output value and input channel. Winograd's method cuts
each 8x8 tile of the padded input into 64 transformed values, multiplies them by the transformed
kernel one position at a time (64 small matrix products over the channels), and turns the products
back into the tile's 4x4 outputs: 4 multiply-adds per output instead of 25. The transforms are
matrix products too, with fixed 0/±1/±2^k matrices. On conv2 (a batch of 256: 12x12x64 in, 12x12x64
out) the forward and backward passes together took ~80 ms instead of ~185 ms with oneDNN's own float32
convolution on an AVX2-only AMD Zen 3 (benchmarks/train_throughput.py shows the whole step). It
pays where there are many input channels: on conv1's 3 it was slower, so conv1 keeps Keras' conv.

Float32 only: the transforms multiply values by up to ~20, which float32 absorbs (results agree with
the direct convolution to ~1e-5 of the largest output) but bfloat16's 8 bits do not (~0.1 off).
Where the network computes in bfloat16 or float16, Keras' own convolution runs unchanged.

Shapes: images (N, H, W, C) with H and W multiples of 4, kernel (5, 5, C, K), output (N, H, W, K).
"""
from fractions import Fraction
from functools import cache

import numpy as np
import tensorflow as tf
from keras import layers

TILE_OUTPUT = 4   # m: outputs per tile side
KERNEL = 5        # r: the kernel's side
TILE_INPUT = TILE_OUTPUT + KERNEL - 1   # 8: inputs per tile side
# The points where the tile's polynomials are evaluated (and infinity): small and symmetric, so the
# transforms' entries stay small and float32 keeps the results close to the direct convolution's.
POINTS = (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2))


@cache
def transform_matrices():
    """(A^T (4, 8), G (8, 5), B^T (8, 8)) for 1-D correlation: y = A^T [(G g) * (B^T d)] for a kernel
    g (5,) over 8 inputs d, giving 4 outputs y_i = sum_k d[i + k] g[k] (Lavin and Gray, 2015)."""
    points = [Fraction(p) for p in POINTS]
    a_t = np.zeros((TILE_OUTPUT, TILE_INPUT))
    g = np.zeros((TILE_INPUT, KERNEL))
    for j, p in enumerate(points):
        scale = np.prod([p - q for q in points if q != p])
        a_t[:, j] = [float(p ** i) for i in range(TILE_OUTPUT)]
        g[j] = [float(p ** k / scale) for k in range(KERNEL)]
    a_t[TILE_OUTPUT - 1, -1] = g[-1, KERNEL - 1] = 1.0   # the point at infinity
    # B^T is what makes the identity hold for every d and g: sum_j A^T[i, j] G[j, k] B^T[j, l] = [l == i + k],
    # a linear system in B^T's 64 entries with an exact solution.
    equations, targets = [], []
    for i in range(TILE_OUTPUT):
        for k in range(KERNEL):
            for l in range(TILE_INPUT):
                row = np.zeros((TILE_INPUT, TILE_INPUT))
                row[:, l] = a_t[i] * g[:, k]
                equations.append(row.ravel())
                targets.append(float(l == i + k))
    b_t = np.linalg.lstsq(np.array(equations), np.array(targets), rcond=None)[0].reshape(TILE_INPUT, TILE_INPUT)
    return a_t, g, b_t


@cache
def _tiled_transforms(size):
    """For an image side `size` (a multiple of 4), (T (8t, size + 4), S (size, 8t)) with t = size / 4 tiles:
    T @ padded rows gives every tile's transformed rows, ordered (transformed position, tile); S @ products
    gives the output rows back, ordered as the image's. One matrix product per image axis, no gathers."""
    a_t, _, b_t = transform_matrices()
    tiles = size // TILE_OUTPUT
    to_tiles = np.zeros((TILE_INPUT * tiles, size + KERNEL - 1))
    from_tiles = np.zeros((size, TILE_INPUT * tiles))
    for t in range(tiles):
        first = t * TILE_OUTPUT
        for position in range(TILE_INPUT):
            to_tiles[position * tiles + t, first:first + TILE_INPUT] = b_t[position]
            from_tiles[first:first + TILE_OUTPUT, position * tiles + t] = a_t[:, position]
    return to_tiles, from_tiles


def conv2d_5x5_same(images, kernel):
    """The same as tf.nn.conv2d(images, kernel, 1, "SAME") for float32 images (N, H, W, C) with H, W
    multiples of 4 and a kernel (5, 5, C, K), computed as matrix products; differentiable (the backward
    passes are matrix products too)."""
    height, width, channels = images.shape[1:]
    filters = kernel.shape[-1]
    tiles_h, tiles_w = height // TILE_OUTPUT, width // TILE_OUTPUT
    to_rows, from_rows = (tf.constant(m, tf.float32) for m in _tiled_transforms(height))
    to_cols, from_cols = (tf.constant(m, tf.float32) for m in _tiled_transforms(width))
    _, g, _ = transform_matrices()
    g = tf.constant(g, tf.float32)
    n = tf.shape(images)[0]
    pad = KERNEL // 2
    # (H + 4, W + 4, N, C): image rows first, so each transform is one plain matrix product
    x = tf.pad(tf.transpose(images, [1, 2, 0, 3]), [[pad, pad], [pad, pad], [0, 0], [0, 0]])
    x = tf.matmul(to_rows, tf.reshape(x, [height + 2 * pad, -1]))                 # (8 th, (W + 4) N C)
    x = tf.matmul(to_cols[None], tf.reshape(x, [TILE_INPUT * tiles_h, width + 2 * pad, -1]))  # (8 th, 8 tw, N C)
    x = tf.reshape(x, [TILE_INPUT, tiles_h, TILE_INPUT, tiles_w * n, channels])
    u = tf.einsum("ak,klcf,bl->abcf", g, kernel, g)[:, None]                       # (8, 1, 8, C, K)
    # repeated per row of tiles (a few MB): matmul's broadcasting ran the products ~20% slower
    u = tf.broadcast_to(u, [TILE_INPUT, tiles_h, TILE_INPUT, channels, filters])
    products = tf.matmul(x, u)                                                       # (8, th, 8, tw N, K)
    y = tf.matmul(from_rows, tf.reshape(products, [TILE_INPUT * tiles_h, -1]))      # (H, 8 tw N K)
    y = tf.matmul(from_cols[None], tf.reshape(y, [height, TILE_INPUT * tiles_w, -1]))  # (H, W, N K)
    return tf.transpose(tf.reshape(y, [height, width, n, filters]), [2, 0, 1, 3])


class WinogradConv2D(layers.Conv2D):
    """Keras' Conv2D, training a 5x5 "same" float32 convolution with conv2d_5x5_same.

    Same variables and names, so checkpoints, filters pages and exports see an ordinary Conv2D.
    Inference, other precisions and any other shape go through Keras' own code, so every page's
    answers are computed exactly as before."""

    def call(self, inputs, training=None):
        if not (training and self._winograd_fits(inputs)):
            return super().call(inputs)
        outputs = conv2d_5x5_same(inputs, self.kernel)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def _winograd_fits(self, inputs):
        height, width = inputs.shape[1:3]
        return (self.compute_dtype == "float32" and tuple(self.kernel_size) == (KERNEL, KERNEL)
                and tuple(self.strides) == (1, 1) and tuple(self.dilation_rate) == (1, 1)
                and self.padding == "same" and self.groups == 1 and self.data_format == "channels_last"
                and height is not None and width is not None
                and height % TILE_OUTPUT == 0 and width % TILE_OUTPUT == 0)
