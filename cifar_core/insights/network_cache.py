"""Checkpoint networks kept loaded, and loaded ahead: the timeline's next snapshot is ready before it is asked for.

Loading a network (build it, read its weights, run it once) takes ~0.1-0.3 s on 2 cores, and in a server
that is busy drawing a page it cost a timeline move about 0.3 s more than a move to a network already
loaded. `NetworkCache.prefetch` loads the snapshots around the one on screen in one background thread,
so the next move (and Play) finds them loaded; `get` waits for a load already under way instead of
starting a second one.
"""
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from cifar_core import foreground

STEP_ASIDE = foreground.StepAside(share=0.8)


class NetworkCache:
    """The networks of the most recently used `capacity` checkpoints, one copy per process, thread-safe.

    A checkpoint is known by its folder and save time, so a folder saved again is loaded again."""

    def __init__(self, load, capacity=16):
        self._load = load            # Checkpoint -> InferenceModel (CheckpointError when damaged)
        self._capacity = capacity    # ~4 MB each: 16 hold a default run's ~12 snapshots and the latest checkpoint
        self._futures = OrderedDict()  # (path, saved_at) -> Future of an InferenceModel, oldest use first
        self._lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="network-prefetch")

    def get(self, checkpoint):
        """The checkpoint's InferenceModel: loaded now, or the copy loaded before (waiting for a load under way)."""
        key = (str(checkpoint.path), checkpoint.saved_at)
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if owner:
                future = self._futures[key] = Future()
                self._evict()
            self._futures.move_to_end(key)
        if owner:
            try:
                future.set_result(self._load(checkpoint))
            except BaseException as error:  # a damaged checkpoint: not kept, so a later look tries again
                with self._lock:
                    self._futures.pop(key, None)
                future.set_exception(error)
        return future.result()

    def is_loaded(self, checkpoint):
        with self._lock:
            future = self._futures.get((str(checkpoint.path), checkpoint.saved_at))
        return future is not None and future.done() and future.exception() is None

    def prefetch(self, checkpoints):
        """Load these checkpoints' networks in the background, in order (a failure is left for `get` to report)."""
        for checkpoint in checkpoints:
            if not self.is_loaded(checkpoint):
                self._background.submit(self._quietly, checkpoint)

    def _quietly(self, checkpoint):
        STEP_ASIDE()  # loaded ahead: never while a page is being drawn
        try:
            self.get(checkpoint)
        except Exception:  # the page that shows it will say what is wrong
            pass

    def _evict(self):
        """Forget the least recently used finished loads beyond capacity (a load under way is never dropped)."""
        for key in list(self._futures):
            if len(self._futures) <= self._capacity:
                return
            if self._futures[key].done():
                del self._futures[key]
