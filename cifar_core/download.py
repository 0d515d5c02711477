"""Download the official CIFAR-10 archive and install it (archive.py): progress, resume, MD5.

A server may be hostile or slow: a download has an overall deadline, a minimum rate and a size cap,
its temporary file is removed on every failure, and every error names the URL. The standard library only.
"""
import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from cifar_core.archive import ARCHIVE_MD5, FROM_HINT, OFFICIAL_URL, Refused, install, md5_of, owned_temporaries
from cifar_core.data import DataError, find_dataset, install_root, load_dataset

ARCHIVE_BYTES = 170_498_071  # the official archive
MAX_ARCHIVE_BYTES = ARCHIVE_BYTES * 11 // 10  # a download stops here (10% margin for a repackaging)
_CHUNK = 1 << 16  # 64 KiB per read: frequent progress calls, negligible overhead


# --- downloading ---------------------------------------------------------------

class _TooSlow(ConnectionError):
    """Under the minimum rate; retried (resuming) like a dropped connection."""


class _Deadline:
    """The wall-clock end of a download. A read blocked on a socket cannot see a clock (a
    server can drip a byte every few seconds, in the headers as in the body, each within the
    per-read timeout), so a timer shuts down every socket opened for it when time is up:
    the blocked read then returns at once."""

    def __init__(self, seconds: float):
        self.seconds, self.at = seconds, time.monotonic() + seconds
        self._lock, self._socks, self.expired = threading.Lock(), [], False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock):
        dup = sock.dup()  # shutdown on a dup ends the connection, even once TLS wraps sock
        with self._lock:
            self._socks.append(dup)
            if self.expired:
                self._shut(dup)

    @staticmethod
    def _shut(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._socks:
                self._shut(sock)

    def release(self):
        """Close the dups of one attempt's sockets (a dup keeps a connection open)."""
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()

    def cancel(self):
        self._timer.cancel()
        self.release()


def _opener(deadline: _Deadline):
    """urllib's usual opener (proxies, redirects), whose sockets the deadline watches."""
    class Watched:
        def do_open(self, http_class, req, **kwargs):
            class Connection(http_class):
                def __init__(self, *args, **kw):
                    super().__init__(*args, **kw)
                    create = self._create_connection  # http.client's hook for making the socket

                    def create_watched(*a, **k):
                        sock = create(*a, **k)
                        deadline.watch(sock)
                        return sock
                    self._create_connection = create_watched
            return super().do_open(Connection, req, **kwargs)

    class HTTP(Watched, urllib.request.HTTPHandler):
        pass

    class HTTPS(Watched, urllib.request.HTTPSHandler):
        pass
    return urllib.request.build_opener(HTTP, HTTPS)


def _fetch(url, part: Path, progress, timeout, deadline: _Deadline, max_bytes: int, min_rate: float,
           rate_window_s: float):
    """One HTTP attempt that appends to `part`, resuming with a Range request. Returns when
    complete; raises on a network error, a short read or a rate under min_rate bytes/s over
    rate_window_s (ConnectionError: retried), or Refused for a body over max_bytes or longer
    than its Content-Length (not retried: the server would send it again)."""
    done = part.stat().st_size
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    with _opener(deadline).open(request, timeout=timeout) as resp:
        if done and resp.status != 206:  # server ignored the Range: start over
            done = 0
        length = resp.headers.get("Content-Length")
        total = done + int(length) if length is not None and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise Refused(f"its Content-Length says {total:,} bytes, more than the {max_bytes:,} "
                           "expected of the CIFAR-10 archive")
        window_start, window_bytes = time.monotonic(), 0
        with open(part, "ab" if done else "wb") as out:
            # read1: returns what one socket read brings, so the checks below run between drips
            while chunk := resp.read1(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if done > max_bytes:
                    raise Refused(f"it sent more than {max_bytes:,} bytes, more than the CIFAR-10 "
                                   "archive can be")
                if progress:
                    progress(done, total)
                window_bytes += len(chunk)
                elapsed = time.monotonic() - window_start
                if elapsed >= rate_window_s:
                    if window_bytes < min_rate * elapsed:
                        raise _TooSlow(f"{window_bytes:,} bytes in {elapsed:.1f} s, under the minimum "
                                       f"of {min_rate:,.0f} bytes/s")
                    window_start, window_bytes = time.monotonic(), 0
        if total is not None and done == total and _more_than_announced(resp):
            raise Refused(f"its body is longer than its Content-Length ({length} bytes)")
    if total is not None and done < total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def _more_than_announced(resp) -> bool:
    """Whether the server sends bytes past its Content-Length (http.client stops reading at
    it). We asked for Connection: close, so an honest server closes here: one read sees EOF."""
    try:
        return bool(resp.fp.read1(1))
    except (AttributeError, OSError, ValueError):  # already closed, or a server idling: no more
        return False


def download(data_dir=None, progress=None, url=OFFICIAL_URL, expected_md5=ARCHIVE_MD5,
             retries=3, timeout=30.0, backoff=1.0, deadline_s=4 * 3600.0, min_rate=16 * 1024,
             rate_window_s=60.0, max_bytes=MAX_ARCHIVE_BYTES) -> Path:
    """Download the archive (progress(done_bytes, total_bytes or None)), verify its MD5 and
    install it; returns the batches folder. Returns at once if a valid dataset is present.
    Network errors are retried `retries` times (resuming), waiting backoff, 2*backoff, ...
    `timeout` bounds each socket read; the whole download ends after `deadline_s` (4 h:
    the archive at 12 KB/s), and an attempt under `min_rate` bytes/s over `rate_window_s` is
    dropped (16 KiB/s: 3 h). At most `max_bytes` are accepted (the archive's size + 10%)."""
    if (present := find_dataset(data_dir)) is not None:
        try:
            load_dataset(present)
            return present
        except DataError:
            pass  # damaged: replace it below
    root = install_root(data_dir)
    with owned_temporaries(root) as prefix:
        try:
            fd, name = tempfile.mkstemp(prefix=prefix + "download-", suffix=".tar.gz", dir=root)
            os.close(fd)
        except OSError as e:
            raise DataError(f"{root}: cannot write the download of {url} there ({e.strerror or e}); "
                            "check the disk space, or choose another folder with --data-dir") from None
        part = Path(name)
        deadline = _Deadline(deadline_s)
        try:
            _download_into(part, url, progress, retries, timeout, backoff, deadline, max_bytes,
                           min_rate, rate_window_s, root)
        finally:
            deadline.cancel()
        if expected_md5 is not None and (md5 := md5_of(part)) != expected_md5:
            raise DataError(f"downloaded {url} but its MD5 is {md5}, expected {expected_md5}; try again, "
                            f"or {FROM_HINT}")
        return install(part, root, prefix, None, label=url)  # _owner removes part, always


def _download_into(part, url, progress, retries, timeout, backoff, deadline, max_bytes, min_rate,
                   rate_window_s, root):
    """The retry loop around _fetch; every way out but success is a DataError naming the URL."""
    failures = 0
    while True:
        before = part.stat().st_size
        try:
            _fetch(url, part, progress, timeout, deadline, max_bytes, min_rate, rate_window_s)
            if not deadline.expired:  # a cut-off read can look like a clean end of body
                return
            error = TimeoutError("deadline reached")
        except Refused as e:
            raise DataError(f"refused the download of {url}: {e}; {FROM_HINT}") from None
        except (OSError, ValueError, http.client.HTTPException) as e:
            error = e  # URLError/HTTPError, ConnectionError, timeouts, short reads, _TooSlow
        finally:
            deadline.release()
        if deadline.expired or deadline.left() <= 0:
            raise DataError(f"could not download {url} within the {deadline.seconds:g} s allowed "
                            f"({part.stat().st_size:,} bytes arrived); {FROM_HINT}")
        code = getattr(error, "code", None)  # HTTP status when the server answered
        if code == 416:  # our partial file is not a prefix of theirs: start over
            part.write_bytes(b"")
        # An attempt that made progress does not count against the retries; a too slow one does.
        progressed = part.stat().st_size > before and not isinstance(error, _TooSlow)
        failures = 0 if progressed else failures + 1
        if failures > retries or (code is not None and 400 <= code < 500 and code not in (408, 416, 429)):
            why = str(error).replace(str(part), str(root))  # never name our (deleted) temp file
            raise DataError(f"could not download {url} ({type(error).__name__}: {why}); {FROM_HINT}")
        time.sleep(min(backoff * 2 ** max(failures - 1, 0), max(deadline.left(), 0)))
