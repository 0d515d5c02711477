"""The command line's progress bar, on stderr: live on a terminal, plain lines in a log.

    bar = ProgressBar("training", unit="step")
    bar(done, total, "batch acc 97%")   # as often as you like; also a download or archive progress callback
    bar.close()

On a terminal it is tqdm's bar, redrawn in place (rate, time left, the terminal's width). In a log
(stderr is not a terminal: CI, nohup, a test) the same line of tqdm's, written whole every LOG_SECONDS
and at the end: tqdm's own bar redraws with '\\r', which a log file keeps as one line growing for hours.
"""
import sys
import time

from tqdm import tqdm


class ProgressBar:
    """bar(done, total, extra_text) shows progress (total None or 0: not known yet, e.g. a download
    without a Content-Length); .close() ends it. quiet: shows nothing."""
    LOG_SECONDS = 15  # a log gets a line this often: enough to see it is alive, few enough to read

    def __init__(self, label, unit="bytes", quiet=False, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.live = not quiet and self.stream.isatty()
        # bytes: 81.5M/163M and MB/s (powers of 1,000, as the download's messages count); else 9/20 and step/s
        self._units = dict(unit="B", unit_scale=True, unit_divisor=1000) if unit == "bytes" else dict(unit=unit)
        self._label = label
        self._bar = None                      # the live tqdm bar, made at the first call
        self._started = None                  # log: when the first call came (the rate is counted from it)
        self._last_written = None             # log: when the last line was written
        self._state = self._written = None    # log: (done, total, extra) now, and as last written

    def __call__(self, done, total, extra=""):
        total = total or None
        if self.quiet:
            return
        if self.live:
            self._draw(done, total, extra)
            return
        now = time.monotonic()
        self._started = now if self._started is None else self._started
        self._state = (done, total, extra)
        due = self._last_written is None or now - self._last_written >= self.LOG_SECONDS
        if due or done == total:
            self._write_line(now)

    def close(self):
        """The end: the live bar keeps its last state on its own line; a log gets the last state if it has
        not had it (a run stopped by Ctrl+C between two lines)."""
        if self._bar is not None:
            self._bar.close()
        elif self._state is not None:
            self._write_line(time.monotonic())

    def _draw(self, done, total, extra):
        if self._bar is None:
            # mininterval: at most 5 redraws a second, however often the download calls (every 64 KiB)
            self._bar = tqdm(total=total, desc=self._label, file=self.stream, mininterval=0.2, dynamic_ncols=True,
                             postfix=extra or None, **self._units)
        if done < self._bar.n:  # a download that started over (the server ignored the resume)
            self._bar.reset(total=total)
        elif total != self._bar.total:
            self._bar.total = total
        if extra:
            self._bar.set_postfix_str(extra, refresh=False)
        self._bar.update(done - self._bar.n)  # redraws only when mininterval has passed

    def _write_line(self, now):
        if self._state == self._written:
            return
        done, total, extra = self._state
        line = tqdm.format_meter(done, total, now - self._started, prefix=self._label, ascii=True,
                                 postfix=extra or None, **self._units)
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last_written, self._written = now, self._state
