"""A map of what the network learned: each test image placed by its fc2 activations (the last hidden layer,
128 ReLU units), brought down to 2-D. Images the network finds alike land together.

    fc2 = test_set_fc2(checkpoint, dataset)    # (N, 128): saved with the checkpoint (training/hooks.py)
    xy = pca_2d(fc2)                           # (N, 2) at once (~0.05 s for 10,000 images)
    tsne.request(key, fc2)                     # t-SNE in the background: ~1 min for 10,000
    tsne.status(key)                           # -> TsneStatus(state, started_at, result, message)

The test pass that classifies the test set at each checkpoint also returns fc2 (`with_fc2`, `test_pass`), so
saving it costs no second pass. No TensorFlow at import: a checkpoint's saved fc2 draws without it.
"""
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from cifar_core.insights.inference import EVAL_BATCH
from cifar_core.training.hooks import FC2_ACTIVATIONS

FC2_LAYER = "layer_fc2"   # dense 128, ReLU: the last layer before the softmax
FC2_UNITS = 128
PERPLEXITY = 30.0         # t-SNE's neighbourhood size in points: the usual default, fine for 10,000 images
TSNE_SEED = 0             # the same fc2 gives the same map


@dataclass(frozen=True)
class TestPass:
    probabilities: np.ndarray  # (N, 10) float32
    fc2: np.ndarray            # (N, 128) float32, the fc2 layer's ReLU outputs


def with_fc2(model):
    """A Keras model sharing `model`'s layers (so its weights): (B, 24, 24, 3) -> [fc2 (B, 128), probs (B, 10)]."""
    import keras

    return keras.Model(model.input, [model.get_layer(FC2_LAYER).output, model.output])


def test_pass(model_with_fc2, images, batch_size=EVAL_BATCH, between_batches=None):
    """(N, 32, 32, 3) uint8 -> TestPass, centre-cropped, in batches: one forward pass gives both outputs.
    between_batches: called before each batch but the first (training's StepAside lets a page go first)."""
    from cifar_core.augment import centre_crop

    probabilities = np.empty((len(images), 10), np.float32)
    fc2 = np.empty((len(images), FC2_UNITS), np.float32)
    for start in range(0, len(images), batch_size):
        if between_batches is not None and start > 0:
            between_batches()
        hidden, answers = model_with_fc2(centre_crop(images[start:start + batch_size]), training=False)
        fc2[start:start + batch_size], probabilities[start:start + batch_size] = hidden.numpy(), answers.numpy()
    return TestPass(probabilities, fc2)


def test_set_fc2(checkpoint, dataset, load_model):
    """(N, 128): the checkpoint's fc2 activations for the dataset's test images.

    Read from the checkpoint when training saved them for this test set (float16); otherwise (a checkpoint
    saved before this artifact, another dataset) computed with the network `load_model(checkpoint)` returns
    (an InferenceModel: TensorFlow, ~1 s per 10,000 images). CheckpointError when the checkpoint is damaged."""
    checkpoint.verify()
    saved = checkpoint.artifact(FC2_ACTIVATIONS)
    if saved is not None and saved.shape == (len(dataset.test_labels), FC2_UNITS):
        return saved
    return test_pass(with_fc2(load_model(checkpoint).model), dataset.test_images).fc2


def pca_2d(activations):
    """(N, D) -> (N, 2) float32: the two directions along which the activations vary most.

    Each axis's sign is fixed (its largest loading positive), so the map does not flip between two steps
    whose axes are nearly the same."""
    x = np.asarray(activations, np.float32)
    x = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(x.T @ x)   # (D, D) scatter matrix: cheaper than an SVD of (N, D); ascending
    top = vectors[:, ::-1][:, :2]          # (D, 2)
    top = top * np.sign(top[np.abs(top).argmax(axis=0), [0, 1]])
    return (x @ top).astype(np.float32)


def tsne_2d(activations, seed=TSNE_SEED):
    """(N, D) -> (N, 2) float32: t-SNE, which keeps each image's nearest neighbours near (how far apart two
    islands are means little). Started from the PCA map, so it is oriented like it.

    scikit-learn's Barnes-Hut TSNE: 62 s for a trained network's 10,000 test images on 2 cores (openTSNE took
    44 s for maps as good: not worth a dependency; benchmarks/embedding.py)."""
    from sklearn.manifold import TSNE

    x = np.asarray(activations, np.float32)
    start = pca_2d(x)
    start = start / (start[:, 0].std() or 1.0) * 1e-4  # small, as scikit-learn's own init="pca"
    perplexity = min(PERPLEXITY, (len(x) - 1) / 3)  # a tiny test set has fewer neighbours than that
    found = TSNE(2, perplexity=perplexity, init=start, random_state=seed, n_jobs=-1).fit_transform(x)
    return found.astype(np.float32)


def tsne_low_priority(activations):
    """tsne_2d in a child process at low priority: it shares no GIL with the server, and the pages and the training
    run get the CPU first (~1 min of both cores otherwise)."""
    context = multiprocessing.get_context("spawn")  # no fork of a server holding threads (and TensorFlow)
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_tsne_child, args=(activations, send), name="cifar-tsne", daemon=True)
    child.start()
    send.close()
    try:
        result = receive.recv()  # EOFError when the child died
    finally:
        child.join()
    if isinstance(result, str):
        raise RuntimeError(result)
    return result


def _tsne_child(activations, send):
    os.nice(10)
    try:
        send.send(tsne_2d(activations))
    except Exception as e:  # said in the parent, which raises it
        send.send(f"{type(e).__name__}: {e}")


@dataclass(frozen=True)
class TsneStatus:
    state: str                      # "none" (never asked), "waiting", "computing", "done" or "failed"
    started_at: float | None = None  # time.time() the computing (or the waiting) began
    result: np.ndarray | None = None  # (N, 2) float32 once done
    message: str = ""               # the error of a failed one


class TsneJobs:
    """t-SNE maps computed one at a time by a background thread (each in a child process), kept in memory for the
    server process: a checkpoint folder is read-only and checksummed, and a map is a minute's work, not worth
    files that would need pruning with their checkpoints.

    request(key, activations) queues one (nothing when it is done, computing or queued); the newest request is
    computed next, so the step a learner is looking at comes before the ones they scrubbed past. Keys name a
    checkpoint (its path and save time), never an array. One at a time: two t-SNEs on 2 cores would each take
    twice as long."""

    def __init__(self, compute=tsne_low_priority):
        self._compute = compute
        self._lock = threading.Lock()
        self._status = {}    # key -> TsneStatus
        self._waiting = []   # (key, activations), oldest first
        self._thread = None

    def request(self, key, activations):
        with self._lock:
            if key in self._status and self._status[key].state != "failed":
                return
            self._status[key] = TsneStatus("waiting", time.time())
            self._waiting.append((key, activations))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="cifar-tsne", daemon=True)
                self._thread.start()

    def status(self, key):
        with self._lock:
            return self._status.get(key, TsneStatus("none"))

    def wait(self, timeout=None):
        """Block until the queue is empty; True when it is (for tests and benchmarks)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _work(self):
        while True:
            with self._lock:
                if not self._waiting:
                    self._thread = None
                    return
                key, activations = self._waiting.pop()  # the newest
                started = time.time()
                self._status[key] = TsneStatus("computing", started)
            try:
                done = TsneStatus("done", started, self._compute(activations))
            except Exception as e:  # published, never lost: the page says it failed
                done = TsneStatus("failed", started, message=f"{type(e).__name__}: {e}")
            with self._lock:
                self._status[key] = done


_jobs = None
_jobs_lock = threading.Lock()


def tsne_jobs():
    """The process's one TsneJobs, shared by every browser session (created on first use)."""
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            _jobs = TsneJobs()
        return _jobs
