"""Get CIFAR-10 onto this computer: download the official archive, or install a local copy.

Every install goes temp file -> MD5 check -> temp folder -> validation (data.read_folder)
-> `os.replace`, so a reader never sees a half-written dataset. The standard library only.
An archive or a server may be hostile: sizes are capped before anything is read, only the
dataset's own files are written, and a download has a deadline and a minimum rate.
"""
import hashlib
import http.client
import itertools
import os
import secrets
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from cifar_core.data import (BATCH_FOLDER, MAX_BATCH_BYTES, MAX_META_BYTES, TRAIN_FILES, DataError,
                             find_dataset, install_root, load_dataset, read_folder)

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then swept by age only
    fcntl = None

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_BYTES = 170_498_071  # the official archive
MAX_ARCHIVE_BYTES = ARCHIVE_BYTES * 11 // 10  # a download stops here (10% margin for a repackaging)
FROM_HINT = "download it on another machine, then run `python -m cifar_core download --from PATH`"
_TEMP_PREFIX = ".cifar-tmp-"  # our temporaries in the target folder: .cifar-tmp-<owner>-...
_LOCK_SUFFIX = ".lock"        # .cifar-tmp-<owner>.lock, flock'ed by its owner while it works
_CHUNK = 1 << 16  # 64 KiB per read: frequent progress calls, negligible overhead

# What an archive may install: cifar-10-batches-py/ and its seven files, each capped by the
# size in its tar header before a byte of it is read. Anything else (readme.html) is skipped,
# but must be small: skipping a member still means decompressing it.
_MEMBER_CAPS = {**{name: MAX_BATCH_BYTES for name in (*TRAIN_FILES, "test_batch")},
                "batches.meta": MAX_META_BYTES}
_MAX_OTHER_BYTES = 1 << 20     # a skipped member; the official readme.html has 88 bytes
_MAX_MEMBERS_BYTES = sum(_MEMBER_CAPS.values()) + 16 * _MAX_OTHER_BYTES  # all members together
_MAX_HEADERS = 256             # tar headers in an archive; the official one has 9 members
_MAX_EXTENDED_BYTES = 1 << 20  # a pax or GNU long-name header; tarfile reads it whole


def _md5_of(path: Path) -> str:
    with open(path, "rb") as f:  # streamed: the archive is 163 MB
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def _remove(path: Path):
    """Remove a file or folder if present; used on every failure path."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- temporaries -------------------------------------------------------------
# Each install or download names its temporaries after an owner, .cifar-tmp-<pid>-<random>-,
# and holds an exclusive flock on .cifar-tmp-<pid>-<random>.lock while it works. The kernel
# drops a flock when its process dies (kill -9 included), so a lock we can take belongs to a
# dead process and its temporaries are stale: removed at the next start. Unlike a pid check
# this is not fooled by a reused pid or by a process in another container sharing the folder;
# unlike an age check it never removes the file of a slow but live download. The lock file
# is locked before it gets the name the sweep looks for (created as .new, then renamed), and
# an owner locks before it creates any temporary, so a temporary whose owner holds no lock
# is stale too (e.g. one left by a version without owners).

def _try_lock(fd) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # held by a live owner (or the file system has no locks: leave it be)
        return False


def _sweep_stale(root: Path, older_than_s=3600):
    """Remove the temporaries of owners that died (see above); without flock, by age."""
    if fcntl is None:
        stale = [e for e in root.glob(_TEMP_PREFIX + "*") if _age(e) > 24 * older_than_s]
    else:
        # Listed before the locks: an owner that starts meanwhile has no temporary in this list.
        entries = [e for e in root.glob(_TEMP_PREFIX + "*") if not e.name.endswith((_LOCK_SUFFIX, ".new"))]
        live = []
        for lock in root.glob(f"{_TEMP_PREFIX}*{_LOCK_SUFFIX}"):
            owner = lock.name[: -len(_LOCK_SUFFIX)] + "-"
            try:
                fd = os.open(lock, os.O_RDONLY)
            except OSError:  # removed meanwhile by its owner or by another sweep
                continue
            try:
                if not _try_lock(fd):
                    live.append(owner)
                    continue
                for entry in root.glob(owner + "*"):
                    _remove(entry)
                lock.unlink(missing_ok=True)  # while we hold it: no one else removes a live one
            finally:
                os.close(fd)
        stale = [e for e in entries if not e.name.startswith(tuple(live))]
        # A .new lives for microseconds (create, lock, rename), unless its owner died then.
        stale += [e for e in root.glob(f"{_TEMP_PREFIX}*.new") if _age(e) > older_than_s]
    for entry in stale:
        _remove(entry)


def _age(path: Path) -> float:
    try:
        return time.time() - path.lstat().st_mtime
    except OSError:  # gone
        return 0.0


@contextmanager
def _owner(root: Path):
    """Sweep stale temporaries, then yield the prefix for ours, locked for as long as we work;
    on the way out remove whatever of ours is left (a failed install, a download)."""
    prefix = f"{_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    lock, new = root / (prefix + _LOCK_SUFFIX), root / (prefix + _LOCK_SUFFIX + ".new")
    fd = None
    try:
        try:
            root.mkdir(parents=True, exist_ok=True)
            _sweep_stale(root)
            if fcntl is not None:
                fd = os.open(new, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
                _try_lock(fd)  # a fresh name no one else opens; on a file system without locks
                os.replace(new, lock)  # the lock file still marks us as live (never swept)
        except OSError as e:
            raise DataError(f"{root}: cannot write there ({e.strerror or e}); choose another folder "
                            "with --data-dir or CIFAR10_DATA_DIR") from None
        yield prefix + "-"
    finally:
        for entry in root.glob(prefix + "-*"):
            _remove(entry)
        if fd is not None:
            lock.unlink(missing_ok=True)
            new.unlink(missing_ok=True)
            os.close(fd)


# --- installing from an archive ------------------------------------------------

class _Refused(Exception):
    """An archive or a response we will not take; the message says why (caller adds the name)."""


def _capped_tarinfo():
    """A TarInfo class for one archive that refuses, before tarfile reads them whole, oversized
    extended headers (pax, GNU long names), sparse members, and more than _MAX_HEADERS headers
    (tarfile keeps every member, and recurses once per consecutive extended header)."""
    count = itertools.count()

    class CappedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar):  # tarfile's documented hook for subclasses
            if next(count) >= _MAX_HEADERS:
                raise _Refused(f"more than {_MAX_HEADERS} entries (the CIFAR-10 archive has 9)")
            if self.type == tarfile.GNUTYPE_SPARSE:
                raise _Refused(f"sparse member {_shown(self.name)} (CIFAR-10 has none)")
            if self.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                             tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK) \
                    and self.size > _MAX_EXTENDED_BYTES:
                raise _Refused(f"an extended header of {self.size:,} bytes")
            return super()._proc_member(tar)
    return CappedTarInfo


def _shown(name: str) -> str:
    return repr(name[:200])  # repr: control characters escaped; a pax name can be megabytes


def _safe_member_path(member: tarfile.TarInfo, archive) -> PurePosixPath:
    """The member's relative path, or DataError if extracting it could escape or be unsafe."""
    parts = [p for p in PurePosixPath(member.name).parts if p != "."]
    if member.name.startswith(("/", "\\")) or ".." in parts or not parts:
        raise DataError(f"{archive}: refused unsafe member path {_shown(member.name)}; nothing was installed")
    if not (member.isfile() or member.isdir()):  # symlink, hardlink, device, fifo
        raise DataError(f"{archive}: refused member {_shown(member.name)} (links and special files are "
                        "not allowed); nothing was installed")
    return PurePosixPath(*parts)


def _wanted(member: tarfile.TarInfo, rel: PurePosixPath, archive) -> bool:
    """True for cifar-10-batches-py/ and its seven files; False (skip) for anything else.
    Every member's size is checked from its header, before it is read or even skipped: a
    skipped member still has to be decompressed to get past it."""
    inside = rel.parent == PurePosixPath(BATCH_FOLDER)
    cap = _MEMBER_CAPS.get(rel.name, _MAX_OTHER_BYTES) if inside else _MAX_OTHER_BYTES
    if member.size > cap:
        raise DataError(f"{archive}: member {_shown(member.name)} is {member.size:,} bytes, more than "
                        f"any CIFAR-10 file can be ({cap:,}); nothing was installed")
    if member.isdir():
        return rel == PurePosixPath(BATCH_FOLDER)
    return inside and rel.name in _MEMBER_CAPS


def install_archive(archive_path, data_dir=None, progress=None, expected_md5=ARCHIVE_MD5) -> Path:
    """Install cifar-10-python.tar.gz (e.g. from a USB stick) into data_dir; returns the
    batches folder. All or nothing: on any failure the target folder is left as it was."""
    archive = Path(archive_path).expanduser()
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found; give the path of cifar-10-python.tar.gz")
    if expected_md5 is not None and (md5 := _md5_of(archive)) != expected_md5:
        raise DataError(f"{archive}: MD5 is {md5}, expected {expected_md5}; the file is truncated or "
                        "not the official archive, download it again")
    root = install_root(data_dir)
    with _owner(root) as prefix:
        return _install(archive, root, prefix, progress, label=str(archive))


def _install(archive: Path, root: Path, prefix: str, progress, label: str) -> Path:
    """Extract, validate and move into place; `label` (the archive's path, or the URL it came
    from) is what messages name, never our temporary files."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix + "extract-", dir=root))
    try:
        size = archive.stat().st_size
        # Stream ("r|*"): one decompression pass; each member is checked before it is written.
        with open(archive, "rb") as raw, \
                tarfile.open(fileobj=raw, mode="r|*", tarinfo=_capped_tarinfo()) as tar:
            members_bytes = 0
            for member in tar:
                rel = _safe_member_path(member, label)
                wanted = _wanted(member, rel, label)  # refuses one over its cap
                members_bytes += member.size  # e.g. the same data_batch_1 a hundred times
                if members_bytes > _MAX_MEMBERS_BYTES:
                    raise DataError(f"{label}: its members add up to more than {_MAX_MEMBERS_BYTES:,} "
                                    "bytes, more than CIFAR-10 can be; nothing was installed")
                if not wanted:
                    continue  # e.g. readme.html: not written anywhere
                dest = tmp / rel
                if member.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)  # streamed, at most member.size
                if progress:
                    progress(min(raw.tell(), size), size)  # compressed bytes consumed
        extracted = tmp / BATCH_FOLDER
        if not extracted.is_dir():
            raise DataError(f"{label}: no {BATCH_FOLDER}/ folder inside; use the python version "
                            f"of the archive ({OFFICIAL_URL})")
        try:  # validate before anyone can see it (restricted unpickler, shapes)
            read_folder(extracted)
        except DataError as e:  # name the file as a path inside the archive, not our temp folder
            raise DataError(f"{str(e).replace(str(tmp), label)}; nothing was installed") from None
        final = root / BATCH_FOLDER
        old = root / f"{prefix}old"
        if final.exists():  # a directory cannot be os.replace'd onto a non-empty one: move it aside
            os.replace(final, old)
        try:
            os.replace(extracted, final)
        except OSError:
            if old.exists():
                os.replace(old, final)
            raise
        _remove(old)
        if progress:
            progress(size, size)
        return final.resolve()
    except _Refused as e:
        raise DataError(f"{label}: refused {e}; nothing was installed") from None
    except MemoryError:
        raise DataError(f"{label}: ran out of memory extracting it; nothing was installed, use the "
                        "official archive") from None
    except (tarfile.TarError, EOFError, OSError, ValueError, RecursionError) as e:  # corrupt, disk
        why = str(e).replace(str(tmp), str(root)).replace(str(archive), label)
        raise DataError(f"{label}: cannot extract or install ({type(e).__name__}: {why}); check the "
                        "disk space, or download the archive again") from None
    finally:
        _remove(tmp)


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
    rate_window_s (ConnectionError: retried), or _Refused for a body over max_bytes or longer
    than its Content-Length (not retried: the server would send it again)."""
    done = part.stat().st_size
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    with _opener(deadline).open(request, timeout=timeout) as resp:
        if done and resp.status != 206:  # server ignored the Range: start over
            done = 0
        length = resp.headers.get("Content-Length")
        total = done + int(length) if length is not None and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise _Refused(f"its Content-Length says {total:,} bytes, more than the {max_bytes:,} "
                           "expected of the CIFAR-10 archive")
        window_start, window_bytes = time.monotonic(), 0
        with open(part, "ab" if done else "wb") as out:
            # read1: returns what one socket read brings, so the checks below run between drips
            while chunk := resp.read1(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if done > max_bytes:
                    raise _Refused(f"it sent more than {max_bytes:,} bytes, more than the CIFAR-10 "
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
            raise _Refused(f"its body is longer than its Content-Length ({length} bytes)")
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
    with _owner(root) as prefix:
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
        if expected_md5 is not None and (md5 := _md5_of(part)) != expected_md5:
            raise DataError(f"downloaded {url} but its MD5 is {md5}, expected {expected_md5}; try again, "
                            f"or {FROM_HINT}")
        return _install(part, root, prefix, None, label=url)  # _owner removes part, always


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
        except _Refused as e:
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
