"""Training speed on MNIST: minigrad against the hand-written NumPy layers and PyTorch.

784-50-10, batch 100, SGD lr 0.1, per training step, all in this process, from the same
initial weights, on the same batches, in interleaved blocks:

  minigrad       TwoLayerNet float32: loss = net.loss(x, t); opt.zero_grad(); loss.backward();
                 opt.step()  (minigrad.optim.SGD)
  minigrad-book  the book's loop: grads = net.gradient(x, t); params[k] -= lr * grads[k]
  seed64         the book's hand-written layers (Affine/Relu/Affine/SoftmaxWithLoss) in float64
  seed64-lean    the same without the unused input gradient of the first Affine
  seed32         the same in float32
  seed32-lean    float32 without the unused input gradient of the first Affine (minigrad
                 never computes the data batch's gradient)
  lean32         the same math (lean, float32) written by hand as fast as NumPy allows
                 (_reference.LeanNet: no allocation per step, flat SGD update, fused softmax
                 cross-entropy gradient): the reference of the bar
  torch          PyTorch eager float32, addmm + relu + cross_entropy, SGD update by hand
                 (if importable)

Rows marked @1 run again with one pool pinned to 1 thread: the bars' trainers (minigrad,
lean32, seed64, seed32) with NumPy's BLAS at 1 thread (threadpoolctl), torch@1 with
torch.set_num_threads(1). The bars (docs/architecture.md): minigrad at most 1.3x lean32 and
never slower than the book's float32 layers (seed32/minigrad at least 1), both at the BLAS
setting where lean32 is faster; seed64/minigrad at least 1.5; exact. Torch's ratio uses the
faster of torch and torch@1 (on a busy two-core machine a second BLAS thread makes every
matrix product wait for a core).

Then: exactness (after N steps the weights of every trainer equal lean32's), the big net
784-1000-1000-10 batch 128 (minigrad MLP vs the same step by hand), and the time minigrad
takes to reach 97% test accuracy (real MNIST only; skipped with --quick).

MNIST comes from `minigrad.data.load_mnist(data_dir=--data-dir)` ($MINIGRAD_DATA and the cache
also work; nothing is downloaded); without it, random data of the same shapes (with a warning).

    python benchmarks/bench_mnist.py [--data-dir DIR] [--quick] [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _trainers as T  # noqa: E402
from _time_to_acc import example_setup, time_to_accuracy  # noqa: E402

SMALL = [784, 50, 10]
BIG = [784, 1000, 1000, 10]


def load_data(args: argparse.Namespace) -> tuple[str, tuple[Any, ...]]:
    """('mnist', arrays) from minigrad.data, or ('random', arrays of MNIST's shapes)."""
    if not args.random_data:
        try:
            from minigrad.data import load_mnist

            (x, t), (xt, tt) = load_mnist(data_dir=args.data_dir, download=False)
            return "mnist", (x, t, xt, tt)
        except Exception as e:  # any failure means: go on with random data, and say so
            print(f"WARNING: MNIST not available ({type(e).__name__}: {e}); using random data")
    rng = np.random.default_rng(1)
    x = rng.random((60000, 784), dtype=np.float32)
    t = rng.integers(0, 10, 60000)
    return "random", (x, t, x[:10000], t[:10000])


def make_batches(x: np.ndarray, t: np.ndarray, n: int, size: int, seed: int) -> list[Any]:
    """`n` batches drawn like the book's loop (np.random.choice with replacement)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        idx = rng.choice(len(x), size)
        out.append((x[idx], t[idx]))
    return out


class Feeder:
    """A trainer plus its own copy of the batch list in its dtype, stepped in sequence."""

    def __init__(self, trainer: Any, batches: list[Any]) -> None:
        self.trainer = trainer
        if isinstance(trainer, T.TorchTrainer):
            self.batches = [trainer.torch_batch(x, t) for x, t in batches]
        else:
            self.batches = [(x.astype(trainer.dtype), t) for x, t in batches]
        self.i = 0

    def run(self, steps: int) -> None:
        step, batches, n, i = self.trainer.step, self.batches, len(self.batches), self.i
        for k in range(i, i + steps):
            step(*batches[k % n])
        self.i = (i + steps) % n

    def block(self, steps: int) -> Any:
        """A candidate for C.interleave: ms per step over `steps` steps."""

        def measure() -> float:
            t0 = time.perf_counter()
            self.run(steps)
            return (time.perf_counter() - t0) / steps * 1e3

        return measure


def grouped(feeders: list[Feeder], steps: int, chunk: int = 25) -> Any:
    """A candidate for C.interleave timing several trainers in chunks of `chunk` steps within
    one turn, the order rotating every chunk (a b c, b c a, ...): ms/step of each, in order.
    They see the same noise to within ~20 ms, which the blocks of a plain interleave (100
    steps each, 0.1 s apart) cannot give on a busy machine. (Chunks of 5 or 10 steps made
    minigrad/lean32 2-6% higher than chunks of 25 or 50: switching cools minigrad's caches.)"""

    def measure() -> list[float]:
        tot = [0.0] * len(feeders)
        order = list(range(len(feeders)))
        for j, k in enumerate(range(0, steps, chunk)):
            n = min(chunk, steps - k)
            r = j % len(order)
            for i in order[r:] + order[:r]:
                t0 = time.perf_counter()
                feeders[i].run(n)
                tot[i] += time.perf_counter() - t0
        return [t / steps * 1e3 for t in tot]

    return measure


def small_trainers(torch: Any, weights: T.Weights, lr: float) -> dict[str, Any]:
    out = {
        "minigrad": T.MinigradIdiomatic(weights, lr),
        "minigrad-book": T.MinigradBook(weights, lr),
        "seed64": T.Reference(weights, lr, np.float64, lean=False),
        "seed64-lean": T.Reference(weights, lr, np.float64, lean=True),
        "seed32": T.Reference(weights, lr, np.float32, lean=False),
        "seed32-lean": T.Reference(weights, lr, np.float32, lean=True),
        "lean32": T.Lean(weights, lr),
    }
    if torch is not None:
        out["torch"] = T.TorchTrainer(torch, weights, lr)
    return out


# The trainers that also run with their thread pool pinned to 1 thread ("name@1").
# The trainers of the bars, timed side by side in chunks within one turn, also at 1 thread.
GROUP = ("minigrad", "lean32", "seed64", "seed32")


def candidates(torch: Any, feeders: dict[str, Feeder], steps: int) -> dict[str, Any]:
    """The timing candidates: every feeder as it runs by default, the bars' trainers (GROUP,
    those present) as one grouped candidate ("minigrad|lean32|seed64|seed32"), and the "@1" rows:
    the group with NumPy's BLAS at 1 thread, torch with 1 intra-op thread. A row is pinned
    only where its pool has more than one thread (else it would repeat its twin)."""
    group = [k for k in GROUP if k in feeders]
    out = {k: f.block(steps) for k, f in feeders.items() if k not in group}
    out["|".join(group)] = grouped([feeders[k] for k in group], steps)
    blas = C.blas_threads()
    if blas is not None and blas > 1:
        out["|".join(f"{k}@1" for k in group)] = C.within(
            lambda: C.limit_blas(1), grouped([feeders[k] for k in group], steps)
        )
    if "torch" in feeders and torch.get_num_threads() > 1:
        out["torch@1"] = C.within(lambda: C.limit_torch(torch, 1), feeders["torch"].block(steps))
    return out


def time_steps(cands: dict[str, Any], blocks: int, order: list[str]) -> dict[str, list[float]]:
    """ms/step per block for each row, interleaved (see C.interleave for `settle`); a grouped
    candidate "a|b|..." gives the rows a, b, ... Rows come in `order` (trainer names), the @1
    rows last."""
    raw = C.interleave(cands, blocks, settle=0.1)
    out: dict[str, list[float]] = {}
    for k, v in raw.items():
        for i, name in enumerate(k.split("|")):
            out[name] = [block[i] for block in v] if "|" in k else v
    return dict(
        sorted(out.items(), key=lambda kv: (kv[0].endswith("@1"), order.index(kv[0].split("@")[0])))
    )


def fastest(raw: dict[str, list[float]], *names: str) -> str:
    """Of the rows `names` that were timed, the one with the lowest median."""
    timed = [n for n in names if n in raw]
    return min(timed, key=lambda n: C.summary(raw[n])["median"])


REF = "lean32"


def exactness(torch: Any, weights: T.Weights, batches: list[Any], steps: int) -> dict[str, Any]:
    """Train fresh copies `steps` steps; max |w - w_ref| / max |w_ref| against lean32."""
    feeders = {k: Feeder(tr, batches) for k, tr in small_trainers(torch, weights, 0.1).items()}
    for f in feeders.values():
        f.run(steps)
    ref = feeders[REF].trainer.weights()
    out: dict[str, Any] = {"steps": steps}
    for name, f in feeders.items():
        if name == REF:
            continue
        diffs = [
            float(np.max(np.abs(w.astype(np.float64) - r)) / np.max(np.abs(r)))
            for w, r in zip(f.trainer.weights(), ref)
        ]
        out[name] = max(diffs)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = C.make_parser(
        "MNIST training step time: minigrad vs hand-written NumPy layers and PyTorch.", __doc__
    )
    p.add_argument("--data-dir", help="folder with MNIST (else $MINIGRAD_DATA or the cache)")
    p.add_argument("--random-data", action="store_true", help="use random data, not MNIST")
    p.add_argument("--steps", type=int, default=100, help="training steps per block (100)")
    p.add_argument("--exact-steps", type=int, default=200, help="steps of the exactness check")
    p.add_argument("--seed", type=int, default=0, help="weights and batches seed")
    p.add_argument("--no-big", action="store_true", help="skip the 784-1000-1000-10 net")
    p.add_argument("--no-t97", action="store_true", help="skip the time to 97%% accuracy")
    p.add_argument("--t97-limit", type=float, default=120.0, help="its time limit, s (120)")
    p.add_argument("--t97-optimizer", help="its optimizer (default: examples/mnist.py's)")
    p.add_argument("--t97-lr", type=float, help="its learning rate (default: the example's)")
    p.add_argument("--t97-hidden", type=int, help="its hidden size (default: the example's)")
    p.add_argument("--t97-batch", type=int, help="its batch size (default: the example's)")
    p.add_argument("--t97-eval-every", type=int, default=100, help="steps between evaluations")
    args = p.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 5)
        args.exact_steps = min(args.exact_steps, 20)
        args.no_t97 = True
    args.blocks = args.blocks or (2 if args.quick else 21)
    return args


RATIOS = [
    ("minigrad/lean32", "minigrad", "lean32"),
    ("minigrad@1/lean32@1", "minigrad@1", "lean32@1"),
    ("minigrad/seed32-lean", "minigrad", "seed32-lean"),
    ("seed32-lean/lean32", "seed32-lean", "lean32"),
    ("minigrad-book/minigrad", "minigrad-book", "minigrad"),
    ("seed32/minigrad", "seed32", "minigrad"),
    ("seed32@1/minigrad@1", "seed32@1", "minigrad@1"),
    ("seed64/minigrad", "seed64", "minigrad"),
    ("seed64@1/minigrad@1", "seed64@1", "minigrad@1"),
    ("seed64-lean/minigrad", "seed64-lean", "minigrad"),
    ("torch/minigrad", "torch", "minigrad"),
    ("torch@1/minigrad@1", "torch@1", "minigrad@1"),
]


def bench_small(
    args: argparse.Namespace, torch: Any, weights: T.Weights, batches: list[Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """784-50-10: print and return ms/step per row, the per-block ratios, and which rows the
    bar and the torch comparison use (the faster thread setting of each)."""
    feeders = {k: Feeder(tr, batches) for k, tr in small_trainers(torch, weights, 0.1).items()}
    raw = time_steps(candidates(torch, feeders, args.steps), args.blocks, list(feeders))
    step_ms = {k: {**C.summary(v), "blocks": v} for k, v in raw.items()}
    ratios = {n: C.ratio_stats(raw[a], raw[b]) for n, a, b in RATIOS if a in raw and b in raw}
    at1 = fastest(raw, "lean32", "lean32@1") == "lean32@1"
    chosen = {
        "bar": "minigrad@1/lean32@1" if at1 else "minigrad/lean32",
        "seed64": "seed64@1/minigrad@1" if at1 else "seed64/minigrad",
        "seed32": "seed32@1/minigrad@1" if at1 else "seed32/minigrad",
    }
    if torch is not None:
        chosen["torch"] = (
            "torch/minigrad"
            if fastest(raw, "torch", "torch@1") == "torch"
            else "torch@1/minigrad@1"
        )
    print(
        f"784-50-10, batch 100 ({args.blocks} blocks of {args.steps} steps); {C.threads_note(torch)}:"
    )
    for title, table in [("ms/step", step_ms), ("ratio (per block)", ratios)]:
        C.print_table(
            [title, "median", "min", "max"],
            [[k, *(C.fmt(v[s], 3) for s in ("median", "min", "max"))] for k, v in table.items()],
        )
    print(
        f"the bars use {chosen['bar']}, {chosen['seed32']} and {chosen['seed64']} (lean32's "
        "faster BLAS setting)",
        end="",
    )
    print(
        f"; torch's ratio is {chosen['torch']} (torch's faster setting)"
        if "torch" in chosen
        else "",
        end="\n\n",
    )
    return step_ms, ratios, chosen


def bench_t97(
    args: argparse.Namespace, source: str, data: tuple[Any, ...]
) -> dict[str, Any] | None:
    """Time to 97% test accuracy with the example's setup (None where skipped)."""
    if args.no_t97:
        return None
    if source != "mnist":
        print("time to 97%: skipped (needs real MNIST; pass --data-dir)\n")
        return None
    setup = example_setup()
    for key in ("optimizer", "lr", "hidden", "batch"):
        value = getattr(args, f"t97_{key}")
        if value is not None:
            setup[key] = value
            setup["source"] = "command line"
    r = time_to_accuracy(setup, data, 0.97, args.t97_limit, args.t97_eval_every, args.seed)
    print(
        f"time to 97% test accuracy ({setup['optimizer']} lr {setup['lr']}, hidden "
        f"{setup['hidden']}, batch {setup['batch']}, from {setup['source']}):"
    )
    if r["reached"]:
        print(
            f"  {r['train_seconds']:.1f} s training ({r['wall_seconds']:.1f} s with evaluation), "
            f"{r['steps']} steps = {r['epochs']:.2f} epochs, test_acc {r['test_acc']:.4f}\n"
        )
    else:
        print(f"  NOT reached in {args.t97_limit:.0f} s (test_acc {r['test_acc']:.4f})\n")
    return r


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch = C.import_torch(args.no_torch)
    info = C.env_info(torch)
    source, data = load_data(args)
    print(f"bench_mnist: training steps, ms/step, data: {source}")
    C.print_env(info)
    x, t = data[0], data[1]
    batches = make_batches(x, t, 50, 100, args.seed)
    weights = T.init_weights(SMALL, 0.01, args.seed)

    step_ms, ratios, chosen = bench_small(args, torch, weights, batches)
    exact = exactness(torch, weights, batches, args.exact_steps)
    print(f"exactness after {args.exact_steps} steps: max |w - w_ref| / max |w_ref| vs {REF}")
    C.print_table(["", "max rel diff"], [[k, f"{v:.2e}"] for k, v in exact.items() if k != "steps"])
    big = None if args.no_big else bench_big(args, torch, x, t)
    t97 = bench_t97(args, source, data)

    bars = [
        C.Bar(
            f"minigrad/lean32 ms/step: {chosen['bar']}", ratios[chosen["bar"]]["median"], "<=", 1.3
        ),
        # Never slower than the book's own layers in float32, as the book wrote them.
        C.Bar(
            f"seed32/minigrad ms/step: {chosen['seed32']}",
            ratios[chosen["seed32"]]["median"],
            ">=",
            1.0,
        ),
        C.Bar(
            f"seed64/minigrad ms/step: {chosen['seed64']}",
            ratios[chosen["seed64"]]["median"],
            ">=",
            1.5,
        ),
        C.Bar(
            f"exactness: max rel diff vs {REF} after {args.exact_steps} steps",
            exact["minigrad"],
            "<=",
            1e-3,
        ),
    ]
    C.print_bars(bars)
    C.write_json(
        args.json,
        {
            "benchmark": "mnist",
            "env": info,
            "data": source,
            "config": {
                "quick": args.quick,
                "blocks": args.blocks,
                "steps_per_block": args.steps,
                "batch": 100,
                "lr": 0.1,
                "sizes": SMALL,
            },
            "step_ms": step_ms,
            "ratios": ratios,
            "chosen": chosen,
            "exactness": exact,
            "big_net": big,
            "time_to_97": t97,
            "bars": [b.as_dict() for b in bars],
        },
    )
    return C.finish(bars, args.check)


def bench_big(args: argparse.Namespace, torch: Any, x: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    """784-1000-1000-10, batch 128, lr 0.01: minigrad MLP vs the step by hand (lean32), torch."""
    weights = T.init_weights(BIG, "he", args.seed)
    batches = make_batches(x, t, 8, 128, args.seed + 1)
    trainers: dict[str, Any] = {
        "minigrad": T.MinigradIdiomatic(weights, 0.01),
        "lean32": T.Lean(weights, 0.01),
    }
    if torch is not None:
        trainers["torch"] = T.TorchTrainer(torch, weights, 0.01)
    feeders = {k: Feeder(tr, batches) for k, tr in trainers.items()}
    steps = 1 if args.quick else 3
    blocks = 2 if args.quick else 9
    raw = time_steps(candidates(torch, feeders, steps), blocks, list(feeders))

    def ref(k: str) -> str:
        # Like with like: the @1 rows against lean32@1 where it ran.
        return "lean32@1" if k.endswith("@1") and "lean32@1" in raw else "lean32"

    out: dict[str, Any] = {
        "sizes": BIG,
        "batch": 128,
        "step_ms": {k: {**C.summary(v), "blocks": v} for k, v in raw.items()},
        "ratios": {f"{k}/{ref(k)}": C.ratio_stats(raw[k], raw[ref(k)]) for k in raw},
    }
    print(f"784-1000-1000-10, batch 128 ({blocks} blocks of {steps} steps), ms/step:")
    C.print_table(
        ["", "ms/step (median)", "ratio to lean32 (@1 rows: to lean32@1; per block)"],
        [
            [k, C.fmt(v["median"], 2), C.fmt(out["ratios"][f"{k}/{ref(k)}"]["median"], 3)]
            for k, v in out["step_ms"].items()
        ],
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
