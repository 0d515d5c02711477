"""Why the network gave its answer for one image: four maps of where in the image that answer comes from.

    gradcam               which region: conv2's maps weighted by how much each raises the class score
    smoothgrad            which pixels the score is most sensitive to (gradients averaged over noisy copies)
    integrated_gradients  how much of the score each pixel accounts for, counted from a black image
    occlusion             how much the score drops when a grey patch hides each place

All four explain the class *logit* (the score before the softmax): the probability saturates near 0 and 1,
so its gradients vanish exactly where the network is sure. Every map is in the coordinates of what the
network sees, the (24, 24) centre crop of the (32, 32) picture: crop pixel (r, c) is picture pixel
(r + CROP_ORIGIN, c + CROP_ORIGIN); the 4-pixel border never reaches the network.

Each function takes an InferenceModel (or anything with a `.model`: a Keras model whose last layer is a
Dense with a softmax, the class probabilities) and a (32, 32, 3) uint8 image; each batches its work
(noisy copies, path steps, patch positions) into one or a few forward passes.
"""
import weakref
from dataclasses import dataclass

import numpy as np

from cifar_core.architecture import IMAGE_SHAPE, LAYERS, conv

# Sizes from the layer table, not cifar_core.augment: importing this module must not import TensorFlow.
IMAGE_SIZE, CROP_SIZE = IMAGE_SHAPE[0], next(layer for layer in LAYERS if layer.kind == "crop").output_shape[0]
CROP_ORIGIN = (IMAGE_SIZE - CROP_SIZE) // 2  # 4: the crop's top-left pixel in the picture
GRADCAM_LAYER = conv("layer_conv2").maps_layer  # conv2's ReLU maps (12, 12, 64): the last, coarsest conv maps
LOGITS_LAYER = "layer_softmax"   # the Dense layer whose linear output (before its softmax) is explained
SMOOTHGRAD_SAMPLES = 16          # noisy copies, one batch: the speckle of single gradients averages out
SMOOTHGRAD_NOISE = 0.15          # noise std, as a fraction of the image's value range (the paper: 10-20%)
IG_STEPS = 32                    # points on the straight path from the black image, one batch
OCCLUSION_PATCH = 6              # grey square side, crop pixels: about an object part (an eye, a wheel)
OCCLUSION_STRIDE = 2             # patch positions every 2 pixels: 10 x 10 = 100 patched copies
OCCLUSION_GREY = 0.5             # the patch's value in every channel (mid grey)
METHODS = ("gradcam", "smoothgrad", "integrated_gradients", "occlusion")


@dataclass(frozen=True)
class Explanation:
    method: str          # one of METHODS
    class_index: int     # the class whose logit is explained
    logit: float         # that class's logit for the image
    values: np.ndarray   # (24, 24) float32, in the method's own units (see each function), crop coordinates
    heat: np.ndarray     # (24, 24) float32 in [0, 1]: the map to draw (its magnitude, 1 = the strongest place)


def explain(inference, image, method, class_index):
    """One of METHODS by name -> Explanation; ValueError listing the methods otherwise."""
    functions = {"gradcam": gradcam, "smoothgrad": smoothgrad, "integrated_gradients": integrated_gradients,
                 "occlusion": occlusion}
    if method not in functions:
        raise ValueError(f"method {method!r} not known; methods are: {', '.join(METHODS)}")
    return functions[method](inference, image, class_index)


def gradcam(inference, image, class_index, layer=GRADCAM_LAYER):
    """Grad-CAM at `layer`: each of its maps weighted by the mean gradient of the class logit over that map,
    summed, ReLU (only what raises the score), bilinearly upsampled to the crop (12x12 -> 24x24).
    values: that upsampled sum, in logit units per map unit."""
    import tensorflow as tf

    x = _crop(image)  # (1, 24, 24, 3)
    with tf.GradientTape() as tape:
        maps, logits = _forward(inference.model, x, layer)  # (1, h, w, C), (1, 10)
        logit = logits[:, class_index]
    grads = tape.gradient(logit, maps)  # (1, h, w, C)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # (1, 1, 1, C): one weight per map
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))  # (1, h, w, 1)
    values = tf.image.resize(cam, x.shape[1:3], method="bilinear")[0, :, :, 0].numpy()
    return _explanation("gradcam", class_index, logit, values, values)


def smoothgrad(inference, image, class_index, samples=SMOOTHGRAD_SAMPLES, noise=SMOOTHGRAD_NOISE, seed=0):
    """SmoothGrad saliency: the gradient of the class logit with respect to the pixels, averaged over
    `samples` copies of the crop with Gaussian noise added, largest over the 3 colours.
    values: |mean gradient| in logit units per unit of pixel value (0..1). Same seed, same map."""
    x = _crop(image)  # (1, 24, 24, 3)
    sigma = noise * max(float(np.ptp(x)), 1e-3)
    noisy = x + np.random.default_rng(seed).normal(0.0, sigma, (samples, CROP_SIZE, CROP_SIZE, 3))
    # One batch: the noisy copies, then the image itself for its logit.
    logits, grads = _logit_and_gradient(inference.model, np.concatenate([noisy, x]).astype(np.float32), class_index)
    values = np.abs(grads[:-1].mean(axis=0)).max(axis=-1)
    return _explanation("smoothgrad", class_index, logits[-1], values, values)


def integrated_gradients(inference, image, class_index, steps=IG_STEPS):
    """Integrated gradients from the black image: (pixel - 0) times the gradient of the class logit averaged
    along the straight path from black to the crop (midpoint rule, `steps` points), summed over colours.
    values: signed attributions in logit units; they add up to logit(crop) - logit(black) (to within the
    `steps` approximation). heat: their magnitude."""
    x = _crop(image)  # (1, 24, 24, 3)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)[:, None, None, None]  # (steps, 1, 1, 1)
    # One batch: the path's points, then the image itself for its logit.
    logits, grads = _logit_and_gradient(inference.model, np.concatenate([alphas * x, x]), class_index)
    values = (x[0] * grads[:-1].mean(axis=0)).sum(axis=-1)
    return _explanation("integrated_gradients", class_index, logits[-1], values, np.abs(values))


def occlusion(inference, image, class_index, patch=OCCLUSION_PATCH, stride=OCCLUSION_STRIDE):
    """Occlusion: a grey `patch` x `patch` square slid over the crop every `stride` pixels, all positions in
    one batch. values: for each pixel, the mean drop of the class logit over the patches that cover it
    (logit units; negative where hiding it raises the score). heat: the drops, negatives as 0."""
    x = _crop(image)[0]  # (24, 24, 3)
    starts = range(0, CROP_SIZE - patch + 1, stride)
    places = [(r, c) for r in starts for c in starts]
    batch = np.repeat(x[None], len(places) + 1, axis=0)  # the last copy stays whole: the reference logit
    for i, (r, c) in enumerate(places):
        batch[i, r:r + patch, c:c + patch] = OCCLUSION_GREY
    logits = _logits(inference.model, batch)[:, class_index]  # (positions + 1,)
    drop_sum, covers = np.zeros((CROP_SIZE, CROP_SIZE)), np.zeros((CROP_SIZE, CROP_SIZE))
    for (r, c), drop in zip(places, logits[-1] - logits[:-1]):
        drop_sum[r:r + patch, c:c + patch] += drop
        covers[r:r + patch, c:c + patch] += 1
    values = drop_sum / np.maximum(covers, 1)
    return _explanation("occlusion", class_index, logits[-1], values, np.maximum(values, 0.0))


def _crop(image):
    """(32, 32, 3) uint8 -> (1, 24, 24, 3) float32 in [0, 1], exactly what the network sees."""
    from cifar_core.augment import centre_crop

    return centre_crop(np.asarray(image, np.uint8)[None]).numpy()


def _explanation(method, class_index, logit, values, magnitude):
    values, magnitude = np.asarray(values, np.float32), np.asarray(magnitude, np.float32)
    peak = float(magnitude.max())
    heat = magnitude / peak if peak > 0 else np.zeros_like(magnitude)  # an all-zero map stays all zero
    return Explanation(method, int(class_index), float(np.asarray(logit).reshape(-1)[0]), values, heat)


# One helper Keras model per network and layer, built on first use (~10 ms) and kept while the network lives.
_PARTS = weakref.WeakKeyDictionary()


def _forward(model, x, layer=None):
    """(B, 24, 24, 3) -> (layer's maps (B, h, w, C), or None without a layer; (B, 10) logits: the last Dense's
    linear output, before its softmax). Call it inside a GradientTape to take gradients of either."""
    import keras
    import tensorflow as tf

    cache = _PARTS.setdefault(model, {})
    if layer not in cache:
        names = {each.name for each in model.layers}
        head = model.get_layer(LOGITS_LAYER) if LOGITS_LAYER in names else model.layers[-1]
        if layer is not None and layer not in names:
            raise ValueError(f"layer {layer!r} not found in the network; its layers are: {', '.join(sorted(names))}")
        outputs = [model.get_layer(layer).output, head.input] if layer else head.input
        cache[layer] = keras.Model(model.input, outputs), head
    parts, head = cache[layer]
    out = parts(x, training=False)
    maps, features = out if layer else (None, out)
    logits = tf.matmul(features, head.kernel)
    return maps, (logits + head.bias if head.use_bias else logits)


def _logits(model, images):
    """(B, 24, 24, 3) float32 -> (B, 10) numpy logits."""
    return _forward(model, images)[1].numpy()


def _logit_and_gradient(model, images, class_index):
    """(B, 24, 24, 3) float32 -> ((B,) the class logit, (B, 24, 24, 3) its gradient w.r.t. each image's pixels);
    each image's logit depends only on that image, so one backward pass gives all B gradients."""
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = _forward(model, x)[1][:, class_index]
    return logit.numpy(), tape.gradient(logit, x).numpy()
