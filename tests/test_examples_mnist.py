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


@pytest.mark.slow
def test_one_epoch_with_a_cosine_schedule(tmp_path, mnist_dir):
    env = {
        **os.environ,
        "MINIGRAD_DATA": mnist_dir,
        "MINIGRAD_MNIST_MIRRORS": "",
        "MPLBACKEND": "Agg",
    }
    proc = run_script("--epochs", "1", "--schedule", "cosine", "--out", str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("TwoLayerNet 784-256-10 float32, adam lr 0.001 (cosine schedule), ")
    assert EPOCH_LINE.match([line for line in lines if line.startswith("epoch ")][0])
    assert float(lines[-1].split()[1]) >= 0.9


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
        "--schedule",
    ]:
        assert option in proc.stdout, option
    assert "{adagrad,adam,momentum,sgd}" in proc.stdout
    assert "{none,step,cosine,warmup,onecycle}" in proc.stdout


def test_book_refuses_options_it_fixes():
    proc = run_script("--book", "--lr", "0.5", "--hidden", "20")
    assert proc.returncode == 2
    assert "--book fixes the setting; drop --lr, --hidden" in proc.stderr
    proc = run_script("--book", "--schedule", "cosine")
    assert proc.returncode == 2 and "drop --schedule" in proc.stderr


def test_bad_option_values():
    proc = run_script("--epochs", "0")
    assert proc.returncode == 2
    assert "--epochs must be positive, got 0" in proc.stderr
    proc = run_script("--optimizer", "lbfgs")
    assert proc.returncode == 2 and "invalid choice: 'lbfgs'" in proc.stderr
    proc = run_script("--schedule", "cyclic")
    assert proc.returncode == 2 and "invalid choice: 'cyclic'" in proc.stderr


def _rates(example, name, epochs=3, steps=4):
    """The rate used at each step of a run under `--schedule name`, stepped as mnist.py does."""
    from minigrad import Parameter, Variable, optim

    p = Parameter(np.zeros(2))
    opt = optim.SGD([p], lr=0.1)
    sched = example.make_scheduler(name, opt, epochs, steps)
    rates = []
    for _ in range(epochs):
        for _ in range(steps):
            rates.append(opt.lr)
            p.grad = Variable(np.ones(2))
            opt.step()
            if sched is not None and example.SCHEDULES[name]:
                sched.step()
        if sched is not None and not example.SCHEDULES[name]:
            sched.step()
    return np.array(rates)


def test_the_schedules_of_schedule():
    example = scripts.load(SCRIPT, "mnist_example")
    k = np.arange(12)
    np.testing.assert_allclose(_rates(example, "none"), np.full(12, 0.1))
    np.testing.assert_allclose(_rates(example, "step"), 0.1 * 0.1 ** (k // 4), rtol=1e-12)
    np.testing.assert_allclose(
        _rates(example, "cosine"), 0.05 * (1 + np.cos(np.pi * k / 12)), rtol=1e-12
    )
    np.testing.assert_allclose(
        _rates(example, "warmup"), 0.1 * (0.1 + 0.9 * np.minimum(k, 4) / 4), rtol=1e-12
    )
    onecycle = _rates(example, "onecycle", epochs=5)  # the peak at step 0.3 * 20 - 1
    assert onecycle.max() == pytest.approx(0.1) and onecycle[0] == pytest.approx(0.1 / 25)


def test_counts_are_singular_for_one():
    example = scripts.load(SCRIPT, "mnist_example")
    assert example.count(1, "epoch") == "1 epoch" and example.count(10, "epoch") == "10 epochs"
