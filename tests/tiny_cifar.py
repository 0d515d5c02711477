"""Write tiny CIFAR-10 folders in the official on-disk format, for tests.

The folder matches what the official archive extracts to
(`cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`), with
dict keys as bytes as in the official Python 2 pickles. The images are
learnable: each class has its own colour, plus noise, so a real model
trained for a few seconds gets well above chance.
"""
import pickle
from pathlib import Path

import numpy as np

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]

# One distinct RGB colour per class (0..255).
PALETTE = np.array([
    [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
    [145, 30, 180], [70, 240, 240], [240, 50, 230], [128, 128, 0], [0, 0, 128],
], dtype=np.float32)


def make_images(labels, seed):
    """uint8 (N, 32, 32, 3): the class colour plus per-pixel noise."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 25.0, size=(len(labels), 32, 32, 3))
    return np.clip(PALETTE[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)


def to_rows(images):
    # (N, 32, 32, 3) -> (N, 3072): R plane, then G, then B, each row-major.
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072).copy()


def write_batch(path, images, labels, batch_label="batch"):
    batch = {b"batch_label": batch_label.encode(), b"labels": [int(x) for x in labels],
             b"data": to_rows(images),
             b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=4)


def write_cifar_folder(root, per_class_train=20, per_class_test=10, seed=0):
    """Write root/cifar-10-batches-py/ and return that folder's Path."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_labels = rng.permutation(np.repeat(np.arange(10), per_class_train))
    test_labels = rng.permutation(np.repeat(np.arange(10), per_class_test))
    train_images = make_images(train_labels, seed + 1)
    for i, part in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        write_batch(folder / f"data_batch_{i}", train_images[part], train_labels[part],
                    f"training batch {i} of 5")
    write_batch(folder / "test_batch", make_images(test_labels, seed + 2), test_labels, "testing batch 1 of 1")
    meta = {b"num_cases_per_batch": len(train_labels) // 5,
            b"label_names": [c.encode() for c in CLASS_NAMES], b"num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=4)
    return folder


# --- hand-made pickles, for tests of hostile files ----------------------------

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct


class Reduce:
    """Pickles as func(*args), then BUILD with state if given: writes any reconstruction
    a file may hold, e.g. numpy's, with whatever arguments and state we choose."""
    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def array_by_hand(shape, raw, typestr="u1", byteorder="|", names=None, fields=None, elsize=-1,
                  alignment=-1, flags=0):
    """A numpy array as the official pickles write it (_reconstruct + state), but with the
    dtype's state (byte order, field names and fields, sizes, flags) and the bytes as given."""
    dtype = Reduce(np.dtype, (typestr, False, True),
                   (3, byteorder, None, names, fields, elsize, alignment, flags))
    return Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, False, raw))


def rewrite_batch(path, protocol=2, **changes):
    """Load a batch written above, change fields (None deletes one), write it back."""
    batch = pickle.loads(Path(path).read_bytes())
    for key, value in changes.items():
        if value is None:
            del batch[key.encode()]
        else:
            batch[key.encode()] = value
    Path(path).write_bytes(pickle.dumps(batch, protocol=protocol))
