"""Reading one CIFAR-10 batch pickle without trusting it: only plain numpy arrays come out.

A dataset folder may be repackaged by anyone: it is input, not trusted code. Even numpy's
own reconstruction is unsafe on hostile state (a dtype whose flags deny its object field
makes numpy read raw bytes as pointers: a segfault), so the unpickler builds no numpy
object itself: it hands back stand-ins, and each array is made here with np.frombuffer
over the pickled bytes, in a dtype chosen from a short allow-list. Limits are what
CIFAR-10 can be, with a margin, so a small file cannot become a huge array.

NumPy and the standard library only (data.py reads the files and checks their fields).
"""
import io
import math
import pickle
import re
import unicodedata
from pathlib import Path

import numpy as np

MAX_ROWS = 60_000              # images per batch file; the official ones hold 10,000
MAX_NESTING = 3                # containers inside a field: the official files use one level
# Plain dtypes only: uint8 pixels, integer labels, fixed-size strings; floats are admitted
# so that a float 'data' field gets the field check's message. No object, void, datetime.
_PLAIN_DTYPE = re.compile(r"[iu][1248]|f[48]|[SU][1-9][0-9]{0,3}")


class UnsafePickle(Exception):
    """A batch pickle, or a part of it, refused; the message names the file (and field) and what to do."""


class _Hostile(Exception):
    """A part of a pickle that we refuse to build; the message says what it claimed."""


def printable(text, limit=80) -> str:
    """text for a terminal or a page: no control or format characters (an escape sequence
    such as ESC[2J clears the screen, a bidi override reorders a line), at most limit chars."""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", "replace")
    elif not isinstance(text, str):
        return type(text).__name__
    kept = (ch for ch in text[: limit * 4] if unicodedata.category(ch)[0] != "C"
            and unicodedata.category(ch) not in ("Zl", "Zp"))
    return "".join(kept).strip()[:limit]


class _Refused:
    """Returned instead of an object we will not build; _settle names its file and field."""

    def __init__(self, reason):
        self.reason = reason

    def __setstate__(self, state):  # a BUILD aimed at it changes nothing
        pass


class _DtypeStandIn:
    """numpy.dtype(typestr, align, copy) then __setstate__(state) from a pickle. Only the type
    string and the byte order are used: flags, sizes and fields in the state are not trusted."""

    def __init__(self, typestr, align=False, copy=False):
        self.typestr = typestr.decode("ascii", "replace") if isinstance(typestr, bytes) else typestr
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def resolve(self) -> np.dtype:
        typestr, state = getattr(self, "typestr", None), getattr(self, "state", None)
        state = (3, "|", None, None, None) if state is None else state
        if not isinstance(state, tuple) or len(state) < 5:
            raise _Hostile("numpy dtype with an unreadable state")
        if any(part is not None for part in state[2:5]):  # (subarray, names, fields)
            raise _Hostile("structured numpy dtype refused (CIFAR-10 arrays are plain uint8 or integers)")
        if not isinstance(typestr, str) or not _PLAIN_DTYPE.fullmatch(typestr):
            raise _Hostile(f"numpy dtype {printable(typestr, 20)!r} refused (allowed: integers, "
                           "floats, fixed-size strings; never objects)")
        order = state[1].decode("ascii", "replace") if isinstance(state[1], bytes) else state[1]
        if order not in ("<", ">", "=", "|"):
            raise _Hostile(f"numpy dtype byte order {printable(order, 10)!r} refused")
        return np.dtype(("=" if order == "|" else order) + typestr)


def _array(shape, dtype, fortran, raw) -> np.ndarray:
    """A read-only array over raw, after checking that raw is exactly shape x itemsize."""
    if not isinstance(dtype, _DtypeStandIn):
        raise _Hostile("numpy array without a numpy dtype")
    dt = dtype.resolve()
    if not (isinstance(shape, tuple) and len(shape) <= 4
            and all(type(n) is int and 0 <= n <= MAX_ROWS * 3072 for n in shape)):
        raise _Hostile(f"numpy array shape refused (at most 4 sizes, each 0..{MAX_ROWS * 3072:,})")
    if shape and shape[0] > MAX_ROWS:
        raise _Hostile(f"numpy array of {shape[0]:,} rows refused (a batch file holds at most "
                       f"{MAX_ROWS:,}; the official ones hold 10,000)")
    if not isinstance(raw, (bytes, bytearray)):
        raise _Hostile(f"numpy array whose contents are a {type(raw).__name__}, not bytes, refused")
    need = math.prod(shape) * dt.itemsize
    if need != len(raw):
        raise _Hostile(f"numpy array {shape} of {dt} needs {need:,} bytes but holds {len(raw):,}")
    return np.frombuffer(raw, dt).reshape(shape, order="F" if fortran is True else "C")


class _ArrayStandIn:
    """_reconstruct(ndarray, (0,), b'b') then __setstate__((version, shape, dtype, fortran,
    bytes)): the array protocols 0-4 write. Holds the built array or why it was refused."""
    array, reason = None, "numpy array without contents"

    def __setstate__(self, state):
        try:
            if not isinstance(state, tuple) or len(state) not in (4, 5):
                raise _Hostile("numpy array with an unreadable state")
            self.array = _array(*state[-4:])
        except _Hostile as e:
            self.reason = str(e)


class _NdarrayMarker:
    """numpy.ndarray, as _reconstruct's first argument. Called directly it would accept a
    buffer, an offset and strides (zero strides: 5e9 rows of one byte), so that is refused."""

    def __call__(self, *args, **kwargs):
        return _Refused("numpy.ndarray(buffer, strides) called directly, refused")


_NDARRAY = _NdarrayMarker()


def _reconstruct(cls, *args):
    return _ArrayStandIn() if cls is _NDARRAY else _Refused("numpy array of another class refused")


def _frombuffer(buf, dtype, shape, order="C"):
    """numpy's protocol-5 array: _frombuffer(bytes, dtype, shape, order)."""
    try:
        return _array(shape, dtype, order in ("F", b"F"), buf)
    except _Hostile as e:
        return _Refused(str(e))


def _scalar(dtype, raw=None):
    """numpy's scalar(dtype, bytes), e.g. a numpy.int64 label in a plain list."""
    try:
        return _array((), dtype, False, raw)[()]
    except _Hostile as e:
        return _Refused(str(e))


def _latin1(text, encoding="utf-8"):
    """_codecs.encode(str, 'latin1'): how Python 3 writes bytes in a protocol-2 pickle."""
    if isinstance(text, str) and encoding in ("latin1", "latin-1"):
        return text.encode("latin-1")
    return _Refused("_codecs.encode other than of text to latin1 refused")


def _empty_bytes(*args):
    """bytes(): how Python 3 writes b'' at protocol 2 (bytes(n) would allocate n bytes)."""
    return _Refused("bytes(...) with arguments refused") if args else b""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only the globals that plain numpy arrays and scalars need, as stand-ins (above),
    and Python 3's way of writing bytes at protocol 2; anything else is refused when named,
    i.e. before a malicious reduce can call it."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy.core.multiarray", "scalar"): _scalar, ("numpy._core.multiarray", "scalar"): _scalar,
               ("numpy.core.numeric", "_frombuffer"): _frombuffer,
               ("numpy._core.numeric", "_frombuffer"): _frombuffer,
               ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _DtypeStandIn,
               ("_codecs", "encode"): _latin1, ("__builtin__", "bytes"): _empty_bytes,
               ("builtins", "bytes"): _empty_bytes}

    def __init__(self, file, path):
        super().__init__(file, encoding="bytes")  # Python 2 str -> bytes, as written
        self.path = path

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        raise UnsafePickle(f"{self.path}: refused pickle global {printable(module)}.{printable(name)} "
                        "(only numpy arrays are allowed); this is not a plain CIFAR-10 batch, "
                        "delete it and re-download")


def _settle(value, where: str, depth=0, memo=None):
    """value with each array stand-in replaced by its array; UnsafePickle naming `where` (file and
    field) for a refused part, or for containers nested deeper than MAX_NESTING (a list that
    contains itself is infinitely deep). A container shared by reference is settled once, so
    lists of references to lists cannot make this walk exponential."""
    if isinstance(value, _ArrayStandIn):
        value = value.array if value.array is not None else _Refused(value.reason)
    if isinstance(value, _Refused):
        raise UnsafePickle(f"{where}: {value.reason}; this is not a plain CIFAR-10 batch, delete it "
                        "and re-download")
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return value
    memo, key = {} if memo is None else memo, id(value)
    if key in memo:
        return memo[key]
    if depth >= MAX_NESTING:
        raise UnsafePickle(f"{where}: nested more than {MAX_NESTING} levels deep; CIFAR-10 fields are "
                        "flat lists or arrays, delete the file and re-download")
    if isinstance(value, list):
        value[:] = [_settle(v, where, depth + 1, memo) for v in value]
    elif isinstance(value, dict):
        for k in list(value):
            _settle(k, where, depth + 1, memo)  # keys and set members: checked, left as they are
            value[k] = _settle(value[k], where, depth + 1, memo)  # (an array is not hashable)
    elif isinstance(value, tuple):
        value = tuple(_settle(v, where, depth + 1, memo) for v in value)
    else:
        for v in value:
            _settle(v, where, depth + 1, memo)
    memo[key] = value
    return value


def _settle_fields(batch: dict, path: Path):
    """Settle each field of a batch (see _settle) in place; field names must be text."""
    for key in list(batch):
        if not isinstance(key, (bytes, str)):
            raise UnsafePickle(f"{path}: a field name is not text ({type(key).__name__}); this is not "
                            "a CIFAR-10 batch, re-download the dataset")
        batch[key] = _settle(batch[key], f"{path}: field '{printable(key)}'")


def unpickle(raw, path):
    """The object pickled in `raw` (the bytes of the file at `path`), every array in it a read-only numpy array
    over those bytes, a dict's fields settled (_settle). UnsafePickle for whatever is refused."""
    obj = _NumpyOnlyUnpickler(io.BytesIO(raw), path).load()
    if isinstance(obj, dict):
        _settle_fields(obj, path)
    return obj
