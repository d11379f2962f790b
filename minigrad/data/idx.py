"""The IDX file format of MNIST: parse (with validation) and serialize.

An IDX file is a 4-byte big-endian magic number (two zero bytes, a data-type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. MNIST uses unsigned bytes
(code 0x08): 2051 = images (3 dims), 2049 = labels (1 dim).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "idx_header",
    "idx_md5",
    "parse_idx",
    "read_idx",
    "to_idx_bytes",
]

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(
    data: bytes | bytearray | memoryview,
    name: str,
    magic: int | None = None,
    shape: tuple[int, ...] | None = None,
) -> NDArray[np.uint8]:
    """Parse the bytes of an uncompressed IDX file of unsigned bytes into an array.

    ``name`` is used in error messages. If given, ``magic`` and ``shape`` must match exactly.
    The data must be exactly as long as the header says. Raises ValueError naming the problem.
    The array shares memory with ``data`` (read-only if ``data`` is bytes).
    """
    n = len(data)
    if n < 4:
        raise ValueError(f"{name}: truncated: {n} bytes, too short for an IDX header")
    head = bytes(data[:4])
    got_magic = int.from_bytes(head, "big")
    if magic is not None and got_magic != magic:
        raise ValueError(
            f"{name}: bad magic number {got_magic} (expected {magic}: IDX, unsigned bytes, "
            f"{magic & 0xFF} dimension(s))"
        )
    if head[0] != 0 or head[1] != 0:
        raise ValueError(f"{name}: bad magic number {got_magic}: not an IDX file")
    if head[2] != _UBYTE:
        raise ValueError(
            f"{name}: unsupported IDX data type 0x{head[2]:02X} (MNIST uses unsigned bytes, 0x08)"
        )
    ndim = head[3]
    header_size = 4 + 4 * ndim
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    if n < header_size:
        raise ValueError(f"{name}: truncated: {n} bytes, the header alone needs {header_size}")
    dims = tuple(int.from_bytes(bytes(data[4 + 4 * i : 8 + 4 * i]), "big") for i in range(ndim))
    if shape is not None and dims != tuple(shape):
        raise ValueError(f"{name}: dimensions {dims}, expected {tuple(shape)}")
    expected = header_size + math.prod(dims)
    if n < expected:
        raise ValueError(f"{name}: truncated: {n} bytes, expected {expected} for dimensions {dims}")
    if n > expected:
        raise ValueError(
            f"{name}: {n - expected} unexpected trailing bytes after the data "
            f"(expected {expected} bytes for dimensions {dims})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def read_idx(
    path: str | Path, magic: int | None = None, shape: tuple[int, ...] | None = None
) -> NDArray[np.uint8]:
    """Read an IDX file, gzip-compressed or not (told by its content), and parse it.

    With ``shape`` given, at most one byte more than the expected size is read, so a huge or
    endless file is rejected early. Raises ValueError naming the file, OSError if unreadable.
    """
    path = Path(path)
    limit = -1
    if shape is not None:
        limit = 4 + 4 * len(shape) + math.prod(shape) + 1
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
        f.seek(0)
        if compressed:
            try:
                with gzip.GzipFile(fileobj=f) as g:
                    data = g.read(limit)
            except EOFError as e:
                raise ValueError(f"{path}: truncated gzip stream ({e})") from e
            except (OSError, zlib.error) as e:
                raise ValueError(f"{path}: corrupt gzip data ({e})") from e
        else:
            data = f.read(limit)
    return parse_idx(data, str(path), magic=magic, shape=shape)


def idx_header(array: NDArray[np.uint8]) -> bytes:
    """The IDX header for a uint8 array: magic (0x08, ndim) and the dimensions."""
    if array.dtype != np.uint8:
        raise ValueError(f"idx_header: IDX here stores uint8 only, got dtype {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"idx_header: an IDX array needs 1 to 255 dimensions, got {array.ndim}")
    head = bytes([0, 0, _UBYTE, array.ndim])
    return head + b"".join(int(d).to_bytes(4, "big") for d in array.shape)


def to_idx_bytes(array: NDArray[np.uint8]) -> bytes:
    """Serialize a uint8 array as an uncompressed IDX file (the inverse of ``parse_idx``)."""
    return idx_header(array) + np.ascontiguousarray(array).tobytes()


def idx_md5(array: NDArray[np.uint8]) -> str:
    """The MD5 of ``to_idx_bytes(array)``, computed without building the bytes."""
    h = hashlib.md5(idx_header(array))
    h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()
