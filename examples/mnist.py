"""Train the book's TwoLayerNet on MNIST with minigrad.

    python examples/mnist.py                 # the defaults: >= 97.5% test accuracy in seconds
    python examples/mnist.py --book          # the book's setting, 784-50-10, SGD, 10,000 steps
    python examples/mnist.py --optimizer sgd --hidden 50 --epochs 17
    python examples/mnist.py --schedule cosine  # the rate falls from --lr to 0 (per batch)

After each epoch one line `epoch 3/10  loss 0.2345  train_acc 0.9312  test_acc 0.9270  4.1s`;
the last line of stdout is `test_acc <value>`. Written to --out (default out/): curves.png
(loss and accuracies per epoch), two_layer_net.npz (the weights; `TwoLayerNet.load` reads
it) and graph.png (the graph of one mini-batch loss, modules boxed); with --export PATH also
the model as ONNX, checked by onnxruntime on the test set. MNIST is found through
--data-dir, $MINIGRAD_DATA, the cache, or downloaded (see minigrad.data.load_mnist).
Progress bars need tqdm and curves.png matplotlib (`pip install minigrad[examples]`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.data import DataLoader, load_mnist

# The examples' shared helpers live beside them (examples/_training.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import (  # noqa: E402
    SCHEDULES,
    add_common_args,
    add_schedule_arg,
    check_args,
    count,
    export_onnx,
    make_optimizer,
    make_scheduler,
    plot_curves,
    progress,
    report,
    warn,
)

# The defaults: about 98% test accuracy in 10 epochs (seed 0).
EPOCHS, BATCH_SIZE, HIDDEN, OPTIMIZER = 10, 100, 256, "adam"
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.05, "adam": 0.001}
# The book's setting (chapter 5's training script).
BOOK_HIDDEN, BOOK_BATCH, BOOK_LR, BOOK_ITERATIONS = 50, 100, 0.1, 10_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train TwoLayerNet (784-hidden-10) on MNIST with minigrad.",
    )
    p.add_argument("--epochs", type=int, help=f"passes over the training set ({EPOCHS})")
    p.add_argument("--batch-size", type=int, help=f"mini-batch size ({BATCH_SIZE})")
    p.add_argument(
        "--lr",
        type=float,
        help="learning rate (by optimizer: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_LR.items())
        + ")",
    )
    p.add_argument("--hidden", type=int, help=f"hidden units ({HIDDEN})")
    add_common_args(p, OPTIMIZER, DEFAULT_LR)
    add_schedule_arg(p)
    p.add_argument(
        "--book",
        action="store_true",
        help="the book's setting exactly: 784-50-10, weight_init_std 0.01, one-hot labels, SGD "
        "lr 0.1 through update(params, grads), 10,000 random mini-batches of 100 drawn with "
        "np.random.choice (an epoch = 600 of them)",
    )
    args = p.parse_args(argv)
    check_args(
        p,
        args,
        fixed=("epochs", "batch_size", "lr", "hidden", "optimizer", "schedule"),
        positive=("epochs", "batch_size", "hidden"),
    )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dtype = np.dtype(args.dtype or ("float64" if args.book else "float32"))
    if args.book:
        hidden, batch_size, lr, name = BOOK_HIDDEN, BOOK_BATCH, BOOK_LR, "sgd"
    else:
        hidden = args.hidden or HIDDEN
        batch_size = args.batch_size or BATCH_SIZE
        name = args.optimizer or OPTIMIZER
        lr = args.lr if args.lr is not None else DEFAULT_LR[name]
        epochs = args.epochs or EPOCHS
    schedule = args.schedule or "none"

    os.makedirs(args.out, exist_ok=True)  # before training: a bad --out fails at once
    (x_train, t_train), (x_test, t_test) = load_mnist(
        data_dir=args.data_dir, dtype=dtype, one_hot_label=args.book
    )
    if args.book:
        # The book's epoch: iter_per_epoch = max(train_size / batch_size, 1) steps, 600 here.
        steps_per_epoch = max(len(x_train) // batch_size, 1)
        epochs = math.ceil(BOOK_ITERATIONS / steps_per_epoch)
    np.random.seed(args.seed)  # noqa: NPY002 - TwoLayerNet draws from np.random, as in the book
    net = nn.TwoLayerNet(784, hidden, 10, weight_init_std=0.01, dtype=dtype)
    print(
        f"TwoLayerNet 784-{hidden}-10 {dtype}, {'book SGD' if args.book else name} lr {lr}"
        f"{'' if schedule == 'none' else f' ({schedule} schedule)'}, "
        f"batch {batch_size}, {'10000 steps' if args.book else count(epochs, 'epoch')}, "
        f"seed {args.seed}",
        flush=True,
    )
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}
    start = time.perf_counter()
    if args.book:
        opt: optim.Optimizer = optim.SGD(lr=lr)
        train_size = len(x_train)
        done = 0
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            steps = min(steps_per_epoch, BOOK_ITERATIONS - done)
            losses = []
            for _ in progress(range(steps), steps, f"epoch {epoch}/{epochs}"):
                batch_mask = np.random.choice(train_size, batch_size)  # noqa: NPY002 - the book's
                grads = net.gradient(x_train[batch_mask], t_train[batch_mask])
                opt.update(net.params, grads)
                losses.append(float(net.lastLayer.loss))
            done += steps
            report(net, epoch, epochs, losses, history, (x_train, t_train), (x_test, t_test), t0)
    else:
        opt = make_optimizer(name, net.parameters(), lr)
        loader = DataLoader((x_train, t_train), batch_size, shuffle=True, seed=args.seed)
        scheduler = make_scheduler(schedule, opt, epochs, len(loader))
        per_batch = SCHEDULES[schedule]
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            losses = []
            for x, t in progress(loader, len(loader), f"epoch {epoch}/{epochs}"):
                loss = net.loss(x, t)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if scheduler is not None and per_batch:
                    scheduler.step()
                losses.append(float(loss.data))
            if scheduler is not None and not per_batch:
                scheduler.step()
            report(net, epoch, epochs, losses, history, (x_train, t_train), (x_test, t_test), t0)
    elapsed = time.perf_counter() - start
    print(f"trained in {elapsed:.1f}s ({elapsed / epochs:.2f}s per epoch)", flush=True)

    weights = net.save(os.path.join(args.out, "two_layer_net.npz"))
    print(f"wrote {weights}", flush=True)
    try:
        curves = os.path.join(args.out, "curves.png")
        plot_curves(history, curves)
        print(f"wrote {curves}", flush=True)
    except ImportError:
        warn("curves.png needs matplotlib: pip install 'minigrad[examples]'")
    try:
        # Named constants, so that the picture labels the batch and its labels.
        x = mg.Variable(x_train[:batch_size], name="x", requires_grad=False)
        t = mg.Variable(t_train[:batch_size], name="t", requires_grad=False)
        graph = net.draw_graph(x, os.path.join(args.out, "graph.png"), t=t)
        print(f"wrote {graph}", flush=True)
    except (ImportError, RuntimeError, OSError) as e:
        warn(f"graph.png was not drawn: {e}")
    if args.export is not None:
        export_onnx(net, args.export, x_test, t_test, history["test_acc"][-1])
    print(f"test_acc {history['test_acc'][-1]:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
