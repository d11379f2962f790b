"""examples/mnist.py, run as a user would: one short epoch on the real MNIST, its output lines
and files; --help; option errors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scripts
from realdata import mnist_folder

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "mnist.py"
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/(\d+)  loss (\d+\.\d{4})  train_acc (0\.\d{4}|1\.0000)  "
    r"test_acc (0\.\d{4}|1\.0000)  \d+\.\ds$"
)


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return scripts.run(SCRIPT, *args, env=env, timeout=300)


@pytest.fixture
def mnist_dir() -> str:
    """The folder of the real MNIST, from $MINIGRAD_DATA (CI must provide it)."""
    return mnist_folder("training on real MNIST")


@pytest.mark.slow
def test_one_epoch_on_real_mnist(tmp_path, mnist_dir):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "MINIGRAD_DATA": mnist_dir,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MINIGRAD_MNIST_MIRRORS": "",  # never the network
        "MPLBACKEND": "Agg",
    }
    proc = run_script("--epochs", "1", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("TwoLayerNet 784-256-10 float32, adam lr 0.001, batch 100")
    assert ", 1 epoch, seed 0" in lines[0]  # not "1 epochs"
    (epoch_line,) = [line for line in lines if line.startswith("epoch ")]
    m = EPOCH_LINE.match(epoch_line)
    assert m, epoch_line
    assert m.group(1, 2) == ("1", "1")
    assert 0.0 < float(m.group(3)) < 1.0  # the mean loss of a first epoch
    assert "warning" not in proc.stderr

    last = lines[-1].split()
    assert last[0] == "test_acc" and len(last) == 2
    acc = float(last[1])
    assert acc >= 0.9
    assert last[1] == m.group(5)  # the final figure is the last epoch's

    for name in ("curves.png", "graph.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name

    # The saved weights reproduce the printed accuracy.
    from minigrad.data import load_mnist
    from minigrad.nn import TwoLayerNet

    _, (x_test, t_test) = load_mnist(data_dir=mnist_dir, download=False)
    net = TwoLayerNet(784, 256, 10, dtype=np.float32)  # as the example trained it
    net.load(out / "two_layer_net.npz")
    assert net.accuracy(x_test, t_test) == pytest.approx(acc, abs=5e-5)
    assert not np.array_equal(net.params["b1"], np.zeros(256))


def test_help_lists_every_option():
    proc = run_script("--help")
    assert proc.returncode == 0
    for option in [
        "--epochs",
        "--batch-size",
        "--lr",
        "--hidden",
        "--optimizer",
        "--seed",
        "--data-dir",
        "--out",
        "--dtype",
        "--book",
    ]:
        assert option in proc.stdout, option
    assert "{adagrad,adam,momentum,sgd}" in proc.stdout


def test_book_refuses_options_it_fixes():
    proc = run_script("--book", "--lr", "0.5", "--hidden", "20")
    assert proc.returncode == 2
    assert "--book fixes the setting; drop --lr, --hidden" in proc.stderr


def test_bad_option_values():
    proc = run_script("--epochs", "0")
    assert proc.returncode == 2
    assert "--epochs must be positive, got 0" in proc.stderr
    proc = run_script("--optimizer", "lbfgs")
    assert proc.returncode == 2 and "invalid choice: 'lbfgs'" in proc.stderr


def test_counts_are_singular_for_one():
    example = scripts.load(SCRIPT, "mnist_example")
    assert example.count(1, "epoch") == "1 epoch" and example.count(10, "epoch") == "10 epochs"
