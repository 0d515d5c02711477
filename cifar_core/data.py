"""Find and load CIFAR-10 (official "python version"); download.py gets it.

The dataset is a folder `cifar-10-batches-py/` of pickles. A pickle can run code,
so batches are read with a restricted unpickler that admits only numpy array
reconstruction. NumPy and the standard library only: no TensorFlow, no Streamlit.
"""
import ctypes
import hashlib
import io
import os
import pickle
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct

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
    return [default_data_dir(), Path.home() / ".keras" / "datasets" / BATCH_FOLDER]


def find_dataset(data_dir=None) -> Path | None:
    """The cifar-10-batches-py folder, or None. An explicit data_dir, else $CIFAR10_DATA_DIR,
    is the only place looked at (a wrong path should not silently fall back); otherwise
    data/CIFAR-10 under the cwd, then the Keras cache ~/.keras/datasets."""
    for place in _candidates(data_dir):
        if (found := _batches_in(place)) is not None:
            return found
    return None


def install_root(data_dir=None) -> Path:
    """Where download/install put cifar-10-batches-py/: the explicit dir, env var or default."""
    root = _candidates(data_dir)[0].expanduser()
    return root.parent if root.name == BATCH_FOLDER else root


# --- loading ---------------------------------------------------------------

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only the globals that numpy arrays need; anything else is refused
    when named, i.e. before a malicious reduce can call it."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def __init__(self, file, path):
        super().__init__(file, encoding="bytes")  # Python 2 str -> bytes, as written
        self.path = path

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        raise DataError(f"{self.path}: refused pickle global {module}.{name} (only numpy arrays are "
                        "allowed); this is not a plain CIFAR-10 batch, delete it and re-download")


def _read_pickle(path: Path):
    """(unpickled dict, MD5 hex) of one batch file; the bytes are read once for both."""
    raw = path.read_bytes()
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(raw), path).load()
    except DataError:
        raise
    except Exception as e:  # truncated or garbage file
        raise DataError(f"{path}: not a readable CIFAR-10 pickle ({type(e).__name__}: {e}); "
                        "re-download or re-extract the dataset") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}; re-download the dataset")
    return obj, md5


def _field(batch: dict, key: str, path: Path):
    """batch[key] whether the pickle keys are bytes (encoding="bytes") or str."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataError(f"{path}: missing field '{key}'; re-download the dataset")


def _read_batch(path: Path):
    """Images (N, 3, 32, 32) uint8 view, labels (N,) int64, MD5 of one data/test batch."""
    batch, md5 = _read_pickle(path)
    data = _field(batch, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: field 'data' must be uint8 (N, 3072), found {got}")
    labels = np.asarray(_field(batch, "labels", path))
    if labels.ndim != 1 or len(labels) != len(data) or (labels.size and labels.dtype.kind not in "iu"):
        raise DataError(f"{path}: field 'labels' must be {len(data)} integers (one per row of 'data'), "
                        f"found {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: field 'labels' must lie in 0..9, found {labels.min()}..{labels.max()}")
    # Each row is the R plane (1024, row-major), then G, then B: (N, 3072) -> (N, 3, 32, 32).
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64), md5


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
    meta, md5s["batches.meta"] = _read_pickle(folder / "batches.meta")
    names = _field(meta, "label_names", folder / "batches.meta")
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise DataError(f"{folder / 'batches.meta'}: field 'label_names' must hold 10 class names, "
                        f"found {len(names) if isinstance(names, (list, tuple)) else type(names).__name__}")
    class_names = tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names)
    train = []
    for name in TRAIN_FILES:
        *parts, md5s[name] = _read_batch(folder / name)
        train.append(parts)
    test_planes, test_labels, md5s["test_batch"] = _read_batch(folder / "test_batch")
    train_labels = np.concatenate([labels for _, labels in train])
    for labels in (train_labels, test_labels):
        labels.flags.writeable = False
    return Dataset(train_images=_to_hwc([planes for planes, _ in train]), train_labels=train_labels,
                   test_images=_to_hwc([test_planes]), test_labels=test_labels,
                   class_names=class_names, folder=folder, official=md5s == OFFICIAL_FILE_MD5)


_CACHE = {}  # resolved folder -> (folder stamp, Dataset); one copy per folder per process
_CACHE_LOCK = threading.Lock()  # held during a load, so concurrent callers share ONE load


def load_dataset(data_dir=None) -> Dataset:
    """The dataset as read-only uint8 arrays (see Dataset), cached per folder per process."""
    folder = find_dataset(data_dir)
    if folder is None:
        looked = ", ".join(str(Path(p).expanduser().absolute()) for p in _candidates(data_dir))
        raise DatasetNotFound(f"CIFAR-10 not found (looked in: {looked}); {GET_DATA_HINT}")
    st = folder.stat()
    stamp = (st.st_ino, st.st_mtime_ns)  # changes when install_archive replaces the folder
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
