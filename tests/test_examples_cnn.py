"""examples/cnn.py, run as a user would: a short run on a slice of the real MNIST (the
default net, then the book's SimpleConvNet), its output lines and files; --help; option
errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import scripts

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "cnn.py"
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/(\d+)  loss (\d+\.\d{4})  train_acc (0\.\d{4}|1\.0000)  "
    r"test_acc (0\.\d{4}|1\.0000)  \d+\.\ds$"
)


def run_script(*args: str, env: dict[str, str] | None = None):
    return scripts.run(SCRIPT, *args, env=env, timeout=300)


@pytest.fixture
def mnist_env(tmp_path) -> dict[str, str]:
    folder = os.environ.get("MINIGRAD_DATA")
    if not folder:
        if os.environ.get("CI") == "true":
            pytest.fail("MINIGRAD_DATA is not set; CI must point it at the MNIST files")
        pytest.skip("MINIGRAD_DATA is not set: no real MNIST to train on")
    return {
        **os.environ,
        "MINIGRAD_DATA": folder,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MINIGRAD_MNIST_MIRRORS": "",  # never the network
        "MPLBACKEND": "Agg",
    }


def check_run(proc, out: Path, weights: str, header: str) -> float:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(header), lines[0]
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 1
    m = EPOCH_LINE.match(epoch_lines[0])
    assert m, epoch_lines[0]
    last = lines[-1].split()
    assert last[0] == "test_acc" and last[1] == m.group(5)
    assert "warning" not in proc.stderr
    for name in ("curves.png", "graph.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
    assert (out / weights).stat().st_size > 0
    return float(last[1])


@pytest.mark.slow
def test_default_net_on_a_slice_of_mnist(tmp_path, mnist_env):
    out = tmp_path / "out"
    proc = run_script("--epochs", "1", "--train-size", "3000", "--out", str(out), env=mnist_env)
    acc = check_run(proc, out, "cnn.npz", "CNN float32, adam lr 0.001, batch 100, 1 epochs")
    assert acc >= 0.8
    # The saved weights reproduce the printed accuracy.
    sys_path = str(SCRIPT.parent)
    import sys

    sys.path.insert(0, sys_path)
    try:
        cnn = scripts.load(SCRIPT, "cnn_example")
    finally:
        sys.path.remove(sys_path)
    from minigrad.data import load_mnist

    _, (x_test, t_test) = load_mnist(flatten=False, download=False)
    net = cnn.CNN()
    net.load(out / "cnn.npz")
    assert net.accuracy(x_test, t_test) == pytest.approx(acc, abs=5e-5)
    dot = (out / "graph.dot").read_text() if (out / "graph.dot").exists() else ""
    assert not dot or "(100, 16, 28, 28)" in dot


@pytest.mark.slow
def test_book_simple_on_a_slice_of_mnist(tmp_path, mnist_env):
    out = tmp_path / "out"
    proc = run_script(
        "--book",
        "simple",
        "--epochs",
        "1",
        "--train-size",
        "5000",
        "--dtype",
        "float32",
        "--out",
        str(out),
        env=mnist_env,
    )
    acc = check_run(proc, out, "simple_conv_net.npz", "SimpleConvNet float32, adam lr 0.001")
    assert acc >= 0.5


def test_help_lists_every_option():
    proc = run_script("--help")
    assert proc.returncode == 0
    for option in [
        "--epochs",
        "--batch-size",
        "--lr",
        "--optimizer",
        "--seed",
        "--data-dir",
        "--out",
        "--dtype",
        "--book",
        "--train-size",
        "--export",
    ]:
        assert option in proc.stdout, option
    assert "{simple,deep}" in proc.stdout


def test_bad_options():
    proc = run_script("--book", "deep", "--lr", "0.5")
    assert proc.returncode == 2 and "--book fixes the setting; drop --lr" in proc.stderr
    proc = run_script("--train-size", "0")
    assert proc.returncode == 2 and "--train-size must be positive, got 0" in proc.stderr
    proc = run_script("--book", "wide")
    assert proc.returncode == 2 and "invalid choice: 'wide'" in proc.stderr


def test_the_default_net_shapes():
    cnn = scripts.load(SCRIPT, "cnn_example_shapes")
    net = cnn.CNN()
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert net(x).shape == (2, 10)
    assert [n for n, _ in net.named_parameters()] == [
        "conv1.W",
        "conv1.b",
        "conv2.W",
        "conv2.b",
        "fc1.W",
        "fc1.b",
        "fc2.W",
        "fc2.b",
    ]
