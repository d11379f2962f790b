"""minigrad.data.cache: atomic writes, and validation that never lets a bad file through."""

from __future__ import annotations

import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minigrad.data import MNISTError, MNISTWarning, load_mnist
from minigrad.data.cache import CACHE_NAME, Cache, default_cache_dir

from .conftest import Fake


def _cached(fake: Fake, cache_dir: Path) -> Cache:
    """Fill the cache from a fake folder and return a fresh view of it."""
    load_mnist(data_dir=fake.idx_folder())
    assert (cache_dir / CACHE_NAME).is_file()
    return Cache(cache_dir)


def _assert_same(arrays: dict[str, np.ndarray], fake: Fake) -> None:
    for key, a in fake.arrays.items():
        np.testing.assert_array_equal(arrays[key], a)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "minigrad" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec
    assert default_cache_dir() == Path.home() / ".cache" / "minigrad" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "minigrad" / "mnist"


def test_cache_is_written_and_used(fake: Fake, isolated: Path) -> None:
    cache = _cached(fake, isolated)
    arrays = cache.read()
    assert arrays is not None and cache.problem is None
    _assert_same(arrays, fake)
    assert sorted(os.listdir(isolated)) == [CACHE_NAME]  # no temp files left
    with np.load(isolated / CACHE_NAME, allow_pickle=False) as npz:
        assert all(npz[k].dtype == np.uint8 for k in npz.files if k not in ("md5", "info"))
    # A later call needs no folder: the cache alone serves it, network off.
    (x, t), _ = load_mnist(normalize=False, download=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), fake.arrays["train-images"])


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"not a zip at all" * 100)


def _corrupt_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_flip_pixel(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("train_images.npy")
    data = bytearray(path.read_bytes())
    # Past the member's local header and the .npy header: inside the pixels.
    data[info.header_offset + 30 + len(info.filename) + 128 + 500] ^= 0x01
    path.write_bytes(bytes(data))


def _object_array(path: Path) -> None:
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["train_labels"] = np.array([object()] * 3, dtype=object)
    np.savez(path, **arrays)


def _stale_marker(path: Path) -> None:
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["md5"] = np.array(["0" * 32] * 4)
    np.savez(path, **arrays)


def _wrong_shape(path: Path) -> None:
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["t10k_images"] = arrays["t10k_images"][:-1]
    np.savez(path, **arrays)


def _bad_labels(path: Path) -> None:
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["t10k_labels"] = arrays["t10k_labels"] + 10
    np.savez(path, **arrays)


def _extra_key(path: Path) -> None:
    arrays = dict(np.load(path, allow_pickle=False))
    np.savez(path, extra=np.zeros(1), **arrays)


def _npy_not_npz(path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


CORRUPTIONS = {
    "garbage": (_corrupt_garbage, "corrupt"),
    "truncated": (_corrupt_truncate, "corrupt"),
    "flipped pixel": (_corrupt_flip_pixel, "CRC"),
    "object array": (_object_array, "allow_pickle"),
    "stale marker": (_stale_marker, "stale"),
    "wrong shape": (_wrong_shape, r"t10k-images is uint8 \(6, 28, 28\)"),
    "labels above 9": (_bad_labels, "labels above 9"),
    "extra key": (_extra_key, "expected"),
    "npy not npz": (_npy_not_npz, "not an .npz"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_bad_cache_is_detected_deleted_never_used(fake: Fake, isolated: Path, name: str) -> None:
    corrupt, reason = CORRUPTIONS[name]
    _cached(fake, isolated)
    corrupt(isolated / CACHE_NAME)
    cache = Cache(isolated)
    assert cache.read() is None
    assert cache.problem is not None and str(isolated / CACHE_NAME) in cache.problem
    assert re.search(reason, cache.problem), cache.problem
    assert not (isolated / CACHE_NAME).exists()


def test_corrupt_cache_with_no_other_source_fails(fake: Fake, isolated: Path) -> None:
    _cached(fake, isolated)
    _corrupt_truncate(isolated / CACHE_NAME)
    with pytest.raises(MNISTError, match=r"3\. cache: cache file .* is corrupt .*; deleted"):
        load_mnist(download=False)
    assert not (isolated / CACHE_NAME).exists()


def test_corrupt_cache_is_rebuilt_from_the_folder(fake: Fake, isolated: Path) -> None:
    folder = fake.idx_folder()
    load_mnist(data_dir=folder)
    _corrupt_flip_pixel(isolated / CACHE_NAME)
    with pytest.warns(MNISTWarning, match="cache: cache file .* corrupt"):
        (x, _), _ = load_mnist(data_dir=folder, normalize=False, flatten=False)
    np.testing.assert_array_equal(x[:, 0], fake.arrays["train-images"])
    rebuilt = Cache(isolated).read()
    assert rebuilt is not None
    _assert_same(rebuilt, fake)


def test_failed_write_leaves_nothing(
    fake: Fake, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_savez = np.savez

    def savez_then_fail(f: Any, *args: Any, **kwargs: Any) -> None:
        real_savez(f, *args, **kwargs)  # a complete-looking temp file...
        raise OSError(28, "No space left on device")  # ...then the disk fills up

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.warns(MNISTWarning, match="could not write the cache .*No space left"):
        (x, _), _ = load_mnist(data_dir=fake.idx_folder())
    assert x.shape == (12, 784)
    assert not isolated.exists() or os.listdir(isolated) == []


def test_interrupted_write_keeps_the_old_cache(
    fake: Fake, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _cached(fake, isolated)
    before = (isolated / CACHE_NAME).read_bytes()

    def interrupted(f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.write(fake.arrays, "test")
    assert os.listdir(isolated) == [CACHE_NAME]
    assert (isolated / CACHE_NAME).read_bytes() == before


def test_leftover_temp_file_is_never_taken_for_the_cache(fake: Fake, isolated: Path) -> None:
    _cached(fake, isolated)
    # A run killed after writing its temp file but before the rename leaves this behind.
    leftover = isolated / ".mnist-abc123.npz.tmp"
    os.replace(isolated / CACHE_NAME, leftover)
    with pytest.raises(MNISTError, match="no file"):
        load_mnist(download=False)
    # Old leftovers (over an hour) are cleaned up by the next write; fresh ones are not touched.
    fresh = isolated / ".mnist-fresh.npz.tmp"
    fresh.write_bytes(b"x")
    stale_dir = isolated / ".download-old"
    stale_dir.mkdir()
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    os.utime(stale_dir, (old, old))
    Cache(isolated).write(fake.arrays, "test")
    assert sorted(os.listdir(isolated)) == [".mnist-fresh.npz.tmp", CACHE_NAME]


def test_info_records_the_source(fake: Fake, isolated: Path) -> None:
    folder = fake.idx_folder()
    cache = _cached(fake, isolated)
    info = cache.info()
    assert info["source"] == f"folder {folder}"
    assert isinstance(info["files"], list) and len(info["files"]) == 4


def test_unreadable_cache_is_left_alone(
    fake: Fake, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cached(fake, isolated)
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    cache = Cache(isolated)
    assert cache.read() is None
    assert cache.problem is not None and "not readable (left in place)" in cache.problem
    assert (isolated / CACHE_NAME).exists()
