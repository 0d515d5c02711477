"""One writer per checkpoint folder: the training run that holds its WriterLock (checkpoints.py re-exports it).

Held in-process and across processes (an OS file lock through `filelock`, on Linux, macOS and Windows), so
two runs never write the same folder; taking it sweeps the temporary folders a killed writer left.
"""
import shutil
import threading
from pathlib import Path

import filelock

from cifar_core.checkpoint_files import TMP_PREFIX, CheckpointError, a_file_message, why

_held = set()            # resolved folders this process writes to
_held_lock = threading.Lock()


class WriterLock:
    """Exclusive right to write checkpoints into a folder: in-process and across processes
    (an OS file lock, on Linux, macOS and Windows). Sweeps temporary folders that a killed writer left."""

    def __init__(self, folder):
        self.folder = Path(folder).resolve()
        self._file_lock = None

    def __enter__(self):
        _make_folder(self.folder)
        with _held_lock:
            if self.folder in _held:
                raise CheckpointError(f"checkpoint folder {self.folder} is already being written "
                                      "by a training run in this process")
            lock = filelock.FileLock(self.folder / ".writer.lock", timeout=0)
            try:
                lock.acquire()
            except filelock.Timeout:
                raise CheckpointError(f"checkpoint folder {self.folder} is in use by another training "
                                      "process; stop it or choose another checkpoint folder") from None
            except OSError as e:
                raise CheckpointError(f"checkpoint folder {self.folder} cannot be locked for writing "
                                      f"({why(e)}); check its permissions or choose another checkpoint "
                                      "folder") from None
            _held.add(self.folder)
            self._file_lock = lock
        for stale in [*self.folder.glob(TMP_PREFIX + "*"), *self.folder.glob(f"*/{TMP_PREFIX}*")]:
            shutil.rmtree(stale, ignore_errors=True)  # */: the snapshots' folder too
        return self

    def __exit__(self, *exc):
        with _held_lock:
            _held.discard(self.folder)
            self._file_lock.release()


def _make_folder(folder):
    # "[Errno 17] File exists" told nobody that a file sits where the folder should be.
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(a_file_message(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"checkpoint folder {folder} cannot be made ({why(e)}); choose another "
                              "checkpoint folder") from None
