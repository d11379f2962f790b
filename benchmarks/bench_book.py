"""The book's ch07/train_convnet.py, per iteration: the book's own layers against the same
network on minigrad.book's layers (what `python -m minigrad.book train_convnet.py` runs).

One iteration is the book's Trainer step: a batch of 100, `grads = network.gradient(x, t)`,
the book's Adam (lr 0.001) on `network.params`, then `network.loss(x, t)`. The network is the
book's SimpleConvNet (conv 30x5x5 - relu - pool 2x2 - affine 100 - relu - affine 10 -
softmax with loss) written here in the book's style (a params dict, an OrderedDict of layers
with forward/backward, gradient by calling each backward in reverse), once per kit of layers,
all in this process, from the same weights, on the same batches, in interleaved blocks:

  book64      the book's algorithm written anew, in float64 as the book computes
              (_conv_reference.py's book layers: im2col by a loop over the filter offsets,
              pooling by im2col + argmax, every layer's dx; affine and softmax with loss)
  minigrad64  minigrad.book.layers, float64: each backward computed by the engine; prints
              the book's numbers (the exactness check below)
  minigrad32  minigrad.book.layers computing in float32 (`set_compute_dtype(np.float32)`,
              `python -m minigrad.book --float32`), the book's weights cast at each forward

Exactness: after N steps from the same weights, minigrad64's weights against book64's.
Data: random images of MNIST's shapes (a step's time does not depend on the pixels).

    python benchmarks/bench_book.py [--quick] [--json out.json] [--check] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
from _conv_reference import BookConv, BookPool, BookRelu, FastAffine  # noqa: E402

from minigrad.book import layers as mgl  # noqa: E402
from minigrad.book.optimizer import Adam  # noqa: E402

BATCH = 100


class BookSoftmaxWithLoss:
    """The book's loss layer: softmax, cross-entropy with log(y + 1e-7), (y - t) / N back."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        z = np.exp(x - x.max(axis=1, keepdims=True))
        self.y, self.t = z / z.sum(axis=1, keepdims=True), t
        n = len(t)
        return float(-np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n)

    def backward(self, dout: float = 1) -> np.ndarray:
        d = self.y.copy()
        d[np.arange(len(self.t)), self.t] -= 1
        return d / len(self.t)


class BookConv64(BookConv):
    """The book's im2col fills a float64 array whatever the input: float32 images are
    computed in float64 (here cast first, which costs the same)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return super().forward(x.astype(np.float64, copy=False))


KITS: dict[str, dict[str, Callable[..., Any]]] = {
    "book": {
        "Convolution": BookConv64,
        "Relu": BookRelu,
        "Pooling": lambda h, w, stride: BookPool(h, stride),
        "Affine": FastAffine,  # the book's x.reshape(N, -1) @ W + b and its backward
        "SoftmaxWithLoss": BookSoftmaxWithLoss,
    },
    "minigrad": {
        "Convolution": mgl.Convolution,
        "Relu": mgl.Relu,
        "Pooling": lambda h, w, stride: mgl.Pooling(h, w, stride=stride),
        "Affine": mgl.Affine,
        "SoftmaxWithLoss": mgl.SoftmaxWithLoss,
    },
}


class BookStyleSimpleConvNet:
    """The book's SimpleConvNet, structure and protocol, on a kit of layers."""

    def __init__(self, weights: dict[str, np.ndarray], kit: dict[str, Callable[..., Any]]):
        self.params = {k: v.copy() for k, v in weights.items()}
        p = self.params
        self.layers: OrderedDict[str, Any] = OrderedDict()
        self.layers["Conv1"] = kit["Convolution"](p["W1"], p["b1"], 1, 0)
        self.layers["Relu1"] = kit["Relu"]()
        self.layers["Pool1"] = kit["Pooling"](2, 2, 2)
        self.layers["Affine1"] = kit["Affine"](p["W2"], p["b2"])
        self.layers["Relu2"] = kit["Relu"]()
        self.layers["Affine2"] = kit["Affine"](p["W3"], p["b3"])
        self.last_layer = kit["SoftmaxWithLoss"]()

    def loss(self, x: np.ndarray, t: np.ndarray) -> Any:
        for layer in self.layers.values():
            x = layer.forward(x)
        return self.last_layer.forward(x, t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        d = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            d = layer.backward(d)
        grads = {}
        for i, name in enumerate(["Conv1", "Affine1", "Affine2"], 1):
            grads[f"W{i}"], grads[f"b{i}"] = self.layers[name].dW, self.layers[name].db
        return grads


class Trainer:
    """One candidate: a network, its Adam, and the compute dtype of minigrad.book's layers
    during its turn (None: NumPy's promotion, the book's float64)."""

    def __init__(self, weights: dict[str, np.ndarray], kit: str, compute: Any = None) -> None:
        self.net = BookStyleSimpleConvNet(weights, KITS[kit])
        self.opt = Adam(lr=0.001)
        self.compute = compute

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        previous = mgl.set_compute_dtype(self.compute)
        try:
            grads = self.net.gradient(x, t)
            self.opt.update(self.net.params, grads)
            self.net.loss(x, t)
        finally:
            mgl.set_compute_dtype(previous)


def init_weights(seed: int) -> dict[str, np.ndarray]:
    """The book's SimpleConvNet weights: 0.01 * randn, zero biases, float64."""
    rng = np.random.default_rng(seed)
    return {
        "W1": 0.01 * rng.standard_normal((30, 1, 5, 5)),
        "b1": np.zeros(30),
        "W2": 0.01 * rng.standard_normal((30 * 12 * 12, 100)),
        "b2": np.zeros(100),
        "W3": 0.01 * rng.standard_normal((100, 10)),
        "b3": np.zeros(10),
    }


def make_batches(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Float32 images in [0, 1) (as the book's normalized MNIST) and uint8 labels."""
    rng = np.random.default_rng(seed + 1)
    return [
        (
            rng.random((BATCH, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, BATCH).astype(np.uint8),
        )
        for _ in range(n)
    ]


def candidates(seed: int) -> dict[str, Trainer]:
    w = init_weights(seed)
    return {
        "book64": Trainer(w, "book"),
        "minigrad64": Trainer(w, "minigrad"),
        "minigrad32": Trainer(w, "minigrad", np.float32),
    }


def block(trainer: Trainer, batches: list[Any], steps: int) -> Callable[[], float]:
    """ms per step over `steps` steps, for C.interleave."""
    return C.step_timer(trainer.step, batches, steps)


def exactness(seed: int, batches: list[Any], steps: int) -> float:
    """max |w - w_book| / max |w_book| over the weights after `steps` steps, minigrad64."""
    w = init_weights(seed)
    book, mg = Trainer(w, "book"), Trainer(w, "minigrad")
    for i in range(steps):
        x, t = batches[i % len(batches)]
        book.step(x, t)
        mg.step(x, t)
    return C.max_rel_diff(mg.net.params, book.net.params)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = C.make_parser(
        "The book's train_convnet.py per iteration: the book's layers vs minigrad.book's.",
        __doc__,
    )
    p.add_argument("--steps", type=int, default=10, help="steps per block (10)")
    p.add_argument("--exact-steps", type=int, default=10, help="steps of the exactness check")
    p.add_argument("--seed", type=int, default=0, help="weights and batches seed")
    C.add_threads_arg(p, torch=False)
    args = p.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 1)
        args.exact_steps = min(args.exact_steps, 2)
    C.settle_blocks_threads(args, 9)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limits = C.pin_threads(args.threads)  # kept alive for the whole run
    info = C.env_info(None)
    print("bench_book: the book's train_convnet.py step (SimpleConvNet, Adam), ms/step")
    C.print_env(info, torch_line=False)
    batches = make_batches(4, args.seed)
    trainers = candidates(args.seed)
    times = C.interleave(
        {name: block(tr, batches, args.steps) for name, tr in trainers.items()}, args.blocks
    )
    ratios = {
        "book64/minigrad64": C.ratio_stats(times["book64"], times["minigrad64"]),
        "book64/minigrad32": C.ratio_stats(times["book64"], times["minigrad32"]),
    }
    C.print_table(
        ["ms/step", "median", "min", "max"],
        [[k, *(C.fmt(v, 1) for v in C.summary(ts).values())] for k, ts in times.items()],
    )
    C.print_table(
        ["ratio (same block)", "median", "min", "max"],
        [[k, C.fmt(r["median"]), C.fmt(r["min"]), C.fmt(r["max"])] for k, r in ratios.items()],
    )
    exact = exactness(args.seed, batches, args.exact_steps)
    print(
        f"exactness after {args.exact_steps} steps: max rel diff minigrad64 vs book64 {exact:.2e}"
    )
    bars = [
        C.Bar(
            "train_convnet step book64/minigrad32 (python -m minigrad.book --float32)",
            ratios["book64/minigrad32"]["median"],
            ">=",
            4.0,
        ),
        C.Bar(
            "train_convnet step book64/minigrad64 (the book's numbers)",
            ratios["book64/minigrad64"]["median"],
            ">=",
            2.0,
        ),
        C.Bar(f"exactness minigrad64 vs book64 after {args.exact_steps} steps", exact, "<=", 1e-9),
    ]
    C.print_bars(bars)
    C.write_json(
        args.json,
        {
            "benchmark": "book",
            "env": info,
            "data": "random",
            "config": {
                "quick": args.quick,
                "blocks": args.blocks,
                "steps": args.steps,
                "batch": BATCH,
                "threads": args.threads,
            },
            "times": {k: {**C.summary(v), "blocks": v} for k, v in times.items()},
            "ratios": ratios,
            "exactness": exact,
            "bars": [b.as_dict() for b in bars],
        },
    )
    del limits
    return C.finish(bars, args.check)


if __name__ == "__main__":
    sys.exit(main())
