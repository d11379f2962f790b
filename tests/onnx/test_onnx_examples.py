"""examples/mnist.py and examples/cnn.py --export: the trained model as ONNX, onnxruntime's
test accuracy printed beside minigrad's and equal to it (one short epoch on the real MNIST)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from onnx_helpers import need

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import scripts  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "mnist.py"
CNN_SCRIPT = SCRIPT.with_name("cnn.py")
WROTE = re.compile(r"wrote (.+): onnxruntime test_acc (\S+)  minigrad test_acc (\S+)")


def mnist_env(tmp_path: Path) -> dict[str, str]:
    need("onnxruntime")
    folder = os.environ.get("MINIGRAD_DATA")
    if not folder:
        if os.environ.get("CI") == "true":
            pytest.fail("MINIGRAD_DATA is not set; CI must point it at the MNIST files")
        pytest.skip("MINIGRAD_DATA is not set: no real MNIST to train on")
    return {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MINIGRAD_MNIST_MIRRORS": "",
        "MPLBACKEND": "Agg",
    }


@pytest.mark.slow
def test_mnist_export_prints_equal_accuracies(tmp_path):
    env = mnist_env(tmp_path)
    path = tmp_path / "model.onnx"
    args = [
        "--epochs",
        "1",
        "--hidden",
        "32",
        "--out",
        str(tmp_path / "out"),
        "--export",
        str(path),
    ]
    proc = scripts.run(SCRIPT, *args, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    m = WROTE.fullmatch(lines[-2])
    assert m, lines[-2]
    assert m.group(1) == str(path) and path.stat().st_size > 1000
    assert m.group(2) == m.group(3) and float(m.group(2)) > 0.85
    assert lines[-1] == f"test_acc {m.group(3)}"


def test_mnist_help_lists_export():
    proc = scripts.run(SCRIPT, "--help")
    assert proc.returncode == 0 and "--export PATH" in proc.stdout


@pytest.mark.slow
def test_cnn_export_prints_equal_accuracies(tmp_path):
    env = mnist_env(tmp_path)
    path = tmp_path / "cnn.onnx"
    args = ["--epochs", "1", "--train-size", "3000", "--out", str(tmp_path / "out")]
    proc = scripts.run(CNN_SCRIPT, *args, "--export", str(path), env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    m = WROTE.fullmatch(lines[-2])
    assert m, lines[-2]
    assert m.group(1) == str(path) and path.stat().st_size > 10_000
    assert m.group(2) == m.group(3) and float(m.group(2)) > 0.8
    assert lines[-1] == f"test_acc {m.group(3)}"


def test_cnn_help_lists_export_and_float64_is_refused():
    proc = scripts.run(CNN_SCRIPT, "--help")
    assert proc.returncode == 0 and "--export PATH" in proc.stdout
    need("onnxruntime")  # else the error names the missing packages first
    proc = scripts.run(CNN_SCRIPT, "--book", "simple", "--export", "m.onnx")
    assert proc.returncode == 2 and "no float64 Conv: add --dtype float32" in proc.stderr
