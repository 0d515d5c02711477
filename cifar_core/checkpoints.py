"""List and restore checkpoints (checkpoint_saving.py writes them): weights + optimizer state + step + config + history + artifacts.

Layout of a checkpoint folder (default `checkpoints/`):

    ckpt-00000500/          one checkpoint, named by its global step
        weights.npz         the network's weights, keyed by the project's names (below)
        optimizer.npz       Adam's variables, keyed the same way (iteration count, moments)
        meta.json           step, time, test accuracy, TrainConfig, file checksums (small: listed often)
        history.json        the metrics history up to this step (the Train page's curves)
        <artifact>.npz      arrays the pages read instead of computing them, written by the training
                            job's hooks (training/hooks.py), e.g. test_probabilities.npz (10000, 10); compressed:
                            the fc2 activations are three quarters zeros (2.6 MB -> 0.9 MB). Older checkpoints
                            have <artifact>.npy, read as well
    ckpt-00000900.damaged-<time>/   a damaged checkpoint that a save of its step moved aside (kept, reported)
    snapshots/ckpt-*/       the run's snapshots at log-spaced steps, kept for its whole life (snapshots.py)
    previous-<time>/        a run set aside by "start a new run" (runs.py: kept, listed, restorable)
    .writer.lock            held (OS file lock) by the one process that writes here (writer_lock.py)

A checkpoint is written into a temporary folder and renamed into place, so a
kill at any moment leaves the latest complete checkpoint loadable.

The arrays are keyed by the project's own names (model.weights_by_name), not Keras', so a checkpoint
outlives a Keras upgrade and loads into the fused and the plain-Keras network alike (numpy's .npz: plain
arrays, read without pickles):
    weights.npz     "layer_conv1/kernel" (5, 5, 3, 64), "layer_conv1_bn/gamma", ".../beta", ".../moving_mean",
                    ".../moving_variance", "layer_fc1/kernel", "layer_fc1/bias", ...: one array per weight
    optimizer.npz   "iterations" (the global step), "learning_rate", and per trainable weight its Adam slots
                    "layer_conv1/kernel/momentum", "layer_conv1/kernel/velocity", ...
Restoring checks the names and shapes first and assigns nothing unless all match: a network or an optimizer
that differs is refused with the names, never filled by position. Checkpoints saved before (their meta.json
covers model.weights.h5 instead) still restore: Keras' weights file, read into the fused network that wrote it,
and optimizer.npz's arrays arr_0, arr_1 ... by position, as they were saved.

Everything in a checkpoint folder is outside input (a copied folder, a hand edit, a full disk):
- meta.json is checked against its schema whenever a checkpoint is opened or listed
  (checkpoint_files.py); one that fails makes the checkpoint *damaged*. `scan_checkpoints` returns the
  valid ones and the damaged ones with their reasons; `list_checkpoints` / `latest_checkpoint` return
  the valid ones only. Nothing is skipped silently, and nothing damaged is ever deleted or overwritten:
  pruning spares it, and a save of its step first moves it aside (`Checkpoint.moved_aside` says where).
- Its files' checksums are checked on `verify()` / `restore()` / `artifact()` only: hashing every
  checkpoint on every listing would be slow (the pages list once a second per browser). A listing only
  makes sure that every file meta.json lists is a plain file of the checkpoint's own.
Every failure is a CheckpointError naming the file and what to do, offering the previous valid checkpoint.

Listing needs no TensorFlow (the Home page reads it before TF is imported).
"""
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar_core.config import TrainConfig
from cifar_core.checkpoint_files import (HISTORY, LEGACY_WEIGHTS, MAX_HISTORY_BYTES, OPTIMIZER, PREFIX,
                                         SNAPSHOT, WEIGHTS, CheckpointError, Damaged, a_file_message,
                                         check_meta, load_meta, pair_by_name, pair_by_position, read_arrays,
                                         read_plain, sha256, weights_file, why)
from cifar_core.checkpoint_files import META, REQUIRED_FILES  # noqa: F401  (part of this module's API, as before)
from cifar_core.writer_lock import WriterLock  # noqa: F401  (part of this module's API: one writer per folder)

DEFAULT_DIR = Path("checkpoints")
ARTIFACT_SUFFIX = ".npz"  # <artifact>.npz: one compressed array named "array"
DAMAGED_MARK = ".damaged-"  # ckpt-00000900.damaged-<time>: moved aside by a save of step 900
_CANONICAL = re.compile(re.escape(PREFIX) + r"([0-9]{8,})")


@dataclass(frozen=True)
class DamagedCheckpoint:
    """A folder named like a checkpoint that cannot be used, and why. Reported, never deleted."""
    path: Path
    reason: str

    @property
    def name(self):
        return self.path.name


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """One saved checkpoint; its meta.json is read (and checked) once, when it is opened. Two Checkpoint
    objects are equal when they are the same save (folder and time), as a page's picker needs across reruns.

    moved_aside: on the Checkpoint that save_checkpoint returns, the damaged checkpoint of the same step
    that the save moved aside instead of overwriting it (a DamagedCheckpoint at its new path); else None."""
    path: Path
    meta: dict
    moved_aside: DamagedCheckpoint | None = None

    def __eq__(self, other):
        return isinstance(other, Checkpoint) and (self.path, self.saved_at) == (other.path, other.saved_at)

    def __hash__(self):
        return hash((self.path, self.saved_at))

    @classmethod
    def open(cls, path):
        """The checkpoint in folder `path`; CheckpointError saying what is wrong when it is damaged."""
        path = Path(path)
        try:
            return examine(path)
        except Damaged as e:
            raise CheckpointError(f"checkpoint {path} is damaged: {e}; {_offer_previous(path)}") from None

    @property
    def name(self):
        return self.path.name

    @property
    def step(self):
        return self.meta["step"]

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

    @property
    def is_snapshot(self):
        """A snapshot (snapshots.py) holds the weights and artifacts to look at, no optimizer or history."""
        return self.meta.get("kind") == SNAPSHOT

    @property
    def run(self):
        """(schedule_start, target_step) of the run it belongs to. A checkpoint saved before runs kept them
        counts as a finished run: its schedule ended at its step."""
        run = self.meta.get("run") or {}
        target = int(run.get("target_step", self.step))
        return int(run.get("schedule_start", max(0, target - self.config.steps))), target

    def history(self):
        """The metrics history saved with it: {"steps": [...], "batch_accuracy": [...], ...}."""
        if self.is_snapshot:
            raise CheckpointError(f"{self.path} is a snapshot: it keeps no history (its run's checkpoints do)")
        file = self.path / HISTORY
        try:
            history = json.loads(read_plain(file, MAX_HISTORY_BYTES))
            if not (isinstance(history, dict) and all(isinstance(v, list) for v in history.values())):
                raise ValueError("not an object of metric lists")
        except (OSError, ValueError, RecursionError) as e:
            raise CheckpointError(f"checkpoint file {file} is unreadable ({why(e)}); "
                                  f"{_offer_previous(self.path)}") from None
        return history

    def artifact(self, name):
        """The array a hook saved under `name` (checksum verified), or None when this checkpoint has none
        (saved before that artifact existed). CheckpointError when the file is damaged."""
        sums = self.meta["sha256"]  # names are checked: "../x" is never among them
        file = next((f"{name}{suffix}" for suffix in (ARTIFACT_SUFFIX, ".npy") if f"{name}{suffix}" in sums), None)
        if file is None:
            return None
        try:
            if sha256(self.path / file) != sums[file]:
                raise ValueError("checksum mismatch")
            if file.endswith(".npy"):
                return np.load(self.path / file, allow_pickle=False)
            with np.load(self.path / file, allow_pickle=False) as saved:
                return saved["array"]
        except (OSError, ValueError) as e:
            raise CheckpointError(f"checkpoint file {self.path / file} is missing or damaged ({why(e)}); "
                                  f"{_offer_previous(self.path)}") from None

    def verify(self):
        """CheckpointError naming the first of its files that is missing or damaged (checksum mismatch)."""
        damaged = first_damaged_file(self)
        if damaged is not None:
            name, why = damaged
            raise CheckpointError(f"checkpoint file {self.path / name} is missing or damaged ({why}); "
                                  f"{_offer_previous(self.path)}")

    def restore(self, model, optimizer=None):
        """Load the weights (and optimizer state) into `model` (and `optimizer`).

        Raises CheckpointError naming the damaged file and offering the previous valid checkpoint."""
        if optimizer is not None and self.is_snapshot:
            raise CheckpointError(f"{self.path} is a snapshot: it keeps no optimizer state to resume from")
        self.verify()
        from cifar_core.model import optimizer_variables_by_name, weights_by_name  # TensorFlow: only here

        legacy = weights_file(self.meta["sha256"]) == LEGACY_WEIGHTS
        try:
            saved = self._legacy_weights() if legacy else read_arrays(self.path / WEIGHTS)
            pairs = pair_by_name(weights_by_name(model), saved, WEIGHTS)
            if optimizer is not None:
                optimizer.build(model.trainable_variables)
                saved = read_arrays(self.path / OPTIMIZER)
                pairs += (pair_by_position(optimizer.variables, saved) if legacy else
                          pair_by_name(optimizer_variables_by_name(model, optimizer), saved, OPTIMIZER))
            for variable, value in pairs:  # only once everything fits: a refused checkpoint changes nothing
                variable.assign(value)
        except Exception as e:  # h5py, numpy and Keras raise many kinds for a bad or mismatched file
            raise CheckpointError(f"checkpoint {self.path} does not fit this network ({e}); "
                                  f"{_offer_previous(self.path)}") from None

    def _legacy_weights(self):
        # Keras keys its file by class-derived names (fused_batch_normalization...): only a network of the
        # classes that wrote it reads it. Its float32 twin reads them here, and hands them on by name.
        from cifar_core.model import build_model, weights_by_name

        writer = build_model(self.config.model)
        writer.load_weights(self.path / LEGACY_WEIGHTS)
        return {name: variable.numpy() for name, variable in weights_by_name(writer).items()}


# --- the arrays, by name ----------------------------------------------------------------

# --- listing ---------------------------------------------------------------------------

def scan_checkpoints(folder=DEFAULT_DIR):
    """(valid, damaged): the valid Checkpoints in `folder`, oldest first, and a DamagedCheckpoint, with its
    reason, for every other entry named like a checkpoint (by name). Files are not hashed here (see verify).
    CheckpointError when `folder` is a file or cannot be read; a folder not made yet holds none."""
    folder = Path(folder)
    valid, damaged = [], []
    for path in _entries(folder):
        try:
            valid.append(examine(path))
        except Damaged as e:
            damaged.append(DamagedCheckpoint(path, str(e)))
    return sorted(valid, key=lambda checkpoint: checkpoint.step), damaged


def list_checkpoints(folder=DEFAULT_DIR):
    """The valid checkpoints in `folder`, oldest first (scan_checkpoints also reports the damaged ones)."""
    return scan_checkpoints(folder)[0]


def latest_checkpoint(folder=DEFAULT_DIR):
    found = list_checkpoints(folder)
    return found[-1] if found else None


def _entries(folder):
    try:
        # Said, not skipped: a file in the folder's place made `evaluate` answer "train first".
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(a_file_message(folder))
        return sorted(path for path in folder.iterdir() if path.name.startswith(PREFIX))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CheckpointError(f"checkpoint folder {folder} cannot be read ({why(e)}); check its permissions "
                              "or choose another checkpoint folder") from None


def examine(path):
    """The Checkpoint in folder `path`, or Damaged saying what is wrong with it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise Damaged("it does not exist") from None
    except OSError as e:
        raise Damaged(f"it cannot be read ({why(e)})") from None
    if stat.S_ISLNK(mode):  # pruning and saving must never reach through a link to elsewhere
        raise Damaged("it is a symbolic link, not a checkpoint folder")
    if not stat.S_ISDIR(mode):
        raise Damaged("it is a file, not a checkpoint folder")
    original, mark, _ = path.name.partition(DAMAGED_MARK)
    if mark:
        raise Damaged(f"moved aside when its step was saved again, because {_why_moved(path, original)}")
    step = _canonical_step(path.name)
    if step is None:
        raise Damaged(f"its name is not {PREFIX} followed by an 8-digit step")
    meta = load_meta(path)
    check_meta(meta, step, path)
    return Checkpoint(path, meta)


def _why_moved(path, original):
    # Its meta.json's problem if it has one; otherwise a save found one of its files failing its checksum.
    step = _canonical_step(original)
    if step is None:
        return f"its name is not {PREFIX} followed by an 8-digit step"
    try:
        check_meta(load_meta(path), step, path)
    except Damaged as e:
        return str(e)
    return "a file failed its checksum"


def _canonical_step(name):
    match = _CANONICAL.fullmatch(name)
    return int(match.group(1)) if match and name == f"{PREFIX}{int(match.group(1)):08d}" else None


# --- files -----------------------------------------------------------------------------------

def _offer_previous(path):
    try:
        earlier = [c for c in list_checkpoints(path.parent) if c.step < _step_of(path)]
    except CheckpointError:  # building a message must never fail in turn
        earlier = []
    for checkpoint in reversed(earlier):
        if first_damaged_file(checkpoint) is None:
            return (f"the previous valid checkpoint is {checkpoint.path} (step {checkpoint.step}); "
                    f"move {path} aside to resume from it")
    return f"no earlier valid checkpoint exists; move {path} aside and start a new run"


def first_damaged_file(checkpoint):
    """(name, why) of the first file of `checkpoint` that is missing or fails its checksum, or None."""
    for name, digest in checkpoint.meta["sha256"].items():
        try:
            if sha256(checkpoint.path / name) != digest:
                return name, "checksum mismatch"
        except (OSError, ValueError) as e:
            return name, why(e)
    return None


def _step_of(path):
    step = _canonical_step(path.name.partition(DAMAGED_MARK)[0])
    return 1 << 62 if step is None else step  # not a checkpoint's name: every valid one is earlier
