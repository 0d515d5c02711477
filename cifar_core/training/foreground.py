"""Pages first: a training run in the dashboard's process steps aside while a page is being drawn.

On 2 cores the training step keeps both busy, so a page drawn meanwhile (a click, a timeline move) shares the
CPU with it and takes ~1.5x as long as when nothing trains. The dashboard marks each page run (`drawing()`);
between two steps the training loop waits while any is under way (`step_aside()`). It never gives away more
than about a quarter of its time, so a classroom clicking all the time slows the run, never stalls it.
A run from the command line has no pages and never waits.
"""
import threading
import time
from contextlib import contextmanager

LONGEST_WAIT = 0.5  # s: one wait never lasts longer (a page run is ~0.1-0.5 s)
SHARE = 0.25        # at most this fraction of the wall clock spent waiting: after a wait of w s, train 3w s

_drawing = 0                      # page runs under way in this process
_changed = threading.Condition()
_next_wait_at = 0.0               # time.monotonic() before which the training does not wait again


@contextmanager
def drawing():
    """Around a page run: a training step in this process waits until it is over (nested runs count once each)."""
    global _drawing
    with _changed:
        _drawing += 1
    try:
        yield
    finally:
        with _changed:
            _drawing -= 1
            _changed.notify_all()


def step_aside():
    """Called by the training loop between two steps: wait while a page is being drawn, within the limits above;
    -> the seconds waited."""
    global _next_wait_at
    now = time.monotonic()
    with _changed:
        if _drawing == 0 or now < _next_wait_at:
            return 0.0
        _changed.wait_for(lambda: _drawing == 0, timeout=LONGEST_WAIT)
    waited = time.monotonic() - now
    _next_wait_at = time.monotonic() + waited * (1 - SHARE) / SHARE
    return waited
