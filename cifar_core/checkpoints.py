"""Save, list and restore checkpoints: weights + optimizer state + step + config + history.

Layout of a checkpoint folder (default `checkpoints/`):

    ckpt-00000500/          one checkpoint, named by its global step
        model.weights.h5    Keras weights
        optimizer.npz       Adam's variables (iteration count, moments)
        meta.json           step, time, test accuracy, TrainConfig, file checksums (small: listed often)
        history.json        the metrics history up to this step (the Train page's curves)
        test_probabilities.npy  (10000, 10) float32: the network's answers on the test set at this step
                            (the Confusion matrix page reads them instead of classifying again)
    previous-<time>/        checkpoints set aside by "start fresh" (kept, not listed)
    .writer.lock            held (OS file lock) by the one process that writes here

A checkpoint is written into a temporary folder and renamed into place, so a
kill at any moment leaves the latest complete checkpoint loadable. Reading a
checkpoint verifies the checksums; a damaged one raises CheckpointError naming
the file and offering the previous valid checkpoint. Nothing is ever silently
re-initialised or deleted because it failed to load.

Listing needs no TensorFlow (the Home page reads it before TF is imported).
"""
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar_core.config import TrainConfig

DEFAULT_DIR = Path("checkpoints")
PREFIX = "ckpt-"
TMP_PREFIX = ".tmp-"
WEIGHTS, OPTIMIZER, META, HISTORY = "model.weights.h5", "optimizer.npz", "meta.json", "history.json"
PROBABILITIES = "test_probabilities.npy"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    step: int
    saved_at: float             # seconds since the epoch
    test_accuracy: float | None  # on the full test set, 0..1
    preset: str

    @property
    def name(self):
        return self.path.name


def list_checkpoints(folder=DEFAULT_DIR):
    """Complete checkpoints in `folder`, oldest first. Unreadable ones are skipped here
    (restore() reports them)."""
    infos = []
    for path in sorted(Path(folder).glob(PREFIX + "*")):
        try:
            meta = json.loads((path / META).read_text())
            infos.append(CheckpointInfo(path, int(meta["step"]), float(meta["saved_at"]),
                                        meta.get("test_accuracy"), meta["config"].get("preset", "?")))
        except (OSError, ValueError, KeyError):
            continue
    return sorted(infos, key=lambda info: info.step)


def latest_checkpoint(folder=DEFAULT_DIR):
    infos = list_checkpoints(folder)
    return infos[-1] if infos else None


def read_meta(path):
    """The meta.json of a checkpoint folder, as a dict (CheckpointError if unreadable)."""
    path = Path(path)
    try:
        return json.loads((path / META).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path / META} is unreadable ({e}); {_offer_previous(path)}") from None


def save_checkpoint(folder, model, optimizer, step, config, history, test_accuracy, keep=5,
                    test_probabilities=None):
    """Write ckpt-<step> atomically, then delete the oldest beyond `keep`. Returns its CheckpointInfo.

    test_probabilities: (N, 10) float32 class probabilities of the test set, saved when given."""
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
        if test_probabilities is not None:
            np.save(tmp / PROBABILITIES, np.asarray(test_probabilities, np.float32))
            files.append(PROBABILITIES)
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
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old.path, ignore_errors=True)
    return CheckpointInfo(final, int(step), meta["saved_at"], test_accuracy, config.preset)


def restore(path, model, optimizer=None):
    """Load a checkpoint's weights (and optimizer state) into `model`; returns its meta dict.

    Raises CheckpointError naming the damaged file and offering the previous valid checkpoint.
    """
    path = Path(path)
    meta = read_meta(path)
    for name, digest in meta.get("sha256", {}).items():
        try:
            ok = _sha256(path / name) == digest
        except OSError:
            ok = False
        if not ok:
            raise CheckpointError(f"checkpoint file {path / name} is missing or damaged "
                                  f"(checksum mismatch); {_offer_previous(path)}")
    try:
        model.load_weights(path / WEIGHTS)
        if optimizer is not None:
            with np.load(path / OPTIMIZER) as saved:
                values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            optimizer.build(model.trainable_variables)
            if len(values) != len(optimizer.variables):
                raise ValueError(f"{len(values)} optimizer variables saved, {len(optimizer.variables)} expected")
            for variable, value in zip(optimizer.variables, values):
                variable.assign(value)
    except CheckpointError:
        raise
    except Exception as e:  # h5py, numpy and Keras raise many kinds for a bad or mismatched file
        raise CheckpointError(f"checkpoint {path} does not fit this network ({e}); "
                              f"{_offer_previous(path)}") from None
    return meta


def read_history(path):
    """The metrics history saved with a checkpoint: {"steps": [...], "batch_accuracy": [...], ...}."""
    path = Path(path)
    try:
        return json.loads((path / HISTORY).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint file {path / HISTORY} is unreadable ({e}); "
                              f"{_offer_previous(path)}") from None


def read_test_probabilities(path):
    """The (N, 10) float32 test-set probabilities saved with a checkpoint, or None when it has none
    (saved before they were kept). CheckpointError when the file is damaged."""
    path = Path(path)
    digest = read_meta(path).get("sha256", {}).get(PROBABILITIES)
    if digest is None:
        return None
    try:
        if _sha256(path / PROBABILITIES) != digest:
            raise ValueError("checksum mismatch")
        return np.load(path / PROBABILITIES, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint file {path / PROBABILITIES} is missing or damaged ({e}); "
                              f"{_offer_previous(path)}") from None


def config_of(path):
    return TrainConfig.from_dict(read_meta(path)["config"])


def set_aside(folder=DEFAULT_DIR):
    """Move every checkpoint into previous-<time>/ ("start fresh"); nothing is deleted. Returns that folder."""
    folder = Path(folder)
    infos = list_checkpoints(folder)
    if not infos:
        return None
    aside = folder / time.strftime("previous-%Y%m%d-%H%M%S")
    aside.mkdir()
    for info in infos:
        os.replace(info.path, aside / info.name)
    return aside


def _offer_previous(path):
    earlier = [info for info in list_checkpoints(path.parent) if info.step < _step_of(path)]
    for info in reversed(earlier):
        if _files_intact(info.path):
            return (f"the previous valid checkpoint is {info.path} (step {info.step}); "
                    f"move or delete {path} to resume from it")
    return f"no earlier valid checkpoint exists; move or delete {path} and start fresh"


def _files_intact(path):
    try:
        meta = read_meta(path)
        return all(_sha256(path / name) == digest for name, digest in meta["sha256"].items())
    except (CheckpointError, OSError, KeyError):
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
    (an OS file lock). Sweeps temporary folders that a killed writer left behind."""

    def __init__(self, folder=DEFAULT_DIR):
        self.folder = Path(folder).resolve()
        self._file = None

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with _held_lock:
            if self.folder in _held:
                raise CheckpointError(f"checkpoint folder {self.folder} is already being written "
                                      "by a training run in this process")
            handle = open(self.folder / ".writer.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise CheckpointError(f"checkpoint folder {self.folder} is in use by another training "
                                      "process; stop it or choose another --checkpoint-dir") from None
            _held.add(self.folder)
            self._file = handle
        for stale in self.folder.glob(TMP_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        return self

    def __exit__(self, *exc):
        with _held_lock:
            _held.discard(self.folder)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
