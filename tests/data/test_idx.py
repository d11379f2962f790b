"""minigrad.data.idx: parsing (with validation) and serializing IDX files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from minigrad.data.idx import (
    IMAGE_MAGIC,
    LABEL_MAGIC,
    idx_header,
    idx_md5,
    parse_idx,
    read_idx,
    to_idx_bytes,
)

IMAGES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
LABELS = np.array([3, 1, 4], dtype=np.uint8)


def test_header_layout() -> None:
    assert idx_header(IMAGES) == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    assert int.from_bytes(to_idx_bytes(IMAGES)[:4], "big") == IMAGE_MAGIC
    assert int.from_bytes(to_idx_bytes(LABELS)[:4], "big") == LABEL_MAGIC


@pytest.mark.parametrize("a", [IMAGES, LABELS, IMAGES[:, ::2]])
def test_roundtrip_and_md5(a: np.ndarray) -> None:
    data = to_idx_bytes(a)
    back = parse_idx(data, "x", magic=None, shape=a.shape)
    np.testing.assert_array_equal(back, a)
    assert back.dtype == np.uint8
    assert idx_md5(a) == hashlib.md5(data).hexdigest()


def test_idx_header_rejects_other_dtypes() -> None:
    with pytest.raises(ValueError, match="uint8 only, got dtype int64"):
        idx_header(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        idx_header(np.zeros((), dtype=np.uint8))


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        (b"\x00\x00\x08", {}, "f.idx: truncated: 3 bytes, too short"),
        (
            to_idx_bytes(LABELS),
            {"magic": IMAGE_MAGIC},
            "f.idx: bad magic number 2049 .expected 2051",
        ),
        (b"\x12\x34\x08\x01" + bytes(8), {}, "f.idx: bad magic number .*not an IDX file"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01" + bytes(4), {}, "unsupported IDX data type 0x0D"),
        (b"\x00\x00\x08\x00", {}, "declares 0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", {}, "truncated: 8 bytes, the header alone needs 16"),
        (
            to_idx_bytes(IMAGES)[:-1],
            {},
            r"truncated: 39 bytes, expected 40 for dimensions \(2, 3, 4\)",
        ),
        (to_idx_bytes(IMAGES) + b"xx", {}, "2 unexpected trailing bytes"),
        (
            to_idx_bytes(IMAGES),
            {"shape": (2, 4, 3)},
            r"dimensions \(2, 3, 4\), expected \(2, 4, 3\)",
        ),
    ],
)
def test_parse_errors_name_file_and_problem(data: bytes, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_idx(data, "f.idx", **kwargs)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gzip(tmp_path: Path, gz: bool) -> None:
    data = to_idx_bytes(IMAGES)
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(read_idx(path, IMAGE_MAGIC, (2, 3, 4)), IMAGES)
    np.testing.assert_array_equal(read_idx(path), IMAGES)


def test_read_idx_reads_at_most_one_byte_too_many(tmp_path: Path) -> None:
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(to_idx_bytes(IMAGES) + bytes(10_000)))
    with pytest.raises(ValueError, match="big.gz: 1 unexpected trailing bytes"):
        read_idx(path, IMAGE_MAGIC, (2, 3, 4))


def test_read_idx_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(to_idx_bytes(IMAGES))[:-12])
    with pytest.raises(ValueError, match=r"cut.gz: truncated gzip stream"):
        read_idx(path, IMAGE_MAGIC, (2, 3, 4))


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    blob = bytearray(gzip.compress(to_idx_bytes(IMAGES)))
    blob[-6] ^= 0xFF  # the CRC-32 in the trailer
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="bad.gz: corrupt gzip data"):
        read_idx(path, IMAGE_MAGIC, (2, 3, 4))
