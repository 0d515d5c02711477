"""Install CIFAR-10 from an archive (the official cifar-10-python.tar.gz, a lab's copy on a USB stick,
or what download.py fetched), and the temporaries both leave in the target folder.

Every install goes MD5 check -> temp folder -> validation (data.read_folder) -> `os.replace`, so a
reader never sees a half-written dataset. An archive may be hostile: sizes are capped from the tar
headers before anything is read, and only the dataset's own files are written. The standard library only.
"""
import hashlib
import itertools
import os
import secrets
import shutil
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from cifar_core.data import (BATCH_FOLDER, MAX_BATCH_BYTES, MAX_META_BYTES, TRAIN_FILES, DataError,
                             install_root, read_folder)

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then swept by age only
    fcntl = None

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
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


def md5_of(path: Path) -> str:
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
def owned_temporaries(root: Path):
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

class Refused(Exception):
    """An archive or a response we will not take; the message says why (caller adds the name)."""


def _capped_tarinfo():
    """A TarInfo class for one archive that refuses, before tarfile reads them whole, oversized
    extended headers (pax, GNU long names), sparse members, and more than _MAX_HEADERS headers
    (tarfile keeps every member, and recurses once per consecutive extended header)."""
    count = itertools.count()

    class CappedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar):  # tarfile's documented hook for subclasses
            if next(count) >= _MAX_HEADERS:
                raise Refused(f"more than {_MAX_HEADERS} entries (the CIFAR-10 archive has 9)")
            if self.type == tarfile.GNUTYPE_SPARSE:
                raise Refused(f"sparse member {_shown(self.name)} (CIFAR-10 has none)")
            if self.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                             tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK) \
                    and self.size > _MAX_EXTENDED_BYTES:
                raise Refused(f"an extended header of {self.size:,} bytes")
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
    if expected_md5 is not None and (md5 := md5_of(archive)) != expected_md5:
        raise DataError(f"{archive}: MD5 is {md5}, expected {expected_md5}; the file is truncated or "
                        "not the official archive, download it again")
    root = install_root(data_dir)
    with owned_temporaries(root) as prefix:
        return install(archive, root, prefix, progress, label=str(archive))


def install(archive: Path, root: Path, prefix: str, progress, label: str) -> Path:
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
    except Refused as e:
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
