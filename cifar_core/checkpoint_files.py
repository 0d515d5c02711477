"""What a checkpoint folder must hold to be used: meta.json's schema, its own plain files, its arrays by name.

Used by checkpoints.py (which reads and writes checkpoints); nothing here imports TensorFlow: the arrays of
weights.npz and optimizer.npz are read, written and paired with a network's variables by name here (their keys:
checkpoints.py's docstring), and checkpoints.py assigns them. A checkpoint is input like any file: its metadata
is checked field by field before anything trusts it, and only its own plain files are ever opened (never a
link, a device or a path outside the folder).
"""
import dataclasses
import hashlib
import json
import math
import os
import re
import stat

import numpy as np

from cifar_core.config import Distortions, ModelConfig, TrainConfig

PREFIX = "ckpt-"
WEIGHTS, OPTIMIZER, META, HISTORY = "weights.npz", "optimizer.npz", "meta.json", "history.json"
# Checkpoints saved before weights.npz: Keras' own weights file, and optimizer.npz by position (checkpoints.py).
LEGACY_WEIGHTS = "model.weights.h5"
WEIGHT_FILES = (WEIGHTS, LEGACY_WEIGHTS)  # a checkpoint's "sha256" covers exactly one of them: its weights
REQUIRED_FILES = (WEIGHTS, OPTIMIZER, HISTORY)  # "sha256" must cover these: nothing is loaded unverified
SNAPSHOT = "snapshot"  # meta.json's "kind" of a snapshot (snapshots.py): weights only, to look at, not resume
KINDS = {"checkpoint": REQUIRED_FILES, SNAPSHOT: (WEIGHTS,)}  # -> the files each kind must have (or LEGACY_WEIGHTS)
MAX_META_BYTES = 1 << 20        # meta.json is a few KB; a huge one is not a checkpoint's
MAX_HISTORY_BYTES = 256 << 20   # 10 million steps of history fit; a bigger file would only fill the memory
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # a plain name inside the folder: no "/", "\\" or ":"
_SHA256 = re.compile(r"[0-9a-f]{64}")


TMP_PREFIX = ".tmp-"  # a checkpoint being written: renamed into place when complete, swept by WriterLock


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what to do."""


def a_file_message(folder):
    return (f"checkpoint folder {folder} is a file, not a folder; move that file away or choose another "
            "checkpoint folder")


class Damaged(Exception):
    """Why a folder named like a checkpoint cannot be used (a DamagedCheckpoint or a CheckpointError)."""


# --- meta.json's schema ----------------------------------------------------------------

def load_meta(path):
    try:
        return json.loads(read_plain(path / META, MAX_META_BYTES))
    except FileNotFoundError:
        raise Damaged(f"{META} is missing") from None
    except OSError as e:
        raise Damaged(f"{META} cannot be read ({why(e)})") from None
    except (ValueError, RecursionError) as e:  # RecursionError: a deeply nested document
        raise Damaged(f"{META} is not valid JSON ({why(e)})") from None


def check_meta(meta, step, path):
    """Damaged naming the first field of `meta` that a checkpoint of `step` in folder `path` cannot have."""
    if not isinstance(meta, dict):
        raise Damaged(f"{META} holds {show(meta)}, not an object")
    if not is_count(meta.get("step")):
        raise Damaged(_field(meta, "step", "not a step (a whole number, 0 or more)"))
    if meta["step"] != step:
        raise Damaged(f'{META} has "step": {meta["step"]}, but the folder is {PREFIX}{step:08d}')
    if not is_number(meta.get("saved_at")):
        raise Damaged(_field(meta, "saved_at", "not a time (seconds since the epoch)"))
    accuracy = meta.get("test_accuracy")
    if accuracy is not None and not (is_number(accuracy) and 0 <= accuracy <= 1):
        raise Damaged(_field(meta, "test_accuracy", "neither null nor an accuracy from 0 to 1"))
    if meta.get("kind", "checkpoint") not in KINDS:
        raise Damaged(_field(meta, "kind", f"not one of {', '.join(KINDS)}"))
    _check_config(meta.get("config"))
    _check_run(meta.get("run"))
    _check_checksums(meta, path)


def _check_config(config):
    # The pages and the job call TrainConfig.from_dict on it at any time: it must not fail there.
    if not isinstance(config, dict):
        raise Damaged(f'{META} has "config": {show(config)}, not an object of settings')
    for key, kind in (("distortions", Distortions), ("model", ModelConfig)):
        nested = config.get(key, {})
        if not isinstance(nested, dict):
            raise Damaged(f'{META} has "config.{key}": {show(nested)}, not an object of settings')
        unknown = sorted(set(nested) - {f.name for f in dataclasses.fields(kind)})
        if unknown:
            raise Damaged(f'{META} has an unknown setting "config.{key}.{unknown[0]}"')
    try:
        parsed = TrainConfig.from_dict(config)
    except Exception as e:  # noqa: BLE001  from_dict trusts its input: whatever it raises, this is no config
        raise Damaged(f'{META} has a "config" that is not a TrainConfig ({why(e)})') from None
    _check_kind(dataclasses.asdict(parsed), dataclasses.asdict(TrainConfig()), "config")


def _check_kind(value, default, where):
    """Damaged unless `value` has the kind of `default` (asdict of a config: dicts, tuples, plain values)."""
    if isinstance(default, dict):
        for key, inner in default.items():
            _check_kind(value[key], inner, f"{where}.{key}")
    elif isinstance(default, tuple):
        if not (isinstance(value, tuple) and len(value) == len(default)):
            raise Damaged(f'{META} has "{where}": {show(value)}, not {len(default)} numbers')
        for i, (item, inner) in enumerate(zip(value, default)):
            _check_kind(item, inner, f"{where}[{i}]")
    elif not _same_kind(value, default):
        raise Damaged(f'{META} has "{where}": {show(value)}, not {_KIND_NAMES[type(default)]}')


_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}


def _same_kind(value, default):
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return is_number(value)
    return isinstance(value, type(default))


def _check_run(run):
    if run is None:  # saved before runs kept their schedule (Checkpoint.run has a default)
        return
    if not (isinstance(run, dict) and set(run) == {"schedule_start", "target_step"}
            and all(is_count(v) for v in run.values())):
        raise Damaged(f'{META} has "run": {show(run)}, not {{"schedule_start": step, "target_step": step}}')


def _check_checksums(meta, path):
    # Mandatory and exact: every file loaded is verified first, and only the checkpoint's own plain files
    # are ever hashed (a "sha256" entry naming /dev/zero made `evaluate` hash forever).
    if "sha256" not in meta:
        raise Damaged(f'{META} has no "sha256": its files cannot be verified')
    sums = meta["sha256"]
    if not isinstance(sums, dict):
        raise Damaged(f'{META} has "sha256": {show(sums)}, not an object of file checksums')
    weights = weights_file(sums)
    for name in KINDS[meta.get("kind", "checkpoint")]:
        if name not in sums and not (name == WEIGHTS and weights):
            raise Damaged(f'{META}\'s "sha256" does not cover {name}'
                          + (f" (nor {LEGACY_WEIGHTS}, as older checkpoints do)" if name == WEIGHTS else ""))
    if sum(name in sums for name in WEIGHT_FILES) > 1:
        raise Damaged(f'{META}\'s "sha256" covers both {" and ".join(WEIGHT_FILES)}: which are its weights is unclear')
    for name, digest in sums.items():
        if not _FILE_NAME.fullmatch(name) or ".." in name:
            raise Damaged(f'{META}\'s "sha256" names {show(name)}, which is not a file of this checkpoint')
        if not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            raise Damaged(f'{META}\'s "sha256" has {show(digest)} for {name}, not a SHA-256 digest')
        why = not_a_plain_file(path / name)
        if why:
            raise Damaged(f'{META}\'s "sha256" names {name}, which {why}')
    # A weights file beside the one meta.json covers (an old checkpoint's model.weights.h5 copied in) would be
    # ignored without a word: said instead, as everything else a checkpoint cannot use.
    for other in WEIGHT_FILES:
        if other != weights and os.path.lexists(path / other):
            raise Damaged(f"it holds {other}, which its {META} does not cover: its weights are {weights}")


def weights_file(sums):
    """The weights file that a meta.json's "sha256" covers: WEIGHTS, LEGACY_WEIGHTS (an older checkpoint) or None."""
    return next((name for name in WEIGHT_FILES if name in sums), None)


def not_a_plain_file(file):
    """Why `file` is not a plain file of its own (missing, a link, a folder, a device...), or None."""
    try:
        mode = os.lstat(file).st_mode
    except FileNotFoundError:
        return "is missing"
    except OSError as e:
        return f"cannot be read ({why(e)})"
    if stat.S_ISLNK(mode):
        return "is a symbolic link, not a file of its own"
    return None if stat.S_ISREG(mode) else "is not a plain file"


def _field(meta, key, expected):
    if key not in meta:
        return f'{META} has no "{key}"'
    return f'{META} has "{key}": {show(meta[key])}, {expected}'


def is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def show(value, limit=60):
    """`value` as JSON, cut short: a reason quotes what it found, never a whole hostile document."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def why(error):
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


# --- the arrays: weights.npz, optimizer.npz ---------------------------------------------------

def write_arrays(file, variables):
    """{name: variable} to `file` as one .npz array per name (uncompressed: weights hardly compress)."""
    np.savez(file, **{name: variable.numpy() for name, variable in variables.items()})


def read_arrays(file):
    """{name: array} of an .npz file (no pickles: an object array is refused)."""
    with np.load(file, allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}


def pair_by_name(variables, saved, file):
    """[(variable, saved array)] by name; ValueError naming the names or the shape that differ."""
    missing, unknown = sorted(set(variables) - set(saved)), sorted(set(saved) - set(variables))
    if missing or unknown:
        differences = [f"has no {_names(missing)}, which this network has"] if missing else []
        differences += [f"holds {_names(unknown)}, which this network has not"] if unknown else []
        raise ValueError(f"{file} {'; it '.join(differences)}")
    for name, variable in variables.items():
        if tuple(saved[name].shape) != tuple(variable.shape):
            raise ValueError(f"{file} holds {name} of shape {saved[name].shape}; this network's is "
                             f"{tuple(variable.shape)}")
    return [(variable, saved[name]) for name, variable in variables.items()]


def pair_by_position(variables, saved):
    # An older optimizer.npz: arr_0, arr_1 ... in the order of the optimizer that saved them.
    values = [saved.get(f"arr_{i}") for i in range(len(saved))]
    if len(values) != len(variables) or any(value is None for value in values):
        raise ValueError(f"{len(values)} optimizer variables saved, {len(variables)} expected")
    for variable, value in zip(variables, values):
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"optimizer variable {variable.name} has shape {tuple(variable.shape)}, "
                             f"{value.shape} saved")
    return list(zip(variables, values))


def _names(names, shown=3):
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


# --- plain files ------------------------------------------------------------------------

_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)  # absent on Windows
               | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))  # a FIFO must not block the open


def open_plain(file):
    """`file` opened for binary reading; OSError unless it is a plain file (a link to /dev/zero, or a FIFO,
    would have a reader hash or wait forever)."""
    if os.path.islink(file):
        raise OSError("a symbolic link, not a file of its own")
    fd = os.open(file, _OPEN_FLAGS)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError("not a plain file")
    return os.fdopen(fd, "rb")


def read_plain(file, limit):
    with open_plain(file) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"larger than {limit >> 20} MiB")
    return data.decode("utf-8")


def sha256(path):
    digest = hashlib.sha256()
    with open_plain(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
