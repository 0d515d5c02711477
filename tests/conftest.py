import os
import sys
from pathlib import Path

import pytest

# Keep TensorFlow quiet and small on a 2-core laptop; set before TF is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_cifar import write_cifar_folder  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A tiny learnable CIFAR-10 folder in the official format (200 train, 100 test)."""
    root = tmp_path_factory.mktemp("cifar")
    write_cifar_folder(root, per_class_train=20, per_class_test=10)
    return root
