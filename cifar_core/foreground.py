"""Pages first: work in the dashboard's process that can wait (the training run, searches for what a filter
looks for, networks loaded ahead) steps aside while a page is being drawn.

On 2 cores the training step keeps both busy, so a page drawn meanwhile (a click, a timeline move) shares the
CPU with it and takes ~1.5x as long as when nothing runs. The dashboard marks each page run (`drawing()`);
such work calls its own `StepAside()` between two pieces (a training step, a batch of images), which waits
while any page run is under way. It never gives away more than its share of its time, so a classroom
clicking all the time slows that work, never stalls it. A run from the command line has no pages and never
waits.
"""
import threading
import time
from contextlib import contextmanager

LONGEST_WAIT = 0.5  # s: one wait never lasts longer (a page run is ~0.1-0.5 s)

_drawing = 0                      # page runs under way in this process
_changed = threading.Condition()


@contextmanager
def drawing():
    """Around a page run: work that steps aside waits until it is over (nested runs count once each)."""
    global _drawing
    with _changed:
        _drawing += 1
    try:
        yield
    finally:
        with _changed:
            _drawing -= 1
            _changed.notify_all()


class StepAside:
    """One kind of background work's manners; `share`: the most of its time it gives to pages
    (after a wait of w s it works on for w * (1 - share) / share s before it waits again)."""

    def __init__(self, share):
        self.share = share
        self._next_wait_at = 0.0  # time.monotonic() before which it does not wait again

    def __call__(self):
        """Between two pieces of work: wait while a page is being drawn, within the limits; -> seconds waited."""
        now = time.monotonic()
        with _changed:
            if _drawing == 0 or now < self._next_wait_at:
                return 0.0
            _changed.wait_for(lambda: _drawing == 0, timeout=LONGEST_WAIT)
        waited = time.monotonic() - now
        self._next_wait_at = time.monotonic() + waited * (1 - self.share) / self.share
        return waited
