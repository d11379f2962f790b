"""load_mnist on the real MNIST files from $MINIGRAD_DATA (skipped without it; a failure in CI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from realdata import mnist_folder

from minigrad.data import load_mnist

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@dataclass
class Real:
    folder: str
    cache_home: Path
    first_s: float
    cached_s: float


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Real]:
    """Load the real files once into a cache shared by this module's tests."""
    folder = mnist_folder("load_mnist on the real files")
    cache_home = tmp_path_factory.mktemp("real-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        mp.setenv("MINIGRAD_MNIST_MIRRORS", "")
        start = time.perf_counter()
        load_mnist(data_dir=folder, download=False)
        first = time.perf_counter() - start
        start = time.perf_counter()
        load_mnist(data_dir=folder, download=False)
        cached = time.perf_counter() - start
    yield Real(folder, cache_home, first, cached)


@pytest.fixture
def env(real: Real, monkeypatch: pytest.MonkeyPatch) -> Real:
    monkeypatch.setenv("XDG_CACHE_HOME", str(real.cache_home))
    monkeypatch.setenv("MINIGRAD_DATA", real.folder)
    return real


def test_defaults(env: Real) -> None:
    (x, t), (xt, tt) = load_mnist(download=False)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert t.shape == (60000,) and tt.shape == (10000,) and t.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and xt.min() == 0.0 and xt.max() == 1.0
    assert abs(float(x.mean()) - 0.1307) < 1e-3  # the well-known normalization constants
    assert abs(float(x.std()) - 0.3081) < 1e-3
    assert np.bincount(t).tolist() == TRAIN_COUNTS
    assert np.bincount(tt).tolist() == TEST_COUNTS


def test_raw_images_and_one_hot(env: Real) -> None:
    (x, t), (xt, tt) = load_mnist(
        normalize=False, flatten=False, one_hot_label=True, download=False
    )
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8 and int(x.max()) == 255
    assert xt.shape == (10000, 1, 28, 28)
    assert t.shape == (60000, 10) and t.dtype == np.float32 and tt.shape == (10000, 10)
    np.testing.assert_array_equal(t.sum(axis=1), 1)
    assert t.sum(axis=0).astype(int).tolist() == TRAIN_COUNTS
    assert tt.sum(axis=0).astype(int).tolist() == TEST_COUNTS


def test_cache_alone_serves_the_same_data(env: Real, monkeypatch: pytest.MonkeyPatch) -> None:
    (x, t), _ = load_mnist(normalize=False, download=False)
    monkeypatch.delenv("MINIGRAD_DATA")
    (x2, t2), _ = load_mnist(normalize=False, download=False)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(t, t2)


def test_speed(real: Real) -> None:
    print(f"load_mnist: first {real.first_s:.2f}s, cached {real.cached_s:.3f}s")
    assert real.first_s < 10.0  # about 0.5 s here
    assert real.cached_s < 2.0  # about 0.07 s here
