"""Get CIFAR-10 onto this computer: download the official archive, or install a local copy.

Every install goes temp file -> MD5 check -> temp folder -> validation (data.read_folder)
-> `os.replace`, so a reader never sees a half-written dataset. The standard library only.
"""
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path, PurePosixPath

from cifar_core.data import (BATCH_FOLDER, DataError, find_dataset, install_root, load_dataset,
                             read_folder)

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FROM_HINT = "download it on another machine, then run `python -m cifar_core download --from PATH`"
_TEMP_PREFIX = ".cifar-tmp-"  # our temporaries in the target folder, swept when stale
_CHUNK = 1 << 16  # 64 KiB per read: frequent progress calls, negligible overhead


def _md5_of(path: Path) -> str:
    with open(path, "rb") as f:  # streamed: the archive is 163 MB
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def _remove(path: Path):
    """Remove a file or folder if present; used on every failure path."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sweep_stale(root: Path, older_than_s=3600):
    """Remove our temporaries left by a killed process (old enough not to be in use)."""
    for entry in root.glob(_TEMP_PREFIX + "*"):
        try:
            if time.time() - entry.lstat().st_mtime > older_than_s:
                _remove(entry)
        except OSError:
            pass


def _safe_member_path(member: tarfile.TarInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or DataError if extracting it could escape or be unsafe."""
    parts = [p for p in PurePosixPath(member.name).parts if p != "."]
    if member.name.startswith(("/", "\\")) or ".." in parts or not parts:
        raise DataError(f"{archive}: refused unsafe member path {member.name!r}; nothing was installed")
    if not (member.isfile() or member.isdir()):  # symlink, hardlink, device, fifo
        raise DataError(f"{archive}: refused member {member.name!r} (links and special files are not "
                        "allowed); nothing was installed")
    return PurePosixPath(*parts)


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
    root.mkdir(parents=True, exist_ok=True)
    _sweep_stale(root)
    tmp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX + "extract-", dir=root))
    try:
        size = archive.stat().st_size
        # Stream ("r|*"): one decompression pass; each member is checked before it is written.
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                dest = tmp / _safe_member_path(member, archive)
                if member.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                if progress:
                    progress(min(raw.tell(), size), size)  # compressed bytes consumed
        extracted = tmp / BATCH_FOLDER
        if not extracted.is_dir():
            raise DataError(f"{archive}: no {BATCH_FOLDER}/ folder inside; use the python version "
                            f"of the archive ({OFFICIAL_URL})")
        try:  # validate before anyone can see it (restricted unpickler, shapes)
            read_folder(extracted)
        except DataError as e:  # name the file as a path inside the archive, not our temp folder
            raise DataError(f"{str(e).replace(str(tmp), str(archive))}; nothing was installed") from None
        final = root / BATCH_FOLDER
        old = root / f"{_TEMP_PREFIX}old-{os.getpid()}-{time.monotonic_ns()}"
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
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:  # truncated/corrupt archive, disk
        raise DataError(f"{archive}: cannot extract or install ({type(e).__name__}: {e}); check the "
                        "disk space, or download the archive again") from None
    finally:
        _remove(tmp)


def _fetch(url, part: Path, progress, timeout):
    """One HTTP attempt that appends to `part`, resuming with a Range request.
    Returns when complete; raises on a network error or a short read."""
    done = part.stat().st_size
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if done and resp.status != 206:  # server ignored the Range: start over
            done = 0
        length = resp.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        with open(part, "ab" if done else "wb") as out:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def download(data_dir=None, progress=None, url=OFFICIAL_URL, expected_md5=ARCHIVE_MD5,
             retries=3, timeout=30.0, backoff=1.0) -> Path:
    """Download the archive (progress(done_bytes, total_bytes or None)), verify its MD5 and
    install it; returns the batches folder. Returns at once if a valid dataset is present.
    Network errors are retried `retries` times (resuming), waiting backoff, 2*backoff, ..."""
    if (present := find_dataset(data_dir)) is not None:
        try:
            load_dataset(present)
            return present
        except DataError:
            pass  # damaged: replace it below
    root = install_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    _sweep_stale(root)
    fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX + "download-", suffix=".tar.gz", dir=root)
    os.close(fd)
    part = Path(name)
    try:
        failures = 0
        while True:
            before = part.stat().st_size
            try:
                _fetch(url, part, progress, timeout)
                break
            except (OSError, ValueError, http.client.HTTPException) as e:
                error = e  # URLError/HTTPError, ConnectionError, timeouts, short reads
            code = getattr(error, "code", None)  # HTTP status when the server answered
            if code == 416:  # our partial file is not a prefix of theirs: start over
                part.write_bytes(b"")
            # An attempt that made progress does not count against the retries.
            failures = 0 if part.stat().st_size > before else failures + 1
            if failures > retries or (code is not None and 400 <= code < 500 and code not in (408, 416, 429)):
                raise DataError(f"could not download {url} ({type(error).__name__}: {error}); {FROM_HINT}")
            time.sleep(backoff * 2 ** max(failures - 1, 0))
        if expected_md5 is not None and (md5 := _md5_of(part)) != expected_md5:
            raise DataError(f"downloaded {url} but its MD5 is {md5}, expected {expected_md5}; try again, "
                            f"or {FROM_HINT}")
        return install_archive(part, data_dir=root, expected_md5=None)
    finally:
        _remove(part)
