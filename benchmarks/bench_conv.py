"""Conv nets: minigrad's training step against hand-written NumPy, the book's algorithm and
PyTorch, and the peak memory of a DeepConvNet step.

The book's SimpleConvNet (conv 30x5x5 - relu - pool - affine 100 - relu - affine 10) and
DeepConvNet (six 3x3 convolutions, three poolings, two affine layers, dropout), batch 100,
SGD lr 0.01, per training step, all in this process, from the same initial weights, on the
same batches, in interleaved blocks:

  minigrad   nn.SimpleConvNet / nn.DeepConvNet float32: loss = net.loss(x, t);
             opt.zero_grad(); loss.backward(); opt.step()  (minigrad.optim.SGD)
  numpy32    hand-written float32 layers, as fast as NumPy allows here (strided windows,
             batched GEMMs, separable pooling, ReLU in place, no gradient for the data
             batch): the reference of the bars (_conv_reference.py, "fast")
  book64     the book's algorithm (im2col by a loop over the filter offsets, pooling by
             im2col + argmax, every layer's dx) in float64, the book's dtype
  book32     the same in float32
  torch      PyTorch eager float32, the same layers, torch.optim.SGD (if importable)

Then: exactness (after N steps minigrad's weights equal numpy32's; dropout masks come from
the same np.random stream), and the peak RSS of DeepConvNet training steps, minigrad against
numpy32, each in a fresh subprocess. Data: random images of MNIST's shapes (the time and
memory of a step do not depend on the pixel values).

    python benchmarks/bench_conv.py [--quick] [--json out.json] [--check] [--no-deep]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
from _conv_reference import LAYOUTS, ConvNetReference  # noqa: E402
from bench_memory import child_runs, median_peaks, mib, peak_ratios, steps_peak  # noqa: E402

BATCH, LR = 100, 0.01
# The conv layers' (filter_num, filter_size) of each layout, and the hidden affine size.
CONVS = {"simple": [(30, 5)], "deep": [(16, 3), (16, 3), (32, 3), (32, 3), (64, 3), (64, 3)]}
HIDDEN = {"simple": 100, "deep": 50}
FLAT = {"simple": 30 * 12 * 12, "deep": 64 * 4 * 4}


def init_weights(layout: str, seed: int) -> dict[str, np.ndarray]:
    """W1, b1, ... in float64 of the book's shapes: He-scaled normal weights, zero biases."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    c = 1
    for i, (fn, fs) in enumerate(CONVS[layout], 1):
        out[f"W{i}"] = np.sqrt(2 / (c * fs * fs)) * rng.standard_normal((fn, c, fs, fs))
        out[f"b{i}"] = np.zeros(fn)
        c = fn
    sizes = [FLAT[layout], HIDDEN[layout], 10]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), len(CONVS[layout]) + 1):
        out[f"W{i}"] = np.sqrt(2 / a) * rng.standard_normal((a, b))
        out[f"b{i}"] = np.zeros(b)
    return out


def make_batches(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.random((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH))
        for _ in range(n)
    ]


# ----------------------------------------------------------------------------- trainers


class Minigrad:
    """minigrad's conv net in float32, trained the idiomatic way with optim.SGD."""

    dtype = np.float32

    def __init__(self, layout: str, weights: dict[str, np.ndarray]) -> None:
        from minigrad import nn, optim

        cls = nn.SimpleConvNet if layout == "simple" else nn.DeepConvNet
        self.net = cls(dtype=np.float32)
        for k, w in weights.items():
            self.net.params[k][...] = w
        self.opt = optim.SGD(self.net.parameters(), lr=LR)

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        loss = self.net.loss(x, t)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def weights(self) -> dict[str, np.ndarray]:
        return self.net.params


class Reference:
    """The hand-written layers of _conv_reference.py (`kind` "fast" or "book")."""

    def __init__(self, layout: str, weights: dict[str, np.ndarray], dtype: Any, kind: str) -> None:
        self.dtype = np.dtype(dtype)
        self.net = ConvNetReference(weights, layout, dtype, kind)

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        self.net.sgd_step(x, t, LR)

    def weights(self) -> dict[str, np.ndarray]:
        return self.net.params


class Torch:
    """PyTorch eager float32: the same layers (nn.functional), torch.optim.SGD."""

    dtype = np.float32

    def __init__(self, torch: Any, layout: str, weights: dict[str, np.ndarray]) -> None:
        self.torch, self.F = torch, torch.nn.functional
        self.p = {
            k: torch.tensor(w.T if w.ndim == 2 else w, dtype=torch.float32, requires_grad=True)
            for k, w in weights.items()
        }
        self.layout = LAYOUTS[layout]
        self.opt = torch.optim.SGD(list(self.p.values()), lr=LR)

    def batch(self, x: np.ndarray, t: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(x), self.torch.from_numpy(t)

    def step(self, x: Any, t: Any) -> None:
        F, i = self.F, 0
        for spec in self.layout:
            if spec[0] == "conv":
                i += 1
                x = F.conv2d(x, self.p[f"W{i}"], self.p[f"b{i}"], spec[1], spec[2])
            elif spec[0] == "affine":
                i += 1
                x = F.linear(x.reshape(x.shape[0], -1), self.p[f"W{i}"], self.p[f"b{i}"])
            elif spec[0] == "relu":
                x = F.relu(x)
            elif spec[0] == "pool":
                x = F.max_pool2d(x, spec[1], spec[2])
            else:
                x = F.dropout(x, spec[1], training=True)
        loss = F.cross_entropy(x, t)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def trainers(layout: str, torch: Any, seed: int, book: bool) -> dict[str, Any]:
    w = init_weights(layout, seed)
    out: dict[str, Any] = {
        "minigrad": Minigrad(layout, w),
        "numpy32": Reference(layout, w, np.float32, "fast"),
    }
    if book:
        out["book64"] = Reference(layout, w, np.float64, "book")
        out["book32"] = Reference(layout, w, np.float32, "book")
    if torch is not None:
        out["torch"] = Torch(torch, layout, w)
    return out


def block(trainer: Any, batches: list[Any], steps: int) -> Any:
    """A candidate for C.interleave: ms per step over `steps` steps on its own batch copies."""
    if isinstance(trainer, Torch):
        data = [trainer.batch(x, t) for x, t in batches]
    else:
        data = [(x.astype(trainer.dtype), t) for x, t in batches]
    return C.step_timer(trainer.step, data, steps)


RATIOS = [
    ("minigrad/numpy32", "minigrad", "numpy32"),
    ("book64/minigrad", "book64", "minigrad"),
    ("book32/minigrad", "book32", "minigrad"),
    ("torch/minigrad", "torch", "minigrad"),
]


def bench_speed(
    layout: str, args: argparse.Namespace, torch: Any, batches: list[Any], book: bool
) -> dict[str, Any]:
    cands = trainers(layout, torch, args.seed, book)
    steps = args.steps if layout == "simple" else max(1, args.steps // 4)
    name = "SimpleConvNet" if layout == "simple" else "DeepConvNet"
    res = C.time_candidates(
        f"{name}, batch {BATCH} ({args.blocks} blocks of {steps} steps)",
        {k: block(tr, batches, steps) for k, tr in cands.items()},
        args.blocks,
        RATIOS,
    )
    return {"steps_per_block": steps, **res}


def exactness(layout: str, seed: int, batches: list[Any], steps: int) -> float:
    """max |w - w_ref| / max |w_ref| over the weights after `steps` steps, minigrad vs numpy32
    (both draw their dropout masks from np.random, seeded alike)."""
    w = init_weights(layout, seed)
    runs = []
    for tr in (Minigrad(layout, w), Reference(layout, w, np.float32, "fast")):
        np.random.seed(seed)  # noqa: NPY002 - both draw dropout masks from it
        for i in range(steps):
            tr.step(*batches[i % len(batches)])
        runs.append(tr.weights())
    return C.max_rel_diff(*runs)


# ----------------------------------------------------------------------------- memory


def child(kind: str, steps: int, seed: int) -> dict[str, Any]:
    """In a fresh process: DeepConvNet training steps; the RSS before and the peak during."""
    batches = make_batches(2, seed)
    w = init_weights("deep", seed)
    tr = Minigrad("deep", w) if kind == "minigrad" else Reference("deep", w, np.float32, "fast")
    np.random.seed(seed)  # noqa: NPY002
    tr.step(*batches[0])  # the first step allocates what every step reuses
    return {"kind": kind, **steps_peak(tr.step, batches, steps)}


def bench_memory(steps: int, repeats: int, seed: int, threads: int | None) -> dict[str, Any]:
    runs = child_runs(__file__, ["--mem-steps", str(steps), "--seed", str(seed)], repeats, threads)
    keys = ("rss_before", "rss_after", "steps_peak", "process_peak")
    med = median_peaks(runs, keys, increment="step_increment")
    print(f"DeepConvNet peak RSS, MiB (fresh process each, {steps} steps, median of {repeats}):")
    C.print_table(
        ["", "RSS before steps", "peak during steps", "steps' own peak", "RSS after steps"],
        [
            [k, mib(m["rss_before"]), mib(m["peak"]), mib(m["step_increment"]), mib(m["rss_after"])]
            for k, m in med.items()
        ],
    )
    ratio, inc_ratio = peak_ratios(med, increment="step_increment")
    return {"runs": runs, "median": med, "peak_ratio": ratio, "increment_ratio": inc_ratio}


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = C.make_parser(
        "Conv net training step time and memory: minigrad vs hand-written NumPy, the book's "
        "algorithm and PyTorch.",
        __doc__,
    )
    p.add_argument("--steps", type=int, default=20, help="SimpleConvNet steps per block (20)")
    p.add_argument("--exact-steps", type=int, default=20, help="steps of the exactness check")
    p.add_argument("--mem-steps", type=int, default=5, help="DeepConvNet steps per memory run")
    p.add_argument("--seed", type=int, default=0, help="weights and batches seed")
    p.add_argument("--no-deep", action="store_true", help="skip DeepConvNet (speed and memory)")
    p.add_argument("--no-book", action="store_true", help="skip the book's algorithm")
    p.add_argument("--no-memory", action="store_true", help="skip the peak RSS runs")
    C.add_threads_arg(p)
    p.add_argument("--child", choices=["minigrad", "numpy32"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 2)
        args.exact_steps = min(args.exact_steps, 3)
        args.mem_steps = min(args.mem_steps, 1)
    C.settle_blocks_threads(args, 15)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.mem_steps, args.seed)))
        return 0
    torch = C.import_torch(args.no_torch)
    limits = C.pin_threads(args.threads, torch)  # kept alive for the whole run
    info = C.env_info(torch)
    print("bench_conv: conv net training steps, ms/step, random MNIST-shaped data")
    C.print_env(info)
    batches = make_batches(4, args.seed)
    results: dict[str, Any] = {}
    exact: dict[str, float] = {}
    layouts = ["simple"] if args.no_deep else ["simple", "deep"]
    for layout in layouts:
        # The book's algorithm on DeepConvNet takes seconds a step: left out of --quick.
        book = not args.no_book and not (args.quick and layout == "deep")
        results[layout] = bench_speed(layout, args, torch, batches, book)
        steps = args.exact_steps if layout == "simple" else max(1, args.exact_steps // 3)
        exact[layout] = exactness(layout, args.seed, batches, steps)
    print(
        f"exactness after {args.exact_steps} steps (DeepConvNet: a third): "
        "max |w - w_ref| / max |w_ref| vs numpy32"
    )
    C.print_table(["", "max rel diff"], [[k, f"{v:.2e}"] for k, v in exact.items()])
    memory = None
    if not (args.no_deep or args.no_memory):
        memory = bench_memory(args.mem_steps, 1 if args.quick else 3, args.seed, args.threads)

    def ratio(layout: str, name: str) -> float | None:
        r = results.get(layout, {}).get("ratios", {}).get(name)
        return None if r is None else r["median"]

    bars = [
        C.Bar(
            "SimpleConvNet minigrad/numpy32 ms/step",
            ratio("simple", "minigrad/numpy32"),
            "<=",
            1.15,
        ),
        C.Bar(
            "SimpleConvNet book64/minigrad ms/step", ratio("simple", "book64/minigrad"), ">=", 4.0
        ),
        C.Bar(
            "DeepConvNet minigrad/numpy32 ms/step", ratio("deep", "minigrad/numpy32"), "<=", 1.15
        ),
        C.Bar(
            "DeepConvNet peak RSS minigrad/numpy32",
            None if memory is None else memory["peak_ratio"],
            "<=",
            1.3,
        ),
        C.Bar(
            f"exactness: max rel diff vs numpy32 after {args.exact_steps} steps",
            max(exact.values()),
            "<=",
            1e-4,
        ),
    ]
    C.print_bars(bars)
    C.write_json(
        args.json,
        {
            "benchmark": "conv",
            "env": info,
            "data": "random",
            "config": {
                "quick": args.quick,
                "blocks": args.blocks,
                "batch": BATCH,
                "lr": LR,
                "layouts": layouts,
                "mem_steps": args.mem_steps,
            },
            "threads": args.threads,
            "results": results,
            "exactness": exact,
            "memory": memory,
            "bars": [b.as_dict() for b in bars],
        },
    )
    del limits
    return C.finish(bars, args.check)


if __name__ == "__main__":
    sys.exit(main())
