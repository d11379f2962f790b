"""The book's chapter 5 scripts (tests/book.py) run on minigrad's `load_mnist` and
`TwoLayerNet`, as a reader runs them after replacing the two import lines: they print what
the book prints, and the training run's memory stays flat.

The runs on real MNIST need it in $MINIGRAD_DATA (skipped without it, a failure under
CI=true). The memory test runs the training script on random MNIST-shaped data.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import book
import numpy as np
import pytest
from blas import one_blas_thread
from realdata import mnist_folder

from minigrad.data import load_mnist
from minigrad.nn import TwoLayerNet
from minigrad.nn.params import FreedGraph


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    with one_blas_thread():
        yield


@pytest.fixture(scope="module")
def real_mnist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """`load_mnist` reading $MINIGRAD_DATA, with its cache in a temporary folder."""
    folder = mnist_folder("the book's scripts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("MINIGRAD_MNIST_MIRRORS", "")
        yield lambda **kw: load_mnist(data_dir=folder, download=False, **kw)


def test_gradient_check_prints_what_the_book_prints(real_mnist):
    np.random.seed(0)  # noqa: NPY002 - the script draws its weights from np.random
    lines = book.gradient_check(real_mnist, TwoLayerNet)
    assert [line.split(":")[0] for line in lines] == ["W1", "b1", "W2", "b2"]
    for line in lines:
        # str() of a float64, as the book's print shows it: "W1:2.1726193858e-13"
        assert re.fullmatch(r"(W1|b1|W2|b2):\d\.\d+e-\d\d", line), line
        assert float(line.split(":")[1]) <= 1e-9, line


def test_the_book_prints_one_line_per_epoch_and_the_losses_plot(real_mnist):
    np.random.seed(0)  # noqa: NPY002
    run = book.train_neuralnet(real_mnist, TwoLayerNet, iters_num=1201)
    assert len(run.lines) == 3  # iterations 0, 600 and 1200
    for line in run.lines:
        assert re.fullmatch(r"0\.\d+ 0\.\d+", line), line  # print(train_acc, test_acc)
    test_acc = [float(line.split()[1]) for line in run.lines]
    assert test_acc[0] < 0.3 and test_acc[1] > 0.85 and test_acc[2] > test_acc[1]

    losses = run.train_loss_list
    assert len(losses) == 1201
    # Every loss but the last was freed when the parameters changed after it.
    assert all(isinstance(v.creator, FreedGraph) for v in losses[:-1])
    assert not isinstance(losses[-1].creator, FreedGraph)
    values = np.array([float(v) for v in losses])
    assert values[0] == pytest.approx(np.log(10), abs=0.05) and values[-100:].mean() < 0.5
    assert f"{losses[-1]:.3f}" == f"{values[-1]:.3f}" and round(losses[-1], 2) == round(
        values[-1], 2
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (line,) = plt.plot(run.train_loss_list)  # the book's plot of the loss curve
    np.testing.assert_array_equal(line.get_ydata(), values)
    plt.close("all")


def _fake_mnist(train: int = 6000, test: int = 1000) -> Callable[..., Any]:
    """A `load_mnist` of random MNIST-shaped data, as the script asks for it (float32 images,
    one-hot labels)."""
    rng = np.random.default_rng(0)
    x = rng.random((train + test, 784), dtype=np.float32)
    t = np.eye(10, dtype=np.float32)[rng.integers(0, 10, train + test)]

    def load(normalize: bool = True, one_hot_label: bool = False) -> Any:
        assert normalize and one_hot_label
        return (x[:train], t[:train]), (x[train:], t[train:])

    return load


def test_the_training_scripts_memory_stays_flat():
    # Before, each loss kept in train_loss_list held its whole graph (the float64 batch
    # alone is 0.6 MiB): 300 steps grew by about 200 MiB.
    sizes: dict[int, int] = {}

    def measure(i: int) -> None:
        if i in (99, 399):
            sizes[i] = tracemalloc.get_traced_memory()[0]

    np.random.seed(0)  # noqa: NPY002
    tracemalloc.start()
    try:
        run = book.train_neuralnet(_fake_mnist(), TwoLayerNet, iters_num=400, after_step=measure)
    finally:
        tracemalloc.stop()
    per_step = (sizes[399] - sizes[99]) / 300
    assert per_step < 4096, f"{per_step / 1024:.1f} KiB per step"
    assert len(run.train_loss_list) == 400 and len(run.lines) == 7  # every 60 steps here
