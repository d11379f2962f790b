"""Per-op overhead of minigrad's engine on tiny ops: forward, backward, teardown.

Graphs of ops on shape (8,) float64, where the arithmetic costs nearly nothing and what is
measured is the bookkeeping:

- chain:  y = x; y = y * a, n times (a: a constant (8,) ndarray); n = 1,000 and 100,000
- mixed:  the same chain cycling y * a, y + a, tanh(y)
- wide:   W branches from one input, x * a_i, summed by a running sum
          s = x*a_0; s = s + x*a_i for i = 1..W-1 (W muls + W-1 adds, each counted as an op;
          x's gradient gathers W contributions); W = 1,000 and 10,000

Each framework runs the same graph: minigrad; `_bare_engine.py` ("bare-engine": the graph
structure of docs/architecture.md ("The engine") with no checks or features, the floor of any engine of this
design in this interpreter); NumPy with the backward written by hand on a tape ("numpy-hand":
the forward appends what each op's backward needs to a list, the backward walks it back);
plain NumPy forward only (the floor of the arithmetic); PyTorch eager autograd if importable,
with its default threads ("torch") and with torch.set_num_threads(1) ("torch@1"); its bar
uses the faster of the two. minigrad also runs with the cyclic collector paused
("minigrad-gc-paused", a diagnostic, not a bar): on big graphs CPython's collector walks every
live object of the graph again and again, and this shows how much of the per-op growth is
that walk. Teardown is the `del` of the output that frees the graph. Times are us per op,
medians over interleaved blocks; ratios are medians of per-block ratios.

    python benchmarks/bench_overhead.py [--quick] [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bare_engine as B  # noqa: E402
import _common as C  # noqa: E402
import _reference as R  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import functions as F  # noqa: E402

SHAPE = (8,)
Phases = tuple[float, float, float]  # seconds: forward, backward, teardown


# ------------------------------------------------------------------------------- the graphs


class Case:
    """One graph to time: its kind ('chain', 'mixed', 'wide'), size, op count and constants."""

    def __init__(self, key: str, kind: str, size: int, reps: int, rng: np.random.Generator):
        self.key = key
        self.kind = kind
        self.size = size
        self.reps = reps
        self.n_ops = 2 * size - 1 if kind == "wide" else size
        # Factors this close to 1 keep a 100,000-op product finite.
        if kind == "wide":
            self.consts = [rng.uniform(0.5, 1.5, SHAPE) for _ in range(size)]
        else:
            self.consts = [rng.uniform(1 - 1e-5, 1 + 1e-5, SHAPE)]
        self.x0 = rng.uniform(0.5, 1.0, SHAPE)


def op_cycle(kind: str, n: int) -> list[int]:
    """The op of each chain step: 0 = mul, 1 = add, 2 = tanh (mixed) or all mul (chain)."""
    assert (R.MUL, R.ADD, R.TANH) == (0, 1, 2)
    return [i % 3 for i in range(n)] if kind == "mixed" else [0] * n


# ------------------------------------------------------------------------------- frameworks


def run_graph(
    case: Case, leaf: Any, tanh: Callable[[Any], Any], backward: Callable[[Any, np.ndarray], None]
) -> tuple[Phases, Any]:
    """One forward/backward/teardown of the case on an engine whose values take `*` and `+`:
    `leaf(array)` makes x, `tanh(v)` and `backward(y, seed)` are the engine's; returns x."""
    x = leaf(case.x0.copy())
    ones = np.ones(SHAPE)
    ops = op_cycle(case.kind, case.size)
    t0 = time.perf_counter()
    if case.kind == "wide":
        s = x * case.consts[0]
        for a in case.consts[1:]:
            s = s + x * a
        y = s
        del s
    else:
        a = case.consts[0]
        y = x
        for op in ops:
            y = y * a if op == 0 else (y + a if op == 1 else tanh(y))
    t1 = time.perf_counter()
    backward(y, ones)
    t2 = time.perf_counter()
    del y
    t3 = time.perf_counter()
    assert x.grad is not None
    return (t1 - t0, t2 - t1, t3 - t2), x


def run_minigrad(case: Case) -> tuple[Phases, np.ndarray]:
    """The case in minigrad; also returns x's gradient."""
    phases, x = run_graph(case, mg.Variable, F.tanh, lambda y, g: y.backward(g))
    return phases, x.grad.data


def run_numpy_hand(case: Case) -> tuple[Phases, np.ndarray]:
    """The same graph in NumPy with its backward written by hand on a tape (_reference)."""
    x = case.x0.copy()
    ones = np.ones(SHAPE)
    if case.kind == "wide":
        t0 = time.perf_counter()
        y, tape = R.wide_forward(x, case.consts)
        t1 = time.perf_counter()
        dx = R.wide_backward(tape, ones)
    else:
        ops = op_cycle(case.kind, case.size)
        t0 = time.perf_counter()
        y, tape = R.chain_forward(x, case.consts[0], ops)
        t1 = time.perf_counter()
        dx = R.chain_backward(tape, ops, ones)
    t2 = time.perf_counter()
    del y, tape
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2), dx


def run_bare(case: Case) -> tuple[Phases, np.ndarray]:
    """The case on `_bare_engine`: the engine's structure (docs/architecture.md) and nothing else."""
    phases, x = run_graph(case, B.Var, B.tanh, B.backward)
    return phases, x.grad


def gc_paused(run: Callable[[Case], Any]) -> Callable[[Case], Any]:
    """`run` with CPython's cyclic collector off while it runs (as `timeit` times by default)."""

    def paused(case: Case) -> Any:
        gc.disable()
        try:
            return run(case)
        finally:
            gc.enable()

    return paused


def run_numpy_floor(case: Case) -> tuple[Phases, None]:
    """Plain NumPy, forward only: what the arithmetic itself costs."""
    x = case.x0.copy()
    ops = op_cycle(case.kind, case.size)
    t0 = time.perf_counter()
    if case.kind == "wide":
        s = x * case.consts[0]
        for a in case.consts[1:]:
            s = s + x * a
    else:
        a = case.consts[0]
        y = x
        for op in ops:
            y = y * a if op == 0 else (y + a if op == 1 else np.tanh(y))
    t1 = time.perf_counter()
    return (t1 - t0, 0.0, 0.0), None


def make_run_torch(torch: Any) -> Callable[[Case], tuple[Phases, np.ndarray]]:
    """The graph in PyTorch eager autograd (float64 tensors of shape (8,)), its ops called as
    torch.mul / torch.add / torch.tanh, 2-5% faster per op here than `*` and `+`."""
    consts: dict[str, list[Any]] = {}
    mul, add, tanh = torch.mul, torch.add, torch.tanh

    def run_torch(case: Case) -> tuple[Phases, np.ndarray]:
        if case.key not in consts:
            consts[case.key] = [torch.from_numpy(a) for a in case.consts]
        ts = consts[case.key]
        x = torch.tensor(case.x0, requires_grad=True)
        ones = torch.ones(SHAPE, dtype=torch.float64)
        ops = op_cycle(case.kind, case.size)
        t0 = time.perf_counter()
        if case.kind == "wide":
            s = mul(x, ts[0])
            for a in ts[1:]:
                s = add(s, mul(x, a))
            y = s
            del s
        else:
            a = ts[0]
            y = x
            for op in ops:
                y = mul(y, a) if op == 0 else (add(y, a) if op == 1 else tanh(y))
        t1 = time.perf_counter()
        y.backward(ones)
        t2 = time.perf_counter()
        del y
        t3 = time.perf_counter()
        return (t1 - t0, t2 - t1, t3 - t2), x.grad.numpy()

    return run_torch


# ------------------------------------------------------------------------------- measuring


def case_block(
    case: Case, runs: dict[str, Callable[[Case], Any]], pinned: dict[str, Callable[[], Any]]
) -> Callable[[], dict[str, dict[str, float]]]:
    """One block's measurement of a graph for every framework: `case.reps` runs each, in
    rounds where every framework runs the graph up to CHUNK times in a row, the order rotating
    every round and every block. All frameworks then see the same noise within a fraction of
    a second, and each keeps its caches warm for a few runs (one run per turn made minigrad
    ~3% slower per op, its caches cooled by the others). A pinned framework runs inside its
    context, set up outside its timing. Each phase in us per op."""
    names = list(runs)
    turn = [0]

    def measure() -> dict[str, dict[str, float]]:
        sums = {n: [0.0, 0.0, 0.0] for n in names}
        for r, start in enumerate(range(0, case.reps, CHUNK)):
            k = (turn[0] + r) % len(names)
            for n in names[k:] + names[:k]:
                ctx = pinned.get(n)
                with ctx() if ctx is not None else contextlib.nullcontext():
                    for _ in range(min(CHUNK, case.reps - start)):
                        phases, _ = runs[n](case)
                        for i, v in enumerate(phases):
                            sums[n][i] += v
        turn[0] += 1
        scale = 1e6 / (case.reps * case.n_ops)
        return {
            n: {
                "fwd": f * scale,
                "bwd": b * scale,
                "teardown": t * scale,
                "total": (f + b + t) * scale,
            }
            for n, (f, b, t) in sums.items()
        }

    return measure


# Runs of one graph a framework makes in a row within a block (see case_block).
CHUNK = 5


def build_cases(args: argparse.Namespace) -> list[Case]:
    """The five graphs, with fixed seeds so every run times the same values."""
    rng = np.random.default_rng(0)
    short, long_, wide_s, wide_l = args.short, args.long, args.wide_small, args.wide_large
    # Repetitions keep a block of the short cases near the duration of one long run.
    return [
        Case("chain-short", "chain", short, max(1, long_ // short // 10), rng),
        Case("chain-long", "chain", long_, 1, rng),
        Case("mixed-short", "mixed", short, max(1, long_ // short // 10), rng),
        Case("wide-small", "wide", wide_s, max(1, wide_l // wide_s // 2), rng),
        Case("wide-large", "wide", wide_l, 1, rng),
    ]


def check_grads(cases: list[Case], runs: dict[str, Callable[[Case], Any]]) -> None:
    """Every framework must compute the same gradient, or the timings compare different work."""
    for case in cases:
        _, ref = run_numpy_hand(case)
        for name, run in runs.items():
            if name in ("numpy-hand", "numpy-floor", PAUSED):
                continue
            _, g = run(case)
            if not np.allclose(g, ref, rtol=1e-9, atol=1e-12):
                raise AssertionError(
                    f"bench_overhead: {name} disagrees with the hand-written gradient on "
                    f"{case.key}: max |diff| {np.max(np.abs(g - ref)):.3g}"
                )


Raw = dict[str, list[dict[str, float]]]  # "case|framework" -> one dict of phases per block
REFS = ("bare-engine", "numpy-hand", "numpy-floor", "torch", "torch@1")
# minigrad again with the cyclic collector paused: not a bar, it shows how much of the per-op
# growth on big graphs is CPython's collector walking the live graph rather than the engine.
PAUSED = "minigrad-gc-paused"
SCALING = {"chain long/short": ("chain-long", "chain-short"),
           "wide large/small": ("wide-large", "wide-small")}  # fmt: skip


def totals(raw: Raw, case: str, name: str) -> list[float]:
    """The per-block total us/op of one framework on one case."""
    return [b["total"] for b in raw[f"{case}|{name}"]]


def report_times(cases: list[Case], names: list[str], raw: Raw) -> dict[str, Any]:
    """Print us/op per phase (medians over blocks); return them with the per-block totals."""
    results: dict[str, Any] = {}
    rows = []
    for case in cases:
        results[case.key] = {"kind": case.kind, "size": case.size, "n_ops": case.n_ops}
        for name in names:
            blocks = raw[f"{case.key}|{name}"]
            med = {p: C.summary([b[p] for b in blocks])["median"] for p in blocks[0]}
            results[case.key][name] = {
                **{f"{p}_us": v for p, v in med.items()},
                "total_us_blocks": [b["total"] for b in blocks],
            }
            no_bwd = name == "numpy-floor"
            rows.append(
                [
                    f"{case.key} ({case.n_ops} ops)",
                    name,
                    C.fmt(med["fwd"], 3),
                    "-" if no_bwd else C.fmt(med["bwd"], 3),
                    "-" if no_bwd else C.fmt(med["teardown"], 3),
                    C.fmt(med["total"], 3),
                ]
            )
    C.print_table(["case", "framework", "fwd", "bwd", "teardown", "total"], rows)
    return results


def report_ratios(cases: list[Case], names: list[str], raw: Raw) -> dict[str, Any]:
    """Print and return minigrad's total per op over each reference's, per block."""
    ratios: dict[str, Any] = {}
    rows = []
    for case in cases:
        r = ratios[case.key] = {
            f"minigrad/{ref}": C.ratio_stats(
                totals(raw, case.key, "minigrad"), totals(raw, case.key, ref)
            )
            for ref in REFS
            if ref in names
        }
        rows.append([case.key] + [_ratio_cell(r.get(f"minigrad/{ref}")) for ref in REFS])
    print("ratios of total per op, median of per-block ratios [min-max]:")
    C.print_table(["case"] + [f"minigrad/{ref}" for ref in REFS], rows)
    return ratios


def report_scaling(names: list[str], raw: Raw, title: str) -> dict[str, Any]:
    """Print and return each framework's per-op cost on the big graph over the small one."""
    scaling = {
        pair: {
            name: C.ratio_stats(totals(raw, big, name), totals(raw, small, name)) for name in names
        }
        for pair, (big, small) in SCALING.items()
    }
    print(f"per-op scaling ({title}), median of per-block ratios [min-max]:")
    C.print_table(
        ["scaling", *names], [[k, *(_ratio_cell(v[n]) for n in names)] for k, v in scaling.items()]
    )
    return scaling


def fastest_torch(raw: Raw, names: list[str]) -> str | None:
    """ "torch" or "torch@1", whichever has the lower median total per op on the short chain."""
    timed = [n for n in ("torch", "torch@1") if n in names]
    if not timed:
        return None
    return min(timed, key=lambda n: C.summary(totals(raw, "chain-short", n))["median"])


def make_bars(
    args: argparse.Namespace, ratios: dict[str, Any], scaling: dict[str, Any], torch_ref: str | None
) -> list[C.Bar]:
    """The per-op bars of docs/architecture.md ("Speed and memory"): the 1,000-op chain at most
    0.7x PyTorch's (its faster thread setting) and at most 1.3x the bare engine; the big
    graphs at most 1.1x PyTorch's per op at the same size."""
    short = ratios["chain-short"]

    def vs_torch(case: str) -> float | None:
        r = ratios[case].get(f"minigrad/{torch_ref}")
        return None if r is None else r["median"]

    return [
        C.Bar(
            f"chain {args.short}: minigrad/{torch_ref or 'torch'} total per op",
            vs_torch("chain-short"),
            "<=",
            0.7,
        ),
        C.Bar(
            f"chain {args.short}: minigrad/bare-engine total per op",
            short["minigrad/bare-engine"]["median"],
            "<=",
            1.3,
        ),
        C.Bar(
            f"chain {args.long}: minigrad/{torch_ref or 'torch'} total per op",
            vs_torch("chain-long"),
            "<=",
            1.1,
        ),
        C.Bar(
            f"wide {args.wide_large}: minigrad/{torch_ref or 'torch'} total per op",
            vs_torch("wide-large"),
            "<=",
            1.1,
        ),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = C.make_parser(
        "Per-op forward/backward/teardown overhead of minigrad vs NumPy and PyTorch.", __doc__
    )
    parser.add_argument("--short", type=int, default=1000, help="short chain length (1000)")
    parser.add_argument("--long", type=int, default=100_000, help="long chain length (100000)")
    parser.add_argument("--wide-small", type=int, default=1000, help="branches, small (1000)")
    parser.add_argument("--wide-large", type=int, default=10_000, help="branches, large (10000)")
    args = parser.parse_args(argv)
    if args.quick:
        args.long = min(args.long, 5000)
        args.wide_large = min(args.wide_large, 1000)
        args.wide_small = min(args.wide_small, 100)
    args.blocks = args.blocks or (2 if args.quick else 9)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch = C.import_torch(args.no_torch)
    info = C.env_info(torch)
    print("bench_overhead: per-op cost of tiny ops on shape (8,) float64, us/op")
    C.print_env(info)

    runs: dict[str, Callable[[Case], Any]] = {
        "minigrad": run_minigrad,
        PAUSED: gc_paused(run_minigrad),
        "bare-engine": run_bare,
        "numpy-hand": run_numpy_hand,
        "numpy-floor": run_numpy_floor,
    }
    # Rows run with a thread pool pinned to one thread, as their blocks' context.
    pinned: dict[str, Callable[[], Any]] = {}
    if torch is not None:
        runs["torch"] = make_run_torch(torch)
        if torch.get_num_threads() > 1:
            runs["torch@1"] = runs["torch"]
            pinned["torch@1"] = lambda: C.limit_torch(torch, 1)
    names = list(runs)
    cases = build_cases(args)
    check_grads(cases, {k: v for k, v in runs.items() if k not in pinned})
    others = ", bare-engine" + (" and torch" if torch else "")
    print(f"gradients: minigrad{others} agree with the hand-written reference")
    if torch is not None:
        print(C.threads_note(torch))

    grouped = C.interleave(
        {case.key: case_block(case, runs, pinned) for case in cases},
        args.blocks,
        warmup=0 if args.quick else 1,
    )
    raw = {
        f"{key}|{name}": [b[name] for b in blocks]
        for key, blocks in grouped.items()
        for name in names
    }
    results = report_times(cases, names, raw)
    ratios = report_ratios(cases, names, raw)
    title = f"chain {args.long} vs {args.short}, wide {args.wide_large} vs {args.wide_small}"
    scaling = report_scaling(names, raw, title)
    torch_ref = fastest_torch(raw, names)
    if torch_ref is not None:
        print(f"the torch bar uses {torch_ref} (the faster thread setting on chain-short)\n")
    bars = make_bars(args, ratios, scaling, torch_ref)
    C.print_bars(bars)
    C.write_json(
        args.json,
        {
            "benchmark": "overhead",
            "env": info,
            "config": {
                "quick": args.quick,
                "blocks": args.blocks,
                "shape": list(SHAPE),
                "dtype": "float64",
                "wide_sum": "running sum",
                "reps": {c.key: c.reps for c in cases},
            },
            "results": results,
            "ratios": ratios,
            "scaling": scaling,
            "torch_reference": torch_ref,
            "bars": [b.as_dict() for b in bars],
        },
    )
    return C.finish(bars, args.check)


def _ratio_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return f"{r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]"


if __name__ == "__main__":
    sys.exit(main())
