"""Find and load CIFAR-10 (official "python version"); download.py gets it.

The dataset is a folder `cifar-10-batches-py/` of pickles. A pickle can run code,
so batches are read with a restricted unpickler that admits only plain numpy
arrays (batch_pickle.py), and each field is checked here. NumPy and the standard
library only: no TensorFlow, no Streamlit.
"""
import ctypes
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cifar_core import batch_pickle

OFFICIAL_FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
BATCH_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
GET_DATA_HINT = ("get it with `python -m cifar_core download`, or offline: download cifar-10-python.tar.gz "
                 "elsewhere, then `python -m cifar_core download --from cifar-10-python.tar.gz`")


class DataError(Exception):
    """A dataset problem; the message names the file and field (or URL) and the fix."""


class DatasetNotFound(DataError):
    """No dataset folder where we looked; the message lists the places and how to get it."""


@dataclass(frozen=True, eq=False)  # eq=False: compare by identity, arrays have no truth value
class Dataset:
    train_images: np.ndarray = field(repr=False)  # (N, 32, 32, 3) uint8, read-only
    train_labels: np.ndarray = field(repr=False)  # (N,) int64 in 0..9, read-only
    test_images: np.ndarray = field(repr=False)   # (M, 32, 32, 3) uint8, read-only
    test_labels: np.ndarray = field(repr=False)   # (M,) int64 in 0..9, read-only
    class_names: tuple  # 10 names from batches.meta, e.g. ("airplane", ...)
    folder: Path        # the cifar-10-batches-py folder it came from
    official: bool      # every file byte-identical to the official release (per-file MD5)


# --- finding ---------------------------------------------------------------

def default_data_dir() -> Path:
    """`data/CIFAR-10`, relative to the current working directory (as the notebook)."""
    return Path("data/CIFAR-10")


def _batches_in(path) -> Path | None:
    """`path` itself if it is a batches folder, else `path/cifar-10-batches-py` if present."""
    path = Path(path).expanduser()
    if (path / BATCH_FOLDER).is_dir():
        return (path / BATCH_FOLDER).resolve()
    if path.is_dir() and (path.name == BATCH_FOLDER or (path / "batches.meta").is_file()):
        return path.resolve()
    return None


def _candidates(data_dir=None) -> list:
    """The places find_dataset looks, in order. An explicit dir or the env var is exclusive."""
    if data_dir is not None:
        return [Path(data_dir)]
    if os.environ.get("CIFAR10_DATA_DIR"):
        return [Path(os.environ["CIFAR10_DATA_DIR"])]
    return [default_data_dir(), *keras_caches()]


def keras_caches() -> list:
    """Where Keras keeps CIFAR-10: Keras 3 in $KERAS_HOME (default ~/.keras)/datasets/
    cifar-10-batches-py-target/, Keras 2 in ~/.keras/datasets/."""
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    return [keras_home / "datasets" / f"{BATCH_FOLDER}-target" / BATCH_FOLDER,
            Path.home() / ".keras" / "datasets" / BATCH_FOLDER]


def find_dataset(data_dir=None) -> Path | None:
    """The cifar-10-batches-py folder, or None. An explicit data_dir, else $CIFAR10_DATA_DIR,
    is the only place looked at (a wrong path should not silently fall back); otherwise
    data/CIFAR-10 under the cwd, then the Keras caches (see keras_caches)."""
    for place in _candidates(data_dir):
        if (found := _batches_in(place)) is not None:
            return found
    return None


def install_root(data_dir=None) -> Path:
    """Where download/install put cifar-10-batches-py/: the explicit dir, env var or default."""
    root = _candidates(data_dir)[0].expanduser()
    return root.parent if root.name == BATCH_FOLDER else root


# --- loading ---------------------------------------------------------------
# A dataset folder may be repackaged by anyone: batch_pickle.py reads each file without trusting it.
# Limits are what CIFAR-10 can be, with a margin, so a small file cannot become a huge array.

MAX_BATCH_BYTES = 200_000_000  # per data/test batch file; the official ones are ~31 MB
MAX_META_BYTES = 1_000_000     # batches.meta; the official one is 158 bytes
MAX_IMAGES = 120_000           # images in all six files; CIFAR-10 has 60,000
MAX_NAME_CHARS = 40            # per class name shown; the longest official one has 10


def _read_pickle(path: Path, limit: int):
    """(unpickled dict, MD5 hex) of one batch file; the size is checked before it is read."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {size:,} bytes, more than a CIFAR-10 file can be ({limit:,}); "
                            "this is not a CIFAR-10 batch, re-download or re-extract the dataset")
        with open(path, "rb") as f:
            raw = f.read(limit + 1)  # + 1: a file that grew since stat() is caught below
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e}); check its permissions, or "
                        "re-extract the dataset") from None
    if len(raw) > limit:
        raise DataError(f"{path}: more than {limit:,} bytes; this is not a CIFAR-10 batch")
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    try:
        obj = batch_pickle.unpickle(raw, path)
    except batch_pickle.UnsafePickle as e:
        raise DataError(str(e)) from None
    except MemoryError:
        raise DataError(f"{path}: ran out of memory unpickling it; this is not a plain CIFAR-10 "
                        "batch, re-download the dataset") from None
    except Exception as e:  # truncated or garbage file
        raise DataError(f"{path}: not a readable CIFAR-10 pickle ({type(e).__name__}: "
                        f"{batch_pickle.printable(str(e), 200)}); re-download or re-extract the dataset") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}; re-download the dataset")
    return obj, md5


def _field(batch: dict, key: str, path: Path):
    """batch[key] whether the pickle keys are bytes (encoding="bytes") or str."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataError(f"{path}: missing field '{key}'; re-download the dataset")


def _labels(value, n: int, path: Path) -> np.ndarray:
    """(n,) int64 in 0..9 from an integer array or a list of ints / numpy integers. Checked
    element by element, never np.asarray on whatever the file holds (ragged, nested)."""
    want = f"{path}: field 'labels' must be {n} integers (one per row of 'data')"
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or len(value) != n or (value.size and value.dtype.kind not in "iu"):
            raise DataError(f"{want}, found {value.dtype} {value.shape}")
    elif isinstance(value, (list, tuple)):
        if len(value) != n:
            raise DataError(f"{want}, found a {type(value).__name__} of {len(value)}")
        bad = next((i for i, x in enumerate(value) if type(x) is not int and not isinstance(x, np.integer)), None)
        if bad is not None:
            raise DataError(f"{want}, found a {type(value[bad]).__name__} at index {bad}")
    else:
        raise DataError(f"{want}, found {type(value).__name__}")
    if not n:
        return np.zeros(0, np.int64)
    lo, hi = (value.min(), value.max()) if isinstance(value, np.ndarray) else (min(value), max(value))
    if lo < 0 or hi > 9:  # checked before int64: a huge int would not convert
        raise DataError(f"{path}: field 'labels' must lie in 0..9, found {lo}..{hi}")
    return np.array(value, dtype=np.int64)  # a copy: writeable, then frozen by read_folder


def _read_batch(path: Path):
    """Images (N, 3, 32, 32) uint8 view, labels (N,) int64, MD5 of one data/test batch."""
    batch, md5 = _read_pickle(path, MAX_BATCH_BYTES)
    data = _field(batch, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: field 'data' must be uint8 (N, 3072), found {got}")
    labels = _labels(_field(batch, "labels", path), len(data), path)
    # Each row is the R plane (1024, row-major), then G, then B: (N, 3072) -> (N, 3, 32, 32).
    return data.reshape(-1, 3, 32, 32), labels, md5


def _class_names(meta: dict, path: Path) -> tuple:
    """The 10 names, as text fit to print: control characters removed, length capped."""
    names = _field(meta, "label_names", path)
    if isinstance(names, np.ndarray) and names.ndim == 1 and names.dtype.kind in "SU":
        names = names.tolist()
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise DataError(f"{path}: field 'label_names' must hold 10 class names, "
                        f"found {len(names) if isinstance(names, (list, tuple)) else type(names).__name__}")
    bad = next((i for i, name in enumerate(names) if not isinstance(name, (bytes, str))), None)
    if bad is not None:
        raise DataError(f"{path}: field 'label_names' must hold 10 class names, found a "
                        f"{type(names[bad]).__name__} at index {bad}; re-download the dataset")
    # A name with nothing printable left is shown by its number rather than as a blank.
    return tuple(batch_pickle.printable(name, MAX_NAME_CHARS) or f"class {i}" for i, name in enumerate(names))


def _to_hwc(planes: list) -> np.ndarray:
    """[(n_i, 3, 32, 32) ...] -> one contiguous (sum n_i, 32, 32, 3) uint8 array, copied once."""
    images = np.empty((sum(len(p) for p in planes), 32, 32, 3), np.uint8)  # C order, as pages expect
    np.concatenate([p.transpose(0, 2, 3, 1) for p in planes], out=images)
    images.flags.writeable = False
    return images


def read_folder(folder: Path) -> Dataset:
    missing = [n for n in (*TRAIN_FILES, "test_batch", "batches.meta") if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder}: missing batch file(s) {', '.join(missing)}; {GET_DATA_HINT}")
    md5s = {}
    meta, md5s["batches.meta"] = _read_pickle(folder / "batches.meta", MAX_META_BYTES)
    class_names = _class_names(meta, folder / "batches.meta")
    batches, images = {}, 0
    for name in (*TRAIN_FILES, "test_batch"):
        batches[name] = _read_batch(folder / name)
        md5s[name] = batches[name][2]
        images += len(batches[name][1])
        if images > MAX_IMAGES:  # checked as we go: the rest is not even read
            raise DataError(f"{folder / name}: field 'data' brings the images to {images:,}, more than "
                            f"CIFAR-10 can hold ({MAX_IMAGES:,}; it has 60,000); re-download the dataset")
    train = [batches[name] for name in TRAIN_FILES]
    test_planes, test_labels, _ = batches["test_batch"]
    if not sum(len(labels) for _, labels, _ in train):
        raise DataError(f"{folder}: field 'data' of {', '.join(TRAIN_FILES)} holds 0 images: the "
                        f"training set is empty; {GET_DATA_HINT}")
    if not len(test_labels):
        raise DataError(f"{folder / 'test_batch'}: field 'data' holds 0 images: the test set is "
                        f"empty; {GET_DATA_HINT}")
    train_labels = np.concatenate([labels for _, labels, _ in train])
    for labels in (train_labels, test_labels):
        labels.flags.writeable = False
    return Dataset(train_images=_to_hwc([planes for planes, _, _ in train]), train_labels=train_labels,
                   test_images=_to_hwc([test_planes]), test_labels=test_labels,
                   class_names=class_names, folder=folder, official=md5s == OFFICIAL_FILE_MD5)


_CACHE = {}  # resolved folder -> (folder stamp, Dataset); one copy per folder per process
_CACHE_LOCK = threading.Lock()  # held during a load, so concurrent callers share ONE load


def folder_stamp(folder) -> tuple:
    """(inode, modification time) of a batches folder: changes when install_archive replaces it."""
    st = Path(folder).stat()
    return st.st_ino, st.st_mtime_ns


def load_dataset(data_dir=None) -> Dataset:
    """The dataset as read-only uint8 arrays (see Dataset), cached per folder per process."""
    folder = find_dataset(data_dir)
    if folder is None:
        looked = ", ".join(str(Path(p).expanduser().absolute()) for p in _candidates(data_dir))
        raise DatasetNotFound(f"CIFAR-10 not found (looked in: {looked}); {GET_DATA_HINT}")
    stamp = folder_stamp(folder)
    with _CACHE_LOCK:
        cached = _CACHE.get(folder)
        if cached is None or cached[0] != stamp:
            cached = _CACHE[folder] = (stamp, read_folder(folder))
            _return_freed_memory()
        return cached[1]


def _return_freed_memory():
    """Give the ~300 MB of freed pickle buffers back to the OS (glibc keeps them otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        pass
