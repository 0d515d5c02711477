"""What one filter looks for (arrays only): the test-image patches that excite it most, and an input optimised
to excite it (activation maximisation); both computed in a background thread and kept, so a page never waits.

The notebook's own question: "see if we can find any correlation between some of the outputs and the
original class" - `TopPatches.tally` says which classes a filter's strongest images are.
TensorFlow is imported only inside the functions that run a network.
"""
import hashlib
import threading
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor, TimeoutError
from dataclasses import dataclass

import numpy as np

from cifar_core import architecture, foreground

SUBSET = 2000  # test images searched (the first ones): one network pass, 0.8-1.5 s on 2 cores, per checkpoint
CROP_OFFSET, CROP_SIZE = 4, 24  # the network sees the centre 24x24 of each 32x32 image (augment.centre_crop)
EVAL_BATCH = 500  # images per forward pass
STEP_ASIDE = foreground.StepAside(share=0.8)  # a page being drawn goes first: this never blocks one

# Each map position's receptive field in the 24x24 crop: (side, stride, offset), the square from
# stride * position - offset, side pixels wide. conv1: a 5x5 filter on the image (offset 2, "same" padding).
# conv2: a 5x5 filter on conv1's 2x2-pooled maps: map position p sees pooled p-2..p+2, i.e. conv1 positions
# 2p-4..2p+5, i.e. crop pixels 2p-6..2p+7: 14 pixels (5 + 2 * 4 + 1 for the pool's second row).
RECEPTIVE_FIELDS = {"layer_conv1": (5, 1, 2), "layer_conv2": (14, 2, 6)}

ASCENT_STEPS = 128  # gradient steps of activation maximisation: 0.2-0.5 s on 2 cores, + a one-off trace
ASCENT_RATE = 0.02  # each step moves pixels by about this much (0..1 scale), the gradient normalised
ASCENT_JITTER = 2   # random shift of the image in pixels each step, so no single pixel pattern is relied on
ASCENT_DECAY = 0.005  # L2 pull towards grey each step: pixels that do not matter fade out
ASCENT_BLUR = 0.25  # share of a 3x3 blur mixed in each step: smooth patterns, not one-pixel noise
ASCENT_LEAK = 0.1   # also push the pre-ReLU value: a filter silent on the start image still gets a gradient


@dataclass(frozen=True)
class LayerResponses:
    """One conv layer's strongest response in each image of the subset."""
    peak: np.ndarray   # (N, 64) float32: each filter's highest ReLU value in each image
    where: np.ndarray  # (N, 64) int32: where it is, as a flat index into the (H, W) map
    map_size: int      # H = W of the map: 24 (conv1) or 12 (conv2)


@dataclass(frozen=True)
class TopPatches:
    """The images whose receptive-field patch excites one filter most, one per image, strongest first."""
    layer_name: str
    filter_index: int
    indices: np.ndarray      # (count,) test image numbers
    labels: np.ndarray       # (count,) their classes
    activations: np.ndarray  # (count,) the filter's peak ReLU value in each
    positions: np.ndarray    # (count, 2) (row, column) of the peak in the filter's map
    origins: np.ndarray      # (count, 2) (top, left) of the full receptive field in the crop (may be < 0)
    patches: tuple           # count (h, w, 3) uint8: the crop inside the field, clipped at the crop's border
    field: int               # the receptive field's side in crop pixels: 5 (conv1) or 14 (conv2)
    searched: int            # how many test images were searched

    def tally(self):
        """[(class, how many of the patches), ...], most common first (ties: lower class first)."""
        counts = Counter(int(label) for label in self.labels)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @property
    def silent(self):
        """True when the filter fires (ReLU > 0) on none of the searched images: its patches mean nothing."""
        return not np.any(self.activations > 0)


def model_key(inference):
    """What identifies an InferenceModel's weights: its checkpoint (path, save time), else its model."""
    checkpoint = inference.checkpoint
    if checkpoint is None:  # a network built by hand (tests): the caches keep it alive, so its id is unique
        return "model", id(inference.model)
    return str(checkpoint.path), checkpoint.saved_at


def _images_key(images, count):
    sample = np.ascontiguousarray(images[:count])  # 6 MB: ~6 ms to hash
    return len(images), hashlib.blake2b(sample.tobytes(), digest_size=8).hexdigest()


_responses = OrderedDict()  # (model key, images key) -> (inference, {layer: LayerResponses}), newest last
_responses_lock = threading.Lock()  # also serialises the computation: one network pass at a time
RESPONSES_KEPT = 4  # checkpoints whose responses are kept (~2 MB each)


def layer_responses(inference, images, layer_name, count=SUBSET):
    """LayerResponses of `layer_name` on the first `count` images (N, 32, 32, 3) uint8, centre-cropped.

    Both conv layers are computed in one pass and kept per checkpoint, so another filter (or the other layer)
    of the same checkpoint costs nothing."""
    architecture.conv(layer_name)  # ValueError naming the conv layers
    key = (model_key(inference), _images_key(images, count))
    with _responses_lock:
        if key not in _responses:
            _responses[key] = (inference, _all_responses(inference, images[:count]))
            while len(_responses) > RESPONSES_KEPT:
                _responses.popitem(last=False)
        _responses.move_to_end(key)
        return _responses[key][1][layer_name]


def _all_responses(inference, images):
    import tensorflow as tf

    from cifar_core.augment import centre_crop

    found = {layer.name: ([], []) for layer in architecture.CONV_LAYERS}
    for start in range(0, len(images), EVAL_BATCH):
        STEP_ASIDE()
        *maps, _ = inference.features(centre_crop(images[start:start + EVAL_BATCH]), training=False)
        for layer, m in zip(architecture.CONV_LAYERS, maps):
            flat = tf.reshape(m, (m.shape[0], -1, m.shape[-1]))  # (B, H*W, 64)
            found[layer.name][0].append(tf.reduce_max(flat, axis=1).numpy())
            found[layer.name][1].append(tf.argmax(flat, axis=1, output_type=tf.int32).numpy())
    return {layer.name: LayerResponses(np.concatenate(peaks), np.concatenate(wheres), layer.output_shape[0])
            for layer, (peaks, wheres) in zip(architecture.CONV_LAYERS, found.values())}


def receptive_field(layer_name, row, column):
    """(top, left, side): the square of the 24x24 crop that map position (row, column) of `layer_name` sees,
    before clipping at the border (top or left may be negative, top + side may pass 24)."""
    side, stride, offset = RECEPTIVE_FIELDS[architecture.conv(layer_name).name]
    return stride * row - offset, stride * column - offset, side


def top_patches(inference, images, layer_name, filter_index, labels, count=9, searched=SUBSET):
    """TopPatches: the `count` images among the first `searched` (N, 32, 32, 3) uint8 where filter
    `filter_index` of `layer_name` reaches its highest ReLU value, one place per image; `labels` (N,)."""
    responses = layer_responses(inference, images, layer_name, searched)
    if not 0 <= filter_index < responses.peak.shape[1]:
        raise ValueError(f"filter {filter_index} is out of range; {layer_name} has filters "
                         f"0 to {responses.peak.shape[1] - 1}")
    peak = responses.peak[:, filter_index]
    best = np.argsort(-peak, kind="stable")[:count]  # ties (e.g. all 0): the lower test number first
    rows, columns = np.divmod(responses.where[best, filter_index], responses.map_size)
    origins, patches = [], []
    for index, row, column in zip(best, rows, columns):
        top, left, side = receptive_field(layer_name, int(row), int(column))
        crop = images[index, CROP_OFFSET:CROP_OFFSET + CROP_SIZE, CROP_OFFSET:CROP_OFFSET + CROP_SIZE]
        patches.append(np.array(crop[max(top, 0):top + side, max(left, 0):left + side]))
        origins.append((top, left))
    return TopPatches(layer_name, filter_index, best, np.asarray(labels)[best], peak[best],
                      np.stack([rows, columns], axis=1), np.array(origins), tuple(patches),
                      RECEPTIVE_FIELDS[layer_name][0], min(searched, len(images)))


def start_image(seed=0):
    """(24, 24, 3) float32: the image activation maximisation starts from, grey plus a little noise."""
    noise = np.random.default_rng(seed).standard_normal((CROP_SIZE, CROP_SIZE, 3))
    return (0.5 + 0.05 * noise).astype(np.float32)


def activation_maximisation(inference, layer_name, filter_index, steps=ASCENT_STEPS, seed=0):
    """(24, 24, 3) uint8: an input optimised to excite filter `filter_index` of `layer_name`.

    Gradient ascent on the filter's mean ReLU value over its map, from `start_image(seed)`: each step shifts
    the image a little at random (jitter), moves it along the normalised gradient, keeps its mean colour grey,
    pulls it towards grey (L2) and blurs it slightly, keeping pixels in [0, 1]."""
    import tensorflow as tf

    step = _ascent_step(inference, layer_name)
    rng = np.random.default_rng(seed)
    x = tf.constant(start_image(seed)[None])
    for _ in range(steps):
        STEP_ASIDE()
        shift = rng.integers(-ASCENT_JITTER, ASCENT_JITTER + 1, size=2).astype(np.int32)
        x = step(x, tf.constant(filter_index), tf.constant(shift))
    return np.round(x[0].numpy() * 255.0).astype(np.uint8)


_ascent_steps = OrderedDict()  # (id of the model, layer name) -> (model, tf.function); one trace each
_ascent_lock = threading.Lock()


def _ascent_step(inference, layer_name):
    import keras
    import tensorflow as tf

    layer = architecture.conv(layer_name)
    key = (id(inference.model), layer.name)
    with _ascent_lock:
        if key in _ascent_steps:
            return _ascent_steps[key][1]
        # The pre-ReLU maps: the ReLU layer's input (batch-norm's output for conv1).
        before_relu = keras.Model(inference.model.input, inference.model.get_layer(layer.maps_layer).input)
        blur = tf.constant(np.outer([1, 2, 1], [1, 2, 1])[:, :, None, None] / 16.0 * np.ones((1, 1, 3, 1)),
                           tf.float32)  # (3, 3, 3, 1) one 3x3 blur per colour

        @tf.function
        def step(x, filter_index, shift):  # x: (1, 24, 24, 3) in [0, 1]
            with tf.GradientTape() as tape:
                tape.watch(x)
                maps = before_relu(tf.roll(x, shift, axis=(1, 2)), training=False)  # (1, H, W, 64)
                pre = tf.gather(maps, filter_index, axis=3)
                objective = tf.reduce_mean(tf.nn.relu(pre)) + ASCENT_LEAK * tf.reduce_mean(pre)
            gradient = tape.gradient(objective, x)
            x = x + ASCENT_RATE * gradient / (tf.math.reduce_std(gradient) + 1e-8)
            # Mean colour held grey: a filter's mean response grows with a flat colour (the sum of its
            # weights) as well as with a pattern; held grey, the image shows the pattern (stripe, edge, blob).
            x = 0.5 + (x - tf.reduce_mean(x, axis=(1, 2), keepdims=True)) * (1.0 - ASCENT_DECAY)
            smooth = tf.nn.depthwise_conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT"), blur,
                                            (1, 1, 1, 1), "VALID")
            return tf.clip_by_value((1.0 - ASCENT_BLUR) * x + ASCENT_BLUR * smooth, 0.0, 1.0)

        _ascent_steps[key] = (inference.model, step)
        while len(_ascent_steps) > 8:
            _ascent_steps.popitem(last=False)
        return step


# The background: two worker threads (TensorFlow already uses both cores for each), results kept per key.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="filter-patterns")
_jobs = OrderedDict()  # key -> (future, args): the args keep the models that the keys name by id alive
_jobs_lock = threading.Lock()
JOBS_KEPT = 512  # results kept (an optimised image is 1.7 kB, a TopPatches a few kB)


def in_background(key, function, *args, wait=0.0):
    """function(*args)'s result, computed once per `key` in a background thread and kept; None while it is
    still computing (after waiting up to `wait` seconds). A job that failed raises its error, and is
    forgotten, so the next call tries again."""
    with _jobs_lock:
        if key not in _jobs:
            _jobs[key] = (_pool.submit(function, *args), args)
            while len(_jobs) > JOBS_KEPT:
                _jobs.popitem(last=False)
        _jobs.move_to_end(key)
        future = _jobs[key][0]
    try:
        return future.result(timeout=wait)
    except TimeoutError:
        return None
    except Exception:
        with _jobs_lock:
            if key in _jobs and _jobs[key][0] is future:
                del _jobs[key]
        raise


def top_patches_in_background(inference, images, layer_name, filter_index, labels, wait=0.3):
    """top_patches(...) through in_background: None while the checkpoint's responses are being computed."""
    key = ("top", model_key(inference), _images_key(images, SUBSET), layer_name, filter_index)
    return in_background(key, top_patches, inference, images, layer_name, filter_index, labels, wait=wait)


def activation_maximisation_in_background(inference, layer_name, filter_index, wait=0.0):
    """activation_maximisation(...) through in_background: None while it is being computed."""
    key = ("optimised", model_key(inference), layer_name, filter_index)
    return in_background(key, activation_maximisation, inference, layer_name, filter_index, wait=wait)
