"""Save, list and restore checkpoints: weights + optimizer state + step + config + history + artifacts.

Layout of a checkpoint folder (default `checkpoints/`):

    ckpt-00000500/          one checkpoint, named by its global step
        model.weights.h5    Keras weights
        optimizer.npz       Adam's variables (iteration count, moments)
        meta.json           step, time, test accuracy, TrainConfig, file checksums (small: listed often)
        history.json        the metrics history up to this step (the Train page's curves)
        <artifact>.npy      arrays the pages read instead of computing them, written by the training
                            job's hooks (training/hooks.py), e.g. test_probabilities.npy (10000, 10)
    previous-<time>/        checkpoints set aside by "start fresh" (kept, not listed)
    .writer.lock            held (OS file lock) by the one process that writes here

A checkpoint is written into a temporary folder and renamed into place, so a
kill at any moment leaves the latest complete checkpoint loadable. Reading a
checkpoint verifies the checksums; a damaged one raises CheckpointError naming
the file and offering the previous valid checkpoint. Nothing is ever silently
re-initialised or deleted because it failed to load.

Listing needs no TensorFlow (the Home page reads it before TF is imported).
"""
import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import filelock
import numpy as np

from cifar_core.config import TrainConfig

DEFAULT_DIR = Path("checkpoints")
PREFIX = "ckpt-"
TMP_PREFIX = ".tmp-"
WEIGHTS, OPTIMIZER, META, HISTORY = "model.weights.h5", "optimizer.npz", "meta.json", "history.json"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """One saved checkpoint; its meta.json is read once, when it is opened. Two Checkpoint objects are
    equal when they are the same save (folder and time), as a page's picker needs across reruns."""
    path: Path
    meta: dict

    def __eq__(self, other):
        return isinstance(other, Checkpoint) and (self.path, self.saved_at) == (other.path, other.saved_at)

    def __hash__(self):
        return hash((self.path, self.saved_at))

    @classmethod
    def open(cls, path):
        """The checkpoint in folder `path` (CheckpointError if its metadata is unreadable)."""
        path = Path(path)
        try:
            return cls(path, _read_meta(path))
        except ValueError as e:
            raise CheckpointError(f"checkpoint {path / META} is unreadable ({e}); {_offer_previous(path)}") from None

    @property
    def name(self):
        return self.path.name

    @property
    def step(self):
        return int(self.meta["step"])

    @property
    def saved_at(self):
        """Seconds since the epoch."""
        return float(self.meta["saved_at"])

    @property
    def test_accuracy(self):
        """On the full test set, 0..1 (None for a checkpoint saved without one)."""
        return self.meta.get("test_accuracy")

    @property
    def preset(self):
        return self.meta["config"].get("preset", "?")

    @property
    def config(self):
        return TrainConfig.from_dict(self.meta["config"])

    def history(self):
        """The metrics history saved with it: {"steps": [...], "batch_accuracy": [...], ...}."""
        try:
            return json.loads((self.path / HISTORY).read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"checkpoint file {self.path / HISTORY} is unreadable ({e}); "
                                  f"{_offer_previous(self.path)}") from None

    def artifact(self, name):
        """The array a hook saved under `name` (checksum verified), or None when this checkpoint has none
        (saved before that artifact existed). CheckpointError when the file is damaged."""
        file = f"{name}.npy"
        digest = self.meta.get("sha256", {}).get(file)
        if digest is None:
            return None
        try:
            if _sha256(self.path / file) != digest:
                raise ValueError("checksum mismatch")
            return np.load(self.path / file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"checkpoint file {self.path / file} is missing or damaged ({e}); "
                                  f"{_offer_previous(self.path)}") from None

    def verify(self):
        """CheckpointError naming the first of its files that is missing or damaged (checksum mismatch)."""
        for name, digest in self.meta.get("sha256", {}).items():
            try:
                ok = _sha256(self.path / name) == digest
            except OSError:
                ok = False
            if not ok:
                raise CheckpointError(f"checkpoint file {self.path / name} is missing or damaged "
                                      f"(checksum mismatch); {_offer_previous(self.path)}")

    def restore(self, model, optimizer=None):
        """Load the weights (and optimizer state) into `model` (and `optimizer`).

        Raises CheckpointError naming the damaged file and offering the previous valid checkpoint."""
        self.verify()
        try:
            model.load_weights(self.path / WEIGHTS)
            if optimizer is not None:
                with np.load(self.path / OPTIMIZER) as saved:
                    values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
                optimizer.build(model.trainable_variables)
                if len(values) != len(optimizer.variables):
                    raise ValueError(f"{len(values)} optimizer variables saved, {len(optimizer.variables)} expected")
                for variable, value in zip(optimizer.variables, values):
                    variable.assign(value)
        except Exception as e:  # h5py, numpy and Keras raise many kinds for a bad or mismatched file
            raise CheckpointError(f"checkpoint {self.path} does not fit this network ({e}); "
                                  f"{_offer_previous(self.path)}") from None


def _read_meta(path):
    """meta.json of checkpoint folder `path` as a dict; ValueError when it is unreadable or incomplete."""
    try:
        meta = json.loads((path / META).read_text())
        int(meta["step"]), float(meta["saved_at"]), meta["config"].get("preset")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return meta


def list_checkpoints(folder=DEFAULT_DIR):
    """Complete checkpoints in `folder`, oldest first. Unreadable ones are skipped here
    (Checkpoint.open reports them)."""
    found = []
    for path in sorted(Path(folder).glob(PREFIX + "*")):
        try:
            found.append(Checkpoint(path, _read_meta(path)))
        except ValueError:
            continue
    return sorted(found, key=lambda checkpoint: checkpoint.step)


def latest_checkpoint(folder=DEFAULT_DIR):
    found = list_checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(folder, model, optimizer, step, config, history, test_accuracy, artifacts=None):
    """Write ckpt-<step> atomically, then delete the oldest beyond config.keep_checkpoints.

    artifacts: {name: array} saved as <name>.npy (e.g. the test set's probabilities). Returns the Checkpoint."""
    folder = Path(folder)
    final = folder / f"{PREFIX}{step:08d}"
    tmp = folder / f"{TMP_PREFIX}{final.name}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model.save_weights(tmp / WEIGHTS)
        np.savez(tmp / OPTIMIZER, *[v.numpy() for v in optimizer.variables])
        (tmp / HISTORY).write_text(json.dumps(history))
        files = [WEIGHTS, OPTIMIZER, HISTORY]
        for name, array in (artifacts or {}).items():
            np.save(tmp / f"{name}.npy", np.asarray(array))
            files.append(f"{name}.npy")
        meta = {"step": int(step), "saved_at": time.time(), "test_accuracy": test_accuracy,
                "config": json.loads(config.to_json()),
                "sha256": {name: _sha256(tmp / name) for name in files}}
        (tmp / META).write_text(json.dumps(meta))
        _fsync_tree(tmp)
        if final.exists():  # the same step saved twice (stop right after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(folder)[:-config.keep_checkpoints]:
        shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, meta)


def set_aside(folder=DEFAULT_DIR):
    """Move every checkpoint into previous-<time>/ ("start fresh"); nothing is deleted. Returns that folder."""
    folder = Path(folder)
    found = list_checkpoints(folder)
    if not found:
        return None
    aside = folder / time.strftime("previous-%Y%m%d-%H%M%S")
    aside.mkdir()
    for checkpoint in found:
        os.replace(checkpoint.path, aside / checkpoint.name)
    return aside


def _offer_previous(path):
    earlier = [c for c in list_checkpoints(path.parent) if c.step < _step_of(path)]
    for checkpoint in reversed(earlier):
        if _files_intact(checkpoint):
            return (f"the previous valid checkpoint is {checkpoint.path} (step {checkpoint.step}); "
                    f"move or delete {path} to resume from it")
    return f"no earlier valid checkpoint exists; move or delete {path} and start fresh"


def _files_intact(checkpoint):
    try:
        return all(_sha256(checkpoint.path / name) == digest for name, digest in checkpoint.meta["sha256"].items())
    except (OSError, KeyError, AttributeError):
        return False


def _step_of(path):
    try:
        return int(path.name[len(PREFIX):])
    except ValueError:
        return 1 << 62


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(folder):
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())


# --- one writer per folder --------------------------------------------------------

_held = set()            # resolved folders this process writes to
_held_lock = threading.Lock()


class WriterLock:
    """Exclusive right to write checkpoints into a folder: in-process and across processes
    (an OS file lock, on Linux, macOS and Windows). Sweeps temporary folders that a killed writer left."""

    def __init__(self, folder=DEFAULT_DIR):
        self.folder = Path(folder).resolve()
        self._file_lock = None

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
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
            _held.add(self.folder)
            self._file_lock = lock
        for stale in self.folder.glob(TMP_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        return self

    def __exit__(self, *exc):
        with _held_lock:
            _held.discard(self.folder)
            self._file_lock.release()
