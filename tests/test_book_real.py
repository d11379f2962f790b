"""The book's own files, where they are: set $MINIGRAD_BOOK_DIR to a checkout of the book's
repository (oreilly-japan/deep-learning-from-scratch). Without it these tests are skipped,
in CI too: CI cannot fetch the book, whose code never enters this repository (the tests of
tests/test_book_runner.py stand in for it there). They also need the real MNIST
($MINIGRAD_DATA; see tests/realdata.py).

- With the book's trained weights (ch03/sample_weight.pkl, ch07/params.pkl,
  ch08/deep_convnet_params.pkl), minigrad's networks label all 10,000 test images exactly as
  the book's own code does (its network classes, imported from the checkout).
- Seeded, `python -m minigrad.book` prints what the book's own code prints (to 1e-6
  relative) for the quick scripts; the book's code runs with only its MNIST loader swapped
  for minigrad.book.mnist (which returns the book loader's arrays), as the book's loader
  would download MNIST.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from realdata import mnist_folder

import minigrad
from minigrad import nn
from minigrad.book import MultiLayerNet

ROOT = Path(__file__).resolve().parents[1]


def book_dir() -> Path:
    folder = os.environ.get("MINIGRAD_BOOK_DIR")
    if not folder or not (Path(folder) / "common" / "layers.py").is_file():
        pytest.skip(
            "the book's repository is needed: set MINIGRAD_BOOK_DIR to a checkout of "
            f"oreilly-japan/deep-learning-from-scratch (got {folder!r})"
        )
    return Path(folder)


@pytest.fixture(scope="module")
def book() -> Path:
    return book_dir()


@pytest.fixture(scope="module")
def test_set(book: Path) -> tuple[np.ndarray, np.ndarray]:
    os.environ.setdefault("MINIGRAD_DATA", mnist_folder("the book's weights"))
    from minigrad.book.mnist import load_mnist

    (_, _), (x, t) = load_mnist(normalize=True, flatten=False)
    return x, t


@contextlib.contextmanager
def books_own(book: Path) -> Iterator[None]:
    """The book's own `common` and chapter files importable; all of it forgotten after."""
    saved_path, before = list(sys.path), set(sys.modules)
    sys.path[:0] = [str(book), str(book / "ch07"), str(book / "ch08")]
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:
            del sys.modules[name]


def labels(predict, x: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [np.argmax(predict(x[i : i + 500]), axis=1) for i in range(0, len(x), 500)]
    )


def test_sample_weight_pkl_labels(book, test_set):
    x, t = test_set
    x = x.reshape(len(x), -1)
    path = book / "ch03" / "sample_weight.pkl"
    with books_own(book):
        import pickle

        from common.functions import sigmoid, softmax  # the book's own

        with open(path, "rb") as f:
            w = pickle.load(f)  # the book's file, read as the book reads it

        def predict(xb):
            z1 = sigmoid(np.dot(xb, w["W1"]) + w["b1"])
            z2 = sigmoid(np.dot(z1, w["W2"]) + w["b2"])
            return softmax(np.dot(z2, w["W3"]) + w["b3"])

        theirs = labels(predict, x)
    net = MultiLayerNet(784, [50, 100], 10, activation="sigmoid")
    net.load_params(path)
    ours = labels(net.predict, x)
    np.testing.assert_array_equal(ours, theirs)
    assert np.mean(ours == t) == 0.9352  # the book's chapter 3 figure


@pytest.mark.parametrize(
    ("chapter", "file", "cls"),
    [("ch07", "params.pkl", "SimpleConvNet"), ("ch08", "deep_convnet_params.pkl", "DeepConvNet")],
)
def test_conv_net_weights_label_as_the_books_own_code(book, test_set, chapter, file, cls):
    x, _ = test_set
    path = book / chapter / file
    with books_own(book):
        module = __import__("simple_convnet" if cls == "SimpleConvNet" else "deep_convnet")
        theirs_net = getattr(module, cls)()
        theirs_net.load_params(str(path))
        if cls == "SimpleConvNet":
            theirs = labels(theirs_net.predict, x)
        else:
            theirs = labels(lambda xb: theirs_net.predict(xb, train_flg=False), x)
    net = getattr(nn, cls)()
    net.load_params(path)
    with minigrad.no_grad():
        ours = labels(lambda xb: net.predict(xb, train_flg=False).data, x)
    np.testing.assert_array_equal(ours, theirs)


DRIVER = """
import os, runpy, sys, numpy as np
import minigrad.book.mnist as m
seed, script = int(sys.argv[1]), os.path.abspath(sys.argv[2])
os.chdir(os.path.dirname(script))
sys.path[0] = os.path.dirname(script)
sys.argv = [script]
import dataset.mnist
dataset.mnist.load_mnist = m.load_mnist  # only the loader swapped (it would download)
np.random.seed(seed)
runpy.run_path(script, run_name="__main__")
"""


def _numbers(text: str) -> list[float]:
    import re

    return [float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)]


@pytest.mark.parametrize(
    "script",
    ["ch05/gradient_check.py", "ch06/batch_norm_gradient_check.py", "ch07/gradient_check.py"],
)
def test_seeded_scripts_print_the_books_numbers(book, test_set, script):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{book}", "MPLBACKEND": "Agg"}
    path = book / script
    ours = subprocess.run(
        [sys.executable, "-m", "minigrad.book", "--seed", "0", str(path)],
        capture_output=True, text=True, env=env, cwd=path.parent, timeout=1800,
    )  # fmt: skip
    theirs = subprocess.run(
        [sys.executable, "-c", DRIVER, "0", str(path)],
        capture_output=True, text=True, env=env, cwd=path.parent, timeout=1800,
    )  # fmt: skip
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr + theirs.stderr
    a, b = _numbers(ours.stdout), _numbers(theirs.stdout)
    assert len(a) == len(b) > 0
    # The differences printed are rounding-level gradients; the book's and minigrad's
    # numerical gradients are the same computation, their backprops agree to ~1e-16.
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-15)
