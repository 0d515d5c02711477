"""Pages first: work in the dashboard's process that can wait (the training run, searches for what a filter
looks for, networks loaded ahead) steps aside while a page is being drawn.

On 2 cores the training step keeps both busy, so a page drawn meanwhile (a click, a timeline move) shares the
CPU with it and takes ~1.5x as long as when nothing runs. The dashboard marks each page run (`drawing()`);
such work calls its own `StepAside()` between two pieces (a training step, a batch of images), which waits
while any page run is under way. Beyond a short burst it never gives away more than its share of its time, so a
classroom clicking all the time slows that work, never stalls it. A run from the command line has no pages and never
waits.

Beyond those waits, the training run computes at a lower CPU priority (`lower_priority()`): what a page needs
between two of them (the server's own threads, a browser on the same computer drawing what it was sent) gets
the cores first, and when nothing else wants them the training has them all, as before.
"""
import os
import threading
import time
from contextlib import contextmanager

LONGEST_WAIT = 0.5  # s: one wait never lasts longer (a page run is ~0.1-0.5 s)
# s: work still waits this long after a page run, while the browser draws what it was sent: on a laptop that
# both serves and shows the dashboard, the browser shares the 2 cores with the training too.
AFTER_A_PAGE = 0.25

_drawing = 0                      # page runs under way in this process
_drawn_at = float("-inf")         # time.monotonic() when the last page run ended
_changed = threading.Condition()


def _busy_for(now):
    """Seconds a page (its run, or just after it the browser) still wants the CPU; 0 when none does."""
    if _drawing:
        return float("inf")
    return max(0.0, _drawn_at + AFTER_A_PAGE - now)


@contextmanager
def drawing():
    """Around a page run: work that steps aside waits until it is over (nested runs count once each)."""
    global _drawing, _drawn_at
    with _changed:
        _drawing += 1
    try:
        yield
    finally:
        with _changed:
            _drawing -= 1
            _drawn_at = time.monotonic()
            _changed.notify_all()


class StepAside:
    """One kind of background work's manners. `share`: the most of its time it gives to pages in the long run;
    `burst`: the seconds it may wait in a row beyond that, so that a few page runs in quick succession (a
    learner clicking through cells) are each drawn with the CPU to themselves. Its waits over any t seconds
    add up to at most burst + share * t (a token bucket of waiting time, refilled at `share`)."""

    def __init__(self, share, burst=1.0):
        self.share = share
        self.burst = burst
        self._credit = burst                  # s it may wait now
        self._credited_at = time.monotonic()

    def __call__(self):
        """Between two pieces of work: wait while a page is being drawn (and AFTER_A_PAGE after it), within the
        limits; -> seconds waited."""
        now = time.monotonic()
        self._credit = min(self.burst, self._credit + (now - self._credited_at) * self.share)
        self._credited_at = now
        with _changed:
            if not _busy_for(now) or self._credit <= 0:
                return 0.0
            deadline = now + min(LONGEST_WAIT, self._credit)
            while (left := min(_busy_for(time.monotonic()), deadline - time.monotonic())) > 0:
                _changed.wait(timeout=left)
        waited = time.monotonic() - now
        self._credit -= waited
        return waited


BACKGROUND_NICENESS = 10  # Linux's nice: a thread at 10 gets ~1/10 of a core that a thread at 0 also wants


def lower_priority(niceness=BACKGROUND_NICENESS):
    """Linux: the calling thread and every thread of this process that Python did not start (TensorFlow's
    compute pools, which run the training's and the pages' convolutions alike) at `niceness`; the server's own
    Python threads keep theirs. Threads started later by a lowered thread inherit it. Elsewhere, and where a
    thread is gone or the system refuses, nothing changes."""
    if not hasattr(os, "setpriority") or not os.path.isdir("/proc/self/task"):
        return
    python_threads = {thread.native_id for thread in threading.enumerate()} - {threading.get_native_id()}
    for thread_id in {int(name) for name in os.listdir("/proc/self/task")} - python_threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, thread_id) < niceness:
                os.setpriority(os.PRIO_PROCESS, thread_id, niceness)
        except OSError:  # ended meanwhile, or not allowed: it keeps its priority
            pass
