"""Where the time goes: the references' forms compared, and minigrad's costs taken apart.

Three sections (all by default, or name some), each in interleaved blocks like the benchmarks:

  refs   the forms each reference could take, side by side: the MNIST step by hand (lean32,
         the book's seed32-lean) and in PyTorch (addmm + SGD by hand, or torch.optim.SGD),
         the per-op chain by hand (a tape, or the book's layer objects) and in PyTorch
         (torch.mul or `*`), each torch row at its default threads and at 1 thread; and the
         cost of torch's grad-mode switches and optimizer calls.
  mnist  minigrad's MNIST step (TwoLayerNet 784-50-10 float32, batch 100, loss.backward(),
         optim.SGD) taken apart: a ladder of steps that each drop one layer of minigrad (module
         calls, layer wrappers, the optimizer, the engine) down to lean32, whose per-block
         differences say what each layer costs; the time in the garbage collector; and the
         statements of minigrad's functions timed one function at a time (_linetime.py).
  chain  the 1,000-op chain of bench_overhead (y = y * a on shape (8,) float64) on a ladder
         from minigrad down to plain NumPy (minigrad; its _apply2 without the operator; the
         bare engine; the hand-written tape; the forward alone): forward, backward and
         teardown per op, the collector's share of each, the objects the collector tracks per
         op, and what the building blocks of a recorded op cost on their own.

NumPy's BLAS runs at 1 thread here (--blas-threads; 0 leaves it as it is): the costs taken
apart are Python's, and a second BLAS thread on a busy two-core machine adds milliseconds of
noise to every matrix product. Numbers: us per step or per op, medians over blocks, with
[min-max] over blocks. benchmarks/FINDINGS.md reads them.

    python benchmarks/findings.py [refs] [mnist] [chain] [--data-dir DIR] [--quick] [--json F]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _reference as R  # noqa: E402
import _trainers as T  # noqa: E402
from _linetime import LineTimer, resolve  # noqa: E402
from bench_mnist import Feeder, load_data, make_batches  # noqa: E402

import minigrad as mg  # noqa: E402

SMALL = [784, 50, 10]
LR = 0.1


# ------------------------------------------------------------------------------- helpers


def cell(values: list[float], digits: int = 2) -> str:
    """median [min-max] of a list."""
    return (
        f"{statistics.median(values):.{digits}f} "
        f"[{min(values):.{digits}f}-{max(values):.{digits}f}]"
    )


def per_block(a: list[float], b: list[float], op: str) -> list[float]:
    return [x - y if op == "-" else x / y for x, y in zip(a, b)]


def gc_clock() -> tuple[Callable[[str, dict[str, Any]], None], dict[str, Any]]:
    """A gc callback and the totals it keeps: ns spent in collections, collections per
    generation, objects freed."""
    tot: dict[str, Any] = {"ns": 0, "gens": [0, 0, 0], "collected": 0, "t0": 0}

    def cb(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            tot["t0"] = time.perf_counter_ns()
        else:
            tot["ns"] += time.perf_counter_ns() - tot["t0"]
            tot["gens"][info["generation"]] += 1
            tot["collected"] += info["collected"]

    return cb, tot


def micro(stmt: str, setup: str, glb: dict[str, Any], number: int = 20000) -> float:
    """us per run of stmt: the best of 5 timeit repeats (the least disturbed)."""
    return min(timeit.repeat(stmt, setup, globals=glb, number=number, repeat=5)) / number * 1e6


# ------------------------------------------------------------------------------- refs


class TorchOptim(T.TorchTrainer):
    """The earlier torch reference: `h @ W + b`, F.relu, F.cross_entropy, torch.optim.SGD
    with opt.zero_grad() and opt.step(), as PyTorch's tutorials write it."""

    def __init__(self, torch: Any, weights: T.Weights, lr: float) -> None:
        super().__init__(torch, weights, lr)
        self.opt = torch.optim.SGD(self.params, lr=lr)
        self._relu = torch.nn.functional.relu

    def step(self, x: Any, t: Any) -> None:
        W1, b1, W2, b2 = self.params
        loss = self._cross_entropy(self._relu(x @ W1 + b1) @ W2 + b2, t)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


class _MulLayer:
    """The book's layer object per op (the earlier per-op reference)."""

    def forward(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        self.a = a
        return x * a

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.a


def chain_runs(torch: Any, n: int) -> dict[str, Callable[[], tuple[float, float, float]]]:
    """Per-op chain runners (forward, backward, teardown seconds) of the references' forms."""
    rng = np.random.default_rng(0)
    a = rng.uniform(1 - 1e-5, 1 + 1e-5, 8)
    x0 = rng.uniform(0.5, 1.0, 8)
    ops = [R.MUL] * n

    def tape() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        y, tp = R.chain_forward(x0.copy(), a, ops)
        t1 = time.perf_counter()
        R.chain_backward(tp, ops, np.ones(8))
        t2 = time.perf_counter()
        del y, tp
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    def layers() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        ls = []
        y = x0.copy()
        for _ in range(n):
            layer = _MulLayer()
            y = layer.forward(y, a)
            ls.append(layer)
        t1 = time.perf_counter()
        g = np.ones(8)
        for layer in reversed(ls):
            g = layer.backward(g)
        t2 = time.perf_counter()
        del ls, layer, y
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    def minigrad() -> tuple[float, float, float]:
        x = mg.Variable(x0.copy())
        t0 = time.perf_counter()
        y = x
        for _ in range(n):
            y = y * a
        t1 = time.perf_counter()
        y.backward(np.ones(8))
        t2 = time.perf_counter()
        del y
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    out = {"minigrad": minigrad, "numpy-tape": tape, "numpy-layers": layers}
    if torch is None:
        return out
    ta = torch.from_numpy(a)

    def torch_run(fn: bool) -> Callable[[], tuple[float, float, float]]:
        mul = torch.mul

        def run() -> tuple[float, float, float]:
            x = torch.tensor(x0, requires_grad=True)
            t0 = time.perf_counter()
            y = x
            if fn:
                for _ in range(n):
                    y = mul(y, ta)
            else:
                for _ in range(n):
                    y = y * ta
            t1 = time.perf_counter()
            y.backward(torch.ones(8, dtype=torch.float64))
            t2 = time.perf_counter()
            del y
            return t1 - t0, t2 - t1, time.perf_counter() - t2

        return run

    out["torch.mul"] = torch_run(True)
    out["torch *"] = torch_run(False)
    return out


def section_refs(args: argparse.Namespace, torch: Any, batches: list[Any]) -> dict[str, Any]:
    weights = T.init_weights(SMALL, 0.01, args.seed)
    trainers: dict[str, Any] = {
        "lean32": T.Lean(weights, LR),
        "seed32-lean": T.Reference(weights, LR, np.float32, lean=True),
        "minigrad": T.MinigradIdiomatic(weights, LR),
    }
    if torch is not None:
        trainers["torch"] = T.TorchTrainer(torch, weights, LR)
        trainers["torch-optim"] = TorchOptim(torch, weights, LR)
    feeders = {k: Feeder(tr, batches) for k, tr in trainers.items()}
    cands: dict[str, Any] = {}
    for k, f in feeders.items():
        m = f.block(args.steps)
        if k.startswith("torch"):
            cands[k] = m
            cands[f"{k}@1"] = C.within(lambda: C.limit_torch(torch, 1), m)
        else:
            cands[k] = C.within(lambda: C.limit_blas(args.default_blas), m)
            cands[f"{k}@1"] = C.within(lambda: C.limit_blas(1), m)
    raw = C.interleave(cands, args.blocks, settle=0.1)
    us = {k: [v * 1e3 for v in vs] for k, vs in raw.items()}
    print(
        f"refs: MNIST step 784-50-10, batch 100, us/step ({args.blocks} blocks of {args.steps}); "
        f"NumPy rows at {args.default_blas} BLAS threads, @1 at 1; torch at "
        f"{torch.get_num_threads() if torch else '-'} threads, @1 at 1"
    )
    ref = {k: "lean32@1" if k.endswith("@1") or k.startswith("torch") else "lean32" for k in us}
    C.print_table(
        ["", "us/step", "/ lean32 (same BLAS threads; torch rows / lean32@1)"],
        [[k, cell(v, 1), cell(per_block(v, us[ref[k]], "/"), 3)] for k, v in us.items()],
    )
    out: dict[str, Any] = {"mnist_us": us}

    n = 1000
    runs = chain_runs(torch, n)
    ccands: dict[str, Any] = {}
    for k, run in runs.items():

        def measure(run: Callable[[], tuple[float, float, float]] = run) -> list[float]:
            tot = [0.0, 0.0, 0.0]
            for _ in range(args.reps):
                for i, v in enumerate(run()):
                    tot[i] += v
            return [v / args.reps / n * 1e6 for v in tot]

        ccands[k] = measure
        if k.startswith("torch"):
            ccands[f"{k}@1"] = C.within(lambda: C.limit_torch(torch, 1), measure)
    craw = C.interleave(ccands, args.blocks)
    print(f"refs: chain of {n} muls on (8,) float64, us/op ({args.blocks} blocks of {args.reps})")
    mg_tot = [sum(b) for b in craw["minigrad"]]
    C.print_table(
        ["", "fwd", "bwd", "teardown", "total", "minigrad / this"],
        [
            [
                k,
                *(f"{statistics.median(b[i] for b in v):.3f}" for i in range(3)),
                cell([sum(b) for b in v], 3),
                cell(per_block(mg_tot, [sum(b) for b in v], "/"), 3),
            ]
            for k, v in craw.items()
        ],
    )
    out["chain_us"] = craw
    if torch is not None:
        out["torch_micro"] = torch_micro(torch)
    return out


def torch_micro(torch: Any) -> dict[str, Any]:
    """What torch's grad-mode switches and optimizer calls cost, us (best of 5 repeats), at
    torch's default threads and at 1; the statements that drop the gradients get them back,
    and that is subtracted."""
    ps = [torch.zeros(784, 50, requires_grad=True), torch.zeros(50, requires_grad=True)]
    gs = [torch.zeros_like(p) for p in ps]
    opt = torch.optim.SGD(ps, lr=0.1)
    glb = {"torch": torch, "ps": ps, "gs": gs, "opt": opt}
    back = "ps[0].grad = gs[0]; ps[1].grad = gs[1]"
    exec(back, glb)
    stmts = {
        "with torch.no_grad(): pass": "with torch.no_grad(): pass",
        "torch.set_grad_enabled(False); ...(True)": (
            "torch.set_grad_enabled(False); torch.set_grad_enabled(True)"
        ),
        "opt.step() (W1, b1)": "opt.step()",
        "with no_grad: p.sub_(p.grad, alpha=lr) (W1, b1)": (
            "with torch.no_grad():\n for p in ps: p.sub_(p.grad, alpha=0.1)"
        ),
        "opt.zero_grad() (W1, b1)": f"opt.zero_grad(); {back}",
        "p.grad = None (W1, b1)": f"for p in ps: p.grad = None\n{back}",
    }
    out: dict[str, Any] = {}
    for threads in (torch.get_num_threads(), 1):
        with C.limit_torch(torch, threads):
            base = micro(back, "", glb, 5000)
            out[f"{threads} threads"] = {
                k: micro(stmt, "", glb, 2000) - (base if back in stmt else 0.0)
                for k, stmt in stmts.items()
            }
    print("refs: torch calls, us (best of 5 repeats)")
    cols = list(out)
    C.print_table(["", *cols], [[k, *(f"{out[c][k]:.2f}" for c in cols)] for k in stmts])
    return out


# ------------------------------------------------------------------------------- mnist


class Rung:
    """One rung of the ladder: a step function and the current weights (W1, b1, W2, b2)."""

    dtype = np.float32

    def __init__(self, step: Callable[[Any, Any], None], weights: Callable[[], list[Any]]):
        self.step = step
        self.weights = weights


def ladder(weights: T.Weights) -> dict[str, Rung]:
    """minigrad's step with one layer of the library dropped at each rung, down to lean32.
    Every rung trains the same net the same way (`check_ladder`)."""
    from minigrad import functions as F
    from minigrad.nn import TwoLayerNet
    from minigrad.optim import SGD

    def net_opt() -> tuple[Any, Any, list[Any]]:
        (W1, _), (W2, _) = weights
        net = TwoLayerNet(W1.shape[0], W1.shape[1], W2.shape[1], dtype=np.float32)
        params = T._load_minigrad(net, weights)
        return net, SGD(params, lr=LR), params

    def data(params: list[Any]) -> Callable[[], list[Any]]:
        return lambda: [p.data for p in params]

    out: dict[str, Rung] = {}
    idiomatic = T.MinigradIdiomatic(weights, LR)
    out["1 idiomatic"] = Rung(idiomatic.step, idiomatic.weights)

    net, opt2, params2 = net_opt()
    a1, r1, a2 = net.layers["Affine1"], net.layers["Relu1"], net.layers["Affine2"]
    last = net.lastLayer

    def forwards(x: np.ndarray, t: np.ndarray) -> None:
        loss = last.forward(a2.forward(r1.forward(a1.forward(x))), t)
        opt2.zero_grad()
        loss.backward()
        opt2.step()

    out["2 layers' forward (no Module calls)"] = Rung(forwards, data(params2))
    _, opt3, params3 = net_opt()
    W1, b1, W2, b2 = params3

    def functional(x: np.ndarray, t: np.ndarray) -> None:
        loss = F.softmax_cross_entropy(F.linear(F.relu(F.linear(x, W1, b1)), W2, b2), t)
        opt3.zero_grad()
        loss.backward()
        opt3.step()

    out["3 functional (F.linear, F.relu, ...)"] = Rung(functional, data(params3))
    _, _, params4 = net_opt()
    V1, c1, V2, c2 = params4

    def by_hand(x: np.ndarray, t: np.ndarray) -> None:
        loss = F.softmax_cross_entropy(F.linear(F.relu(F.linear(x, V1, c1)), V2, c2), t)
        loss.backward()
        for p in params4:
            d = p.data
            d -= LR * p.grad.data
            p.grad = None

    out["4 functional, SGD by hand"] = Rung(by_hand, data(params4))
    kernels = engine_free(weights)
    if kernels is not None:
        out["5 minigrad's kernels (no engine)"] = kernels
    lean = T.Lean(weights, LR)
    out["6 lean32"] = Rung(lean.step, lean.weights)
    return out


def engine_free(weights: T.Weights) -> Rung | None:
    """minigrad's own ops (Linear, ReLU, SoftmaxCrossEntropy), their forward and backward
    called directly on ndarrays: the NumPy work minigrad does, without the engine. None if
    minigrad's internals no longer look like this."""
    try:
        from minigrad.functions.activations import ReLU
        from minigrad.functions.linalg import Linear
        from minigrad.functions.losses import SoftmaxCrossEntropy
    except ImportError:
        return None
    ps = [np.array(a, np.float32) for pair in weights for a in pair]
    one = np.ones((), np.float32)

    def step(x: np.ndarray, t: np.ndarray) -> None:
        W1, b1, W2, b2 = ps
        f1, f2, f3, f4 = Linear(), ReLU(), Linear(), SoftmaxCrossEntropy()
        h = f1.forward(x, W1, b1)
        r = f2.forward(h)
        z = f3.forward(r, W2, b2)
        f4.forward(z, t)
        f4.saved_inputs, f4.needs_input_grad = (z, t), (True, False)
        gz, _ = f4.backward(one)
        f3.saved_inputs, f3.needs_input_grad = (r, W2, b2), (True, True, True)
        gr, gW2, gb2 = f3.backward(gz)
        gh = f2.backward(gr)
        f1.saved_inputs, f1.needs_input_grad = (x, W1, b1), (False, True, True)
        _, gW1, gb1 = f1.backward(gh)
        for p, g in zip(ps, (gW1, gb1, gW2, gb2)):
            p -= LR * g

    try:
        rung = Rung(step, lambda: ps)
        step(np.zeros((2, ps[0].shape[0]), np.float32), np.zeros(2, np.int64))
    except Exception as e:  # minigrad's internals changed: leave the rung out, and say so
        print(f"  (rung 5 left out: {type(e).__name__}: {e})")
        return None
    ps[:] = [np.array(a, np.float32) for pair in weights for a in pair]
    return rung


def check_ladder(weights: T.Weights, batches: list[Any]) -> None:
    """Every rung must train like lean32, or the ladder compares different work."""
    rungs = ladder(weights)
    for rung in rungs.values():
        for x, t in batches[:10]:
            rung.step(x.astype(np.float32), t)
    ref = rungs["6 lean32"].weights()
    for k, rung in rungs.items():
        for w, r in zip(rung.weights(), ref):
            if not np.allclose(w, r, rtol=1e-4, atol=1e-6):
                raise AssertionError(f"findings: the rung {k!r} does not train like lean32")


MNIST_TARGETS = [
    "_trainers.MinigradIdiomatic.step",
    "minigrad.nn.models._Classifier.loss",
    "minigrad.nn.models.TwoLayerNet.predict",
    "minigrad.nn.module.Module.__call__",
    "minigrad.nn.layers.Affine.forward",
    "minigrad.functions.linalg.linear",
    "minigrad.core._apply3",
    "minigrad.core._finish",
    "minigrad.core._recorded",
    "minigrad.core.Function._link",
    "minigrad.functions.linalg.Linear.forward",
    "minigrad.functions.activations.relu",
    "minigrad.core._apply1",
    "minigrad.functions.activations.ReLU.forward",
    "minigrad.nn.losses.SoftmaxWithLoss.forward",
    "minigrad.functions.losses.softmax_cross_entropy",
    "minigrad.core._apply2",
    "minigrad.functions.losses.SoftmaxCrossEntropy.forward",
    "minigrad.optim.Optimizer.zero_grad",
    "minigrad.core.Variable.backward",
    "minigrad._engine._run_backward",
    "minigrad._engine._sort_functions",
    "minigrad._engine._backward_plain",
    "minigrad.functions.linalg.Linear.backward",
    "minigrad.functions.activations.ReLU.backward",
    "minigrad.functions.losses.SoftmaxCrossEntropy.backward",
    "minigrad.optim.SGD.step",
]


def line_times(
    targets: list[str], run: Callable[[int], None], per: int, repeats: int
) -> dict[str, Any]:
    """Each target timed alone, `repeats` times in turn: its statements' us per `per` runs of
    `run(per)`, as median and [min-max] over the repeats."""
    timer = LineTimer()
    overhead = timer.calibrate()
    found: dict[str, Any] = {}
    for path in targets:
        try:
            found[path] = resolve(path)
        except (ImportError, AttributeError):
            print(f"  (skipped {path}: not found in this minigrad)")
    runs: dict[str, list[list[dict[str, Any]]]] = {p: [] for p in found}
    for _ in range(repeats):
        for path, fn in found.items():
            t = LineTimer()
            t.overhead_ns = overhead
            t.patch(fn, where=("minigrad", "_trainers", "_reference"), label=path)
            try:
                run(max(1, per // 10))  # warm the copy
                t.reset()
                gc.collect()
                run(per)
            finally:
                t.restore()
            runs[path].append(t.rows(per))
    out: dict[str, Any] = {"clock_overhead_ns": overhead, "functions": {}}
    for path, reps in runs.items():
        rows = []
        for i, r in enumerate(reps[0]):
            us = [rep[i]["us"] for rep in reps if i < len(rep)]
            rows.append({**r, "us": statistics.median(us), "us_min": min(us), "us_max": max(us)})
        out["functions"][path] = rows
    return out


def print_line_times(lt: dict[str, Any], unit: str, total: float) -> None:
    print(
        f"statements, us per {unit} (clock cost {lt['clock_overhead_ns']:.0f} ns per statement "
        f"run subtracted), % of the {unit} ({total:.2f} us):"
    )
    for path, rows in lt["functions"].items():
        if not rows:
            print(f"  {path}: did not run")
            continue
        tot = sum(r["us"] for r in rows)
        print(f"  {path}: {tot:.2f} us/{unit} ({100 * tot / total:.1f}%)")
        for r in rows:
            print(
                f"    {r['us']:7.2f} [{r['us_min']:.2f}-{r['us_max']:.2f}] {r['runs']:5.1f}x "
                f"{100 * r['us'] / total:5.1f}%  {r['line']:4d}  {r['source'][:80]}"
            )
    print()


def run_ladder(
    args: argparse.Namespace, weights: T.Weights, batches: list[Any], steps: int, title: str
) -> dict[str, list[float]]:
    """Time the ladder's rungs (checked first) in interleaved blocks; print and return us/step.
    NumPy at one BLAS thread only: no thread pool to let settle, so the rungs of a block run
    back to back and see the same noise."""
    check_ladder(weights, batches)
    feeders = {k: Feeder(rung, batches) for k, rung in ladder(weights).items()}
    raw = C.interleave({k: f.block(steps) for k, f in feeders.items()}, args.blocks)
    us = {k: [v * 1e3 for v in vs] for k, vs in raw.items()}
    names = list(us)
    lean = us[names[-1]]
    print(f"mnist: {title}, us/step ({args.blocks} blocks of {steps} steps)")
    rows = []
    for i, k in enumerate(names):
        nxt = us[names[i + 1]] if i + 1 < len(names) else None
        rows.append(
            [
                k,
                cell(us[k], 1),
                cell(per_block(us[k], lean, "-"), 1),
                "-" if nxt is None else cell(per_block(us[k], nxt, "-"), 1),
            ]
        )
    C.print_table(["rung", "us/step", "minus lean32", "minus the next rung"], rows)
    return us


def section_mnist(args: argparse.Namespace, batches: list[Any]) -> dict[str, Any]:
    weights = T.init_weights(SMALL, 0.01, args.seed)
    us = run_ladder(args, weights, batches, args.ladder_steps, "the ladder, 784-50-10, batch 100")
    # The same steps on a 4-3-2 net, batch 2: the arithmetic costs next to nothing, so what is
    # left is each rung's fixed cost per step, with far less noise than the real step has.
    rng = np.random.default_rng(args.seed)
    tiny = [(rng.random((2, 4), dtype=np.float32), rng.integers(0, 2, 2)) for _ in range(10)]
    tiny_us = run_ladder(
        args, T.init_weights([4, 3, 2], 0.5, args.seed), tiny, args.tiny_steps,
        "the same ladder on a 4-3-2 net, batch 2 (the fixed cost per step)",
    )  # fmt: skip
    out: dict[str, Any] = {"ladder_us": us, "tiny_ladder_us": tiny_us}
    names = list(us)
    lean = us[names[-1]]
    feeders = {k: Feeder(rung, batches) for k, rung in ladder(weights).items()}

    # the collector's share
    gcs = {}
    for k in (names[0], names[-1]):
        cb, tot = gc_clock()
        f = feeders[k]
        gc.collect()
        gc.callbacks.append(cb)
        t0 = time.perf_counter()
        f.run(args.gc_steps)
        dt = time.perf_counter() - t0
        gc.callbacks.remove(cb)
        gcs[k] = {
            "us_per_step": dt / args.gc_steps * 1e6,
            "gc_us_per_step": tot["ns"] / args.gc_steps / 1e3,
            "collections_per_1000_steps": [g * 1000 / args.gc_steps for g in tot["gens"]],
        }
    print(f"mnist: the garbage collector over {args.gc_steps} steps")
    C.print_table(
        ["", "us/step", "in gc, us/step", "collections gen0/1/2 per 1000 steps"],
        [
            [
                k,
                f"{v['us_per_step']:.1f}",
                f"{v['gc_us_per_step']:.2f}",
                "/".join(f"{g:.1f}" for g in v["collections_per_1000_steps"]),
            ]
            for k, v in gcs.items()
        ],
    )
    out["gc"] = gcs

    # Line timing steps through the objects each time, so that the patched methods are seen.
    xs = [(x.astype(np.float32), t) for x, t in batches]
    tr = T.MinigradIdiomatic(weights, LR)
    lean_net = R.LeanNet(weights, LR)

    def mg_run(k: int) -> None:
        for i in range(k):
            tr.step(*xs[i % len(xs)])

    def lean_run(k: int) -> None:
        for i in range(k):
            lean_net.step(*xs[i % len(xs)])

    lt = line_times(MNIST_TARGETS, mg_run, args.line_steps, args.repeats)
    print_line_times(lt, "step", statistics.median(us[names[0]]))
    lt_lean = line_times(["_reference.LeanNet.step"], lean_run, args.line_steps, args.repeats)
    print_line_times(lt_lean, "step", statistics.median(lean))
    out["lines"] = lt
    out["lines_lean32"] = lt_lean
    return out


# ------------------------------------------------------------------------------- chain


def chain_rungs(a: np.ndarray) -> dict[str, tuple[Any, Any, Any]]:
    """The chain's rungs: (make the leaf, one op, backward(y, seed)) per form, from minigrad
    down to plain NumPy; None for a part the form does not have."""
    import _bare_engine as B

    out: dict[str, tuple[Any, Any, Any]] = {
        "minigrad y * a": (mg.Variable, lambda y: y * a, lambda y, g: y.backward(g)),
    }
    try:
        from minigrad.core import _apply2
        from minigrad.functions.arithmetic import Mul

        out["minigrad _apply2(Mul(), y, a)"] = (
            mg.Variable,
            lambda y: _apply2(Mul(), y, a),
            lambda y, g: y.backward(g),
        )
    except ImportError:
        pass
    out["bare-engine"] = (B.Var, lambda y: y * a, B.backward)
    return out


def chain_once(
    n: int, x0: np.ndarray, rung: tuple[Any, Any, Any], clock: dict[str, Any]
) -> list[float]:
    """One chain of n ops: seconds of forward, backward, teardown, and of the collector's
    work inside each (read from `clock`, a gc_clock total)."""
    leaf, op, backward = rung
    x = leaf(x0.copy())
    ones = np.ones(8)
    g0 = clock["ns"]
    t0 = time.perf_counter()
    y = x
    for _ in range(n):
        y = op(y)
    t1 = time.perf_counter()
    g1 = clock["ns"]
    backward(y, ones)
    t2 = time.perf_counter()
    g2 = clock["ns"]
    del y
    t3 = time.perf_counter()
    g3 = clock["ns"]
    return [t1 - t0, t2 - t1, t3 - t2, (g1 - g0) / 1e9, (g2 - g1) / 1e9, (g3 - g2) / 1e9]


def tape_once(n: int, x0: np.ndarray, a: np.ndarray, floor: bool) -> list[float]:
    """The hand-written tape (or, with `floor`, the forward alone), timed like chain_once."""
    ops = [R.MUL] * n
    t0 = time.perf_counter()
    if floor:
        y = x0
        for _ in range(n):
            y = y * a
        t1 = t2 = time.perf_counter()
        return [t1 - t0, 0.0, 0.0, 0.0, 0.0, 0.0]
    y, tape = R.chain_forward(x0.copy(), a, ops)
    t1 = time.perf_counter()
    R.chain_backward(tape, ops, np.ones(8))
    t2 = time.perf_counter()
    del y, tape
    return [t1 - t0, t2 - t1, time.perf_counter() - t2, 0.0, 0.0, 0.0]


def tracked_per_op(n: int, a: np.ndarray, x0: np.ndarray) -> dict[str, float]:
    """Objects the cyclic collector tracks, per op: while the graph is alive, after backward
    (saved arrays released), after the output is dropped."""
    gc.collect()
    gc.disable()
    try:
        base = len(gc.get_objects())
        x = mg.Variable(x0.copy())
        y = x
        for _ in range(n):
            y = y * a
        alive = len(gc.get_objects())
        y.backward(np.ones(8))
        after_bwd = len(gc.get_objects())
        del y
        after_del = len(gc.get_objects())
    finally:
        gc.enable()
    return {
        "graph alive": (alive - base) / n,
        "after backward": (after_bwd - base) / n,
        "after del": (after_del - base) / n,
    }


def building_blocks() -> dict[str, float | None]:
    """What the pieces of one recorded op cost alone (us, best of 5 repeats). A piece whose
    names minigrad no longer has is None."""
    import weakref

    from minigrad import core

    glb = {**vars(core), "np": np, "weakref": weakref}
    setup = (
        "from minigrad.functions.arithmetic import Mul\n"
        "a = np.ones(8); x = Variable(np.ones(8)); v = Variable(np.ones(8)); f = Mul()\n"
        "d = {}\n"
        "def call2(p, q): return p\n"
    )
    pieces = {
        "NumPy x * a on (8,) float64": "x.data * a",
        "a Python call with 2 arguments": "call2(x, a)",
        "Mul() (a Function object)": "Mul()",
        "object.__new__(Variable) + 7 attribute sets": (
            "w = _new_variable(Variable); w.data = a; w.grad = None; w.name = None; "
            "w._meta = None; w.requires_grad = True; w.creator = f; w._version = 0"
        ),
        "weakref.ref(v)": "weakref.ref(v)",
        "7 attribute sets on a Function": (
            "f.inputs = (x, a); f.needs_input_grad = (True, False); f.saved_inputs = (a, a); "
            "f.saved_outputs = (a,); f.generation = 1; f.scope = None; f._versions = None"
        ),
        "isinstance(x, Variable)": "isinstance(x, Variable)",
        "_state.grad_enabled (a read)": "_state.grad_enabled",
        "dict set + pop (gradient buffer)": "d[v] = a; d.pop(v, None)",
        "weakref call (ref())": "r()",
    }
    out: dict[str, float | None] = {}
    for k, stmt in pieces.items():
        try:
            st = setup + ("r = weakref.ref(v)\n" if "r()" in stmt else "")
            out[k] = micro(stmt, st, glb, 100000)
        except Exception:  # a name minigrad no longer has
            out[k] = None
    return out


def section_chain(args: argparse.Namespace) -> dict[str, Any]:
    n = 1000
    rng = np.random.default_rng(0)
    a = rng.uniform(1 - 1e-5, 1 + 1e-5, 8)
    x0 = rng.uniform(0.5, 1.0, 8)
    cb, clock = gc_clock()
    gc.callbacks.append(cb)

    def measure(once: Callable[[], list[float]], paused: bool = False) -> Callable[[], Any]:
        def run() -> list[float]:
            if paused:
                gc.disable()
            try:
                tot = [0.0] * 6
                for _ in range(args.reps):
                    for i, v in enumerate(once()):
                        tot[i] += v
            finally:
                gc.enable()
            return [v / args.reps / n * 1e6 for v in tot]

        return run

    rungs = chain_rungs(a)
    cands: dict[str, Any] = {}
    for k, rung in rungs.items():
        cands[k] = measure(lambda rung=rung: chain_once(n, x0, rung, clock))
    cands["numpy-tape"] = measure(lambda: tape_once(n, x0, a, False))
    cands["numpy-floor"] = measure(lambda: tape_once(n, x0, a, True))
    # Not a rung: minigrad again with the collector off; its "next" is minus minigrad's.
    paused_key = "(minigrad y * a, gc paused)"
    cands[paused_key] = measure(
        lambda rung=rungs["minigrad y * a"]: chain_once(n, x0, rung, clock), paused=True
    )
    try:
        raw = C.interleave(cands, args.blocks)
    finally:
        gc.callbacks.remove(cb)
    print(
        f"chain: {n} muls on (8,) float64, us/op ({args.blocks} blocks of {args.reps} chains); "
        "next: the total minus the next row's, per block"
    )
    names = list(raw)
    rows = []
    for i, k in enumerate(names):
        v = raw[k]
        tot = [sum(b[:3]) for b in v]
        other = (
            "minigrad y * a" if k == paused_key else names[i + 1] if i + 2 < len(names) else None
        )
        nxt = None if other is None else [sum(b[:3]) for b in raw[other]]
        rows.append(
            [
                k,
                *(f"{statistics.median(b[j] for b in v):.3f}" for j in range(3)),
                cell(tot, 3),
                "-" if nxt is None else cell(per_block(tot, nxt, "-"), 3),
                *(f"{statistics.median(b[j] for b in v):.3f}" for j in range(3, 6)),
            ]
        )
    C.print_table(
        ["", "fwd", "bwd", "teardown", "total", "next", "in gc: fwd", "bwd", "teardown"], rows
    )
    tracked = tracked_per_op(n, a, x0)
    print("chain: objects tracked by the cyclic collector, per op")
    C.print_table(["", "per op"], [[k, f"{v:.2f}"] for k, v in tracked.items()])
    blocks = building_blocks()
    print("chain: the building blocks of a recorded op, us each (best of 5 repeats)")
    C.print_table(["", "us"], [[k, "n/a" if v is None else f"{v:.3f}"] for k, v in blocks.items()])

    # No statement timing here: a clock read costs 0.1-0.3 us on this machine, as much as
    # most statements of a recorded op; the ladder and the building blocks say more.
    return {"phases_us": raw, "tracked_per_op": tracked, "building_blocks_us": blocks}


# ------------------------------------------------------------------------------- main

SECTIONS = ("refs", "mnist", "chain")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = C.make_parser(
        "Where minigrad's time goes: references compared, costs taken apart.", __doc__
    )
    p.add_argument("sections", nargs="*", help="refs, mnist, chain (default: all three)")
    p.add_argument("--data-dir", help="folder with MNIST (else $MINIGRAD_DATA or the cache)")
    p.add_argument("--random-data", action="store_true", help="use random data, not MNIST")
    p.add_argument("--seed", type=int, default=0, help="weights and batches seed")
    p.add_argument("--steps", type=int, default=100, help="MNIST steps per block (100)")
    p.add_argument("--ladder-steps", type=int, default=30, help="ladder steps per block (30)")
    p.add_argument("--tiny-steps", type=int, default=300, help="tiny-net steps per block (300)")
    p.add_argument("--reps", type=int, default=10, help="chains per block (10)")
    p.add_argument("--repeats", type=int, default=5, help="line-timing repeats (5)")
    p.add_argument("--line-steps", type=int, default=200, help="MNIST steps per line timing")
    p.add_argument("--gc-steps", type=int, default=2000, help="MNIST steps for the gc share")
    p.add_argument(
        "--blas-threads", type=int, default=1, help="NumPy's BLAS threads (1; 0: as it is)"
    )
    args = p.parse_args(argv)
    bad = set(args.sections) - set(SECTIONS)
    if bad:
        p.error(f"unknown sections {sorted(bad)}; choose from {list(SECTIONS)}")
    args.sections = args.sections or list(SECTIONS)
    if args.quick:
        args.steps, args.ladder_steps, args.reps, args.repeats = 5, 5, 2, 1
        args.tiny_steps = 5
        args.line_steps, args.gc_steps = 5, 20
    args.blocks = args.blocks or (2 if args.quick else 21)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch = C.import_torch(args.no_torch)
    info = C.env_info(torch)
    print("findings: where the time goes")
    C.print_env(info)
    out: dict[str, Any] = {"benchmark": "findings", "env": info, "sections": args.sections}
    args.default_blas = C.blas_threads() or 1
    with C.limit_blas(args.blas_threads) if args.blas_threads else _nothing():
        print(f"NumPy BLAS threads for this run: {C.blas_threads()}\n")
        batches: list[Any] = []
        if "refs" in args.sections or "mnist" in args.sections:
            source, data = load_data(args)
            batches = make_batches(data[0], data[1], 50, 100, args.seed)
            out["data"] = source
        if "refs" in args.sections:
            out["refs"] = section_refs(args, torch, batches)
        if "mnist" in args.sections:
            out["mnist"] = section_mnist(args, batches)
        if "chain" in args.sections:
            out["chain"] = section_chain(args)
    C.write_json(args.json, out)
    return 0


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


if __name__ == "__main__":
    sys.exit(main())
