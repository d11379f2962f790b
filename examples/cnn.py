"""Train a convolutional network on MNIST with minigrad.

    python examples/cnn.py                  # the defaults: >= 99.0% test accuracy in minutes
    python examples/cnn.py --book simple    # the book's SimpleConvNet (chapter 7)
    python examples/cnn.py --book deep      # the book's DeepConvNet (chapter 8)
    python examples/cnn.py --book deep --epochs 2

The default net, built from minigrad's layers (see `make_net`):

    conv 5x5 (16) - relu - pool 2x2 - conv 3x3 (32) - relu - pool 2x2 - affine 100 - relu
    - affine 10

trained with Adam, batches of 100, 5 epochs, the learning rate 0.001 for two epochs and then
halved every epoch (99.1% test accuracy, seed 0). `--book` runs the book's settings
for its nets: Adam lr 0.001, batch 100, 20 epochs of 600 mini-batches drawn with
np.random.choice, float64 (`--epochs` and `--dtype` change them).

After each epoch one line `epoch 3/5  loss 0.0345  train_acc 0.9912  test_acc 0.9897  41.1s`
(train_acc on the first 10,000 training images); the last line of stdout is
`test_acc <value>`. Written to --out (default out/): curves.png (loss and accuracies per
epoch), graph.png (the graph of one mini-batch loss, modules boxed, with shapes such as
(100, 16, 28, 28)), and the weights (cnn.npz, simple_conv_net.npz or deep_conv_net.npz;
the model's `load` reads them); with --export PATH also the model as ONNX, checked by
onnxruntime on the test set (float32 only: ONNX Runtime's CPU has no float64 Conv). MNIST is found through --data-dir, $MINIGRAD_DATA, the
cache, or downloaded (see minigrad.data.load_mnist). Progress bars need tqdm and curves.png
matplotlib (`pip install minigrad[examples]`).

Measured on a shared 2-core machine (seed 0, one BLAS thread): the defaults, 99.12% test
accuracy in 2 min 12 s wall; `--book simple` (float64, 20 epochs), 98.77% (best epoch
98.95%) in 9 min 30 s; `--book deep --dtype float32` (20 epochs), 99.41% (best epoch 99.46%)
in 38 min 9 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# One BLAS thread unless the environment says otherwise (set before NumPy loads OpenBLAS).
# This net's matrix products are small: on the shared 2-core machine a training step took
# 36 ms with one thread and 101 ms with two (medians; OpenBLAS's threads wait for a core).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import functions as F  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.data import DataLoader, load_mnist  # noqa: E402

# The examples' shared helpers live beside them (examples/_training.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import (  # noqa: E402
    add_common_args,
    check_args,
    export_onnx,
    make_optimizer,
    plot_curves,
    progress,
    report,
    warn,
)

# The defaults: 99.12% test accuracy after 5 epochs (seed 0), 99.00% after 4.
EPOCHS, BATCH_SIZE, OPTIMIZER = 5, 100, "adam"
# Epochs at the full learning rate; after them it halves every epoch (not with --book).
FULL_LR_EPOCHS = 2
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.05, "adam": 0.001}
# The book's setting (chapters 7 and 8: Trainer with Adam).
BOOK_EPOCHS, BOOK_BATCH, BOOK_LR = 20, 100, 0.001
# Training accuracy is measured on this many training images (a full pass costs as much as
# a sixth of an epoch).
TRAIN_EVAL = 10_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train a convolutional network on MNIST with minigrad.",
    )
    p.add_argument("--epochs", type=int, help=f"passes over the training set ({EPOCHS})")
    p.add_argument("--batch-size", type=int, help=f"mini-batch size ({BATCH_SIZE})")
    p.add_argument(
        "--lr",
        type=float,
        help="learning rate of the first two epochs, halved every epoch after them (by "
        "optimizer: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_LR.items()) + ")",
    )
    add_common_args(p, OPTIMIZER, DEFAULT_LR)
    p.add_argument(
        "--book",
        choices=["simple", "deep"],
        help="the book's SimpleConvNet or DeepConvNet with the book's setting: Adam lr 0.001, "
        "batch 100, 20 epochs of 600 mini-batches drawn with np.random.choice",
    )
    p.add_argument(
        "--train-size",
        type=int,
        help="train on the first N training images only (a quick smoke run)",
    )
    args = p.parse_args(argv)
    check_args(
        p,
        args,
        fixed=("batch_size", "lr", "optimizer"),
        positive=("epochs", "batch_size", "train_size"),
    )
    if args.export is not None:
        if (args.dtype or ("float64" if args.book else "float32")) == "float64":
            p.error(
                "--export runs the file in ONNX Runtime, whose CPU has no float64 Conv: "
                "add --dtype float32"
            )
    return args


class CNN(nn.Module):
    """The default net: two conv - relu - pool blocks, then two affine layers.

    x (N, 1, 28, 28) -> conv1 5x5 (N, 16, 28, 28) -> pool (N, 16, 14, 14) -> conv2 3x3
    (N, 32, 14, 14) -> pool (N, 32, 7, 7) -> fc1 (N, 100) -> fc2 (N, 10) logits.
    """

    def __init__(self, dtype: Any = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2, dtype=dtype)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, dtype=dtype)
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 7 * 7, 100, dtype=dtype)
        self.fc2 = nn.Linear(100, 10, dtype=dtype)

    def forward(self, x: Any) -> mg.Variable:
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(self.flatten(x))))

    def loss(self, x: Any, t: Any) -> mg.Variable:
        """Mean softmax cross-entropy of the logits against the labels t (N,)."""
        return F.softmax_cross_entropy(self(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 500) -> float:
        """Fraction of images classified right, in evaluation mode and in batches."""
        previous = self.training
        self.eval()
        correct = 0
        with mg.no_grad():
            for i in range(0, len(x), batch_size):
                y = self(x[i : i + batch_size]).data
                correct += int(np.count_nonzero(y.argmax(axis=1) == t[i : i + batch_size]))
        self.train(previous)
        return correct / len(x)


def make_net(book: str | None, dtype: np.dtype) -> tuple[Any, str]:
    """The model and the name of its weights file."""
    if book == "simple":
        return nn.SimpleConvNet(dtype=dtype), "simple_conv_net"
    if book == "deep":
        return nn.DeepConvNet(dtype=dtype), "deep_conv_net"
    return CNN(dtype=dtype), "cnn"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dtype = np.dtype(args.dtype or ("float64" if args.book else "float32"))
    if args.book:
        batch_size, lr, name = BOOK_BATCH, BOOK_LR, "adam"
        epochs = args.epochs or BOOK_EPOCHS
    else:
        batch_size = args.batch_size or BATCH_SIZE
        name = args.optimizer or OPTIMIZER
        lr = args.lr if args.lr is not None else DEFAULT_LR[name]
        epochs = args.epochs or EPOCHS

    os.makedirs(args.out, exist_ok=True)  # before training: a bad --out fails at once
    (x_train, t_train), (x_test, t_test) = load_mnist(
        data_dir=args.data_dir, dtype=dtype, flatten=False
    )
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    np.random.seed(args.seed)  # noqa: NPY002 - the book's nets draw from np.random
    net, file_stem = make_net(args.book, dtype)
    title = {"simple": "SimpleConvNet", "deep": "DeepConvNet"}.get(args.book or "", "CNN")
    print(
        f"{title} {dtype}, {name} lr {lr}, batch {batch_size}, {epochs} epochs, "
        f"{len(x_train)} training images, seed {args.seed}",
        flush=True,
    )
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}
    opt = make_optimizer(name, net.parameters(), lr)
    loader = DataLoader((x_train, t_train), batch_size, shuffle=True, seed=args.seed)
    # The book's Trainer: max(train_size / batch_size, 1) random mini-batches an epoch.
    steps_per_epoch = max(len(x_train) // batch_size, 1) if args.book else len(loader)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        if not args.book:
            opt.lr = lr * 0.5 ** max(0, epoch - FULL_LR_EPOCHS)
        batches: Iterable[Any] = loader
        if args.book:
            batches = (_book_batch(x_train, t_train, batch_size) for _ in range(steps_per_epoch))
        losses = []
        for x, t in progress(batches, steps_per_epoch, f"epoch {epoch}/{epochs}"):
            loss = net.loss(x, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
        report(
            net,
            epoch,
            epochs,
            losses,
            history,
            (x_train[:TRAIN_EVAL], t_train[:TRAIN_EVAL]),
            (x_test, t_test),
            t0,
        )
    elapsed = time.perf_counter() - start
    print(f"trained in {elapsed:.1f}s ({elapsed / epochs:.2f}s per epoch)", flush=True)

    weights = net.save(os.path.join(args.out, f"{file_stem}.npz"))
    print(f"wrote {weights}", flush=True)
    try:
        curves = os.path.join(args.out, "curves.png")
        plot_curves(history, curves, title)
        print(f"wrote {curves}", flush=True)
    except ImportError:
        warn("curves.png needs matplotlib: pip install 'minigrad[examples]'")
    try:
        # Named constants, so that the picture labels the batch and its labels.
        x = mg.Variable(x_train[:batch_size], name="x", requires_grad=False)
        t = mg.Variable(t_train[:batch_size], name="t", requires_grad=False)
        graph = draw_loss_graph(net, x, t, os.path.join(args.out, "graph.png"))
        print(f"wrote {graph}", flush=True)
    except (ImportError, RuntimeError, OSError) as e:
        warn(f"graph.png was not drawn: {e}")
    if args.export is not None:
        export_onnx(net, args.export, x_test, t_test, history["test_acc"][-1])
    print(f"test_acc {history['test_acc'][-1]:.4f}", flush=True)
    return 0


def _book_batch(x: np.ndarray, t: np.ndarray, batch_size: int) -> tuple[Any, Any]:
    mask = np.random.choice(len(x), batch_size)  # noqa: NPY002 - the book's Trainer
    return x[mask], t[mask]


def draw_loss_graph(net: Any, x: mg.Variable, t: mg.Variable, path: str) -> str:
    """The graph of one mini-batch loss, with module boxes (module calls boxed by name)."""
    from minigrad.viz import draw_graph

    with mg.enable_grad():
        loss = net.loss(x, t)
    return draw_graph(loss, path=path)


if __name__ == "__main__":
    sys.exit(main())
