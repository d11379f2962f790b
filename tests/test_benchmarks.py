"""The benchmark scripts run: `--help` works, and a `--quick` run writes the JSON report.

No timing is asserted (the machine's noise would make that flaky); the structure of each
report, its bars and the sizes it measured are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["bench_overhead.py", "bench_mnist.py", "bench_memory.py", "findings.py"]


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def quick_report(script: str, tmp_path: Path, *extra: str) -> tuple[str, dict]:
    out = tmp_path / "report.json"
    # --no-torch: the reports' structure is the same with or without it, and CI has no torch.
    proc = run(script, "--quick", "--no-torch", "--json", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out.read_text())


def check_common(report: dict, name: str, bar_names: list[str]) -> None:
    assert report["benchmark"] == name
    env = report["env"]
    assert env["numpy"]
    assert isinstance(env["threadpools"], list)
    assert "torch" not in env
    assert [b["name"].split(":")[0] for b in report["bars"]] == bar_names
    for b in report["bars"]:
        assert set(b) == {"name", "value", "op", "threshold", "pass"}
        assert b["op"] in ("<=", ">=")


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script: str) -> None:
    proc = run(script, "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--json", "--check", "--blocks", "--no-torch"):
        assert option in proc.stdout
    assert proc.stdout.startswith("usage: " + script)


FRAMEWORKS = ("minigrad", "minigrad-gc-paused", "bare-engine", "numpy-hand", "numpy-floor")


@pytest.mark.slow
def test_overhead_quick(tmp_path: Path) -> None:
    stdout, rep = quick_report("bench_overhead.py", tmp_path)
    assert "us/op" in stdout and "bars (docs/architecture.md, Speed and memory):" in stdout
    check_common(
        rep,
        "overhead",
        [
            "chain 1000",
            "chain 1000",
            "chain 5000",
            "wide 1000",
        ],
    )
    sizes = {k: (v["kind"], v["size"], v["n_ops"]) for k, v in rep["results"].items()}
    assert sizes == {
        "chain-short": ("chain", 1000, 1000),
        "chain-long": ("chain", 5000, 5000),
        "mixed-short": ("mixed", 1000, 1000),
        "wide-small": ("wide", 100, 199),
        "wide-large": ("wide", 1000, 1999),
    }
    blocks = rep["config"]["blocks"]
    for case in rep["results"].values():
        for fw in FRAMEWORKS:
            r = case[fw]
            assert set(r) == {"fwd_us", "bwd_us", "teardown_us", "total_us", "total_us_blocks"}
            assert len(r["total_us_blocks"]) == blocks
        assert case["numpy-floor"]["bwd_us"] == 0.0
    assert set(rep["ratios"]["chain-short"]) == {
        "minigrad/bare-engine",
        "minigrad/numpy-hand",
        "minigrad/numpy-floor",
    }
    assert set(rep["scaling"]) == {"chain long/short", "wide large/small"}
    for per_framework in rep["scaling"].values():
        assert set(per_framework) == set(FRAMEWORKS)
    # Run with --no-torch: the torch bars are reported unmeasured, the bare-engine one measured.
    torch_bars = [rep["bars"][i] for i in (0, 2, 3)]
    assert all(b["value"] is None and b["pass"] is None for b in torch_bars)
    assert rep["bars"][1]["value"] == rep["ratios"]["chain-short"]["minigrad/bare-engine"]["median"]


@pytest.mark.slow
def test_mnist_quick(tmp_path: Path) -> None:
    stdout, rep = quick_report("bench_mnist.py", tmp_path, "--random-data")
    assert "data: random" in stdout
    check_common(
        rep,
        "mnist",
        [
            "minigrad/lean32 ms/step",
            "seed32/minigrad ms/step",
            "seed64/minigrad ms/step",
            "exactness",
        ],
    )
    # The bars of docs/architecture.md: 1.3x lean32, never slower than the book's float32
    # layers, 1.5x faster than its float64 code.
    assert [(b["op"], b["threshold"]) for b in rep["bars"][:3]] == [
        ("<=", 1.3),
        (">=", 1.0),
        (">=", 1.5),
    ]
    assert rep["data"] == "random"
    names = [
        "minigrad",
        "minigrad-book",
        "seed64",
        "seed64-lean",
        "seed32",
        "seed32-lean",
        "lean32",
    ]
    # With more than one BLAS thread, the bars' trainers also run pinned to one ("@1").
    blas = [p["num_threads"] for p in rep["env"]["threadpools"] if p["user_api"] == "blas"]
    pinned = ["minigrad@1", "seed64@1", "seed32@1", "lean32@1"] if blas and max(blas) > 1 else []
    assert list(rep["step_ms"]) == names + pinned
    for v in rep["step_ms"].values():
        assert len(v["blocks"]) == rep["config"]["blocks"]
    assert set(rep["ratios"]) == {
        "minigrad/lean32",
        "minigrad/seed32-lean",
        "seed32-lean/lean32",
        "minigrad-book/minigrad",
        "seed32/minigrad",
        "seed64/minigrad",
        "seed64-lean/minigrad",
    } | ({"minigrad@1/lean32@1", "seed64@1/minigrad@1", "seed32@1/minigrad@1"} if pinned else set())
    assert {rep["chosen"][k] for k in ("bar", "seed64", "seed32")} <= set(rep["ratios"])
    assert rep["exactness"]["steps"] == 20
    assert set(rep["exactness"]) == {"steps", *names} - {"lean32"}
    assert max(v for k, v in rep["exactness"].items() if k != "steps") <= 1e-5
    assert rep["big_net"]["sizes"] == [784, 1000, 1000, 10]
    big_pinned = ["minigrad@1", "lean32@1"] if pinned else []
    assert list(rep["big_net"]["step_ms"]) == ["minigrad", "lean32"] + big_pinned
    assert rep["time_to_97"] is None


@pytest.mark.slow
def test_memory_quick(tmp_path: Path) -> None:
    stdout, rep = quick_report("bench_memory.py", tmp_path)
    assert "peak RSS" in stdout
    check_common(rep, "memory", ["RSS growth step 50 -> 500 (MiB)", "peak RSS minigrad/reference"])
    assert rep["config"]["steps"] == 500
    assert set(rep["peak"]["median"]) == {"minigrad", "reference"}
    for kind, runs in rep["peak"]["runs"].items():
        assert [r["kind"] for r in runs] == [kind] * rep["config"]["repeats"]
        assert all(r["steps"] == 5 and r["maxrss"] > 0 for r in runs)
    growth = rep["growth"]
    assert [s for s, _ in growth["samples"]] == list(range(5, 501, 5))
    assert growth["early_step"] == 50


def test_bare_engine_gradients() -> None:
    """The bare engine that bench_overhead times as the floor computes the true gradients."""
    B = _bench_module("_bare_engine")
    rng = np.random.default_rng(0)
    x0, a, b = rng.uniform(0.5, 1.5, (3, 4))
    x = B.Var(x0.copy())
    u = B.tanh(x * a)
    y = u + x * b + a  # a diamond on x, and a constant added
    B.backward(y, np.ones(4))
    t = np.tanh(x0 * a)
    np.testing.assert_allclose(x.grad, (1 - t * t) * a + b, rtol=1e-12)


def _bench_module(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("sizes", [[12, 7, 4], [12, 9, 7, 4], [12, 4]])
def test_lean_net_computes_the_books_step(sizes: list[int]) -> None:
    """LeanNet, the reference of the MNIST bar, computes the same loss, gradients and updated
    weights as the book's layers (BookNet, lean) and as minigrad, to float32 rounding."""
    R = _bench_module("_reference")
    T = _bench_module("_trainers")
    rng = np.random.default_rng(0)
    weights = T.init_weights(sizes, 0.5, 0)
    x = rng.random((6, sizes[0]), dtype=np.float32)
    t = rng.integers(0, sizes[-1], 6)
    book = R.BookNet(weights, np.float32, lean=True)
    loss = book.loss(x, t)
    grads = book.gradient(x, t)
    lean = R.LeanNet(weights, lr=0.1)
    lean.step(x, t)
    assert lean.loss.dtype == np.float32
    np.testing.assert_allclose(lean.loss, loss, rtol=1e-5)
    for g, key in zip(lean.grads, [f"{k}{i}" for i in range(1, len(sizes)) for k in "Wb"]):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, grads[key], rtol=1e-4, atol=1e-6)
    for p, (key, w) in zip(lean.params, book.params.items()):
        np.testing.assert_allclose(p, w - 0.1 * grads[key], rtol=1e-5, atol=1e-7)
    mg = T.MinigradIdiomatic(weights, 0.1)
    mg.step(x, t)
    for _ in range(3):
        mg.step(x, t)
        lean.step(x, t)
    for a, b in zip(mg.weights(), lean.params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lean_net_batch_sizes() -> None:
    """Buffers are made per batch size: a smaller last batch works and gives the book's step."""
    R = _bench_module("_reference")
    T = _bench_module("_trainers")
    rng = np.random.default_rng(1)
    weights = T.init_weights([10, 5, 3], 0.5, 1)
    lean = R.LeanNet(weights, lr=0.1)
    book = R.BookNet(weights, np.float32, lean=True)
    for n in (8, 3, 8):
        x = rng.random((n, 10), dtype=np.float32)
        t = rng.integers(0, 3, n)
        lean.step(x, t)
        book.sgd_step(x, t, 0.1)
    for p, w in zip(lean.params, book.params.values()):
        np.testing.assert_allclose(p, w, rtol=1e-5, atol=1e-7)


def test_torch_trainer_matches_lean_net() -> None:
    """The PyTorch reference (addmm, SGD by hand) trains to the same weights as LeanNet."""
    torch = pytest.importorskip("torch")
    T = _bench_module("_trainers")
    rng = np.random.default_rng(2)
    weights = T.init_weights([12, 7, 4], 0.5, 2)
    tr = T.TorchTrainer(torch, weights, 0.1)
    lean = T.Lean(weights, 0.1)
    for _ in range(5):
        x = rng.random((6, 12), dtype=np.float32)
        t = rng.integers(0, 4, 6)
        tr.step(*tr.torch_batch(x, t))
        lean.step(x, t)
    for a, b in zip(tr.weights(), lean.weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_hand_written_per_op_reference() -> None:
    """bench_overhead's hand-written reference (a tape) gives the true gradients of its chains
    and wide graphs, the ones minigrad is checked against before every timing."""
    R = _bench_module("_reference")
    rng = np.random.default_rng(3)
    x, a = rng.uniform(0.5, 1.5, (2, 4))
    ones = np.ones(4)
    ops = [R.MUL, R.ADD, R.TANH, R.MUL, R.TANH]
    y, tape = R.chain_forward(x, a, ops)
    u = np.tanh(x * a + a)
    v = np.tanh(u * a)
    np.testing.assert_allclose(y, v, rtol=1e-12)
    np.testing.assert_allclose(
        R.chain_backward(tape, ops, ones), (1 - v * v) * a * (1 - u * u) * a, rtol=1e-12
    )
    consts = list(rng.uniform(0.5, 1.5, (5, 4)))
    s, tape = R.wide_forward(x, consts)
    np.testing.assert_allclose(s, sum(x * c for c in consts), rtol=1e-12)
    np.testing.assert_allclose(R.wide_backward(tape, ones), sum(consts), rtol=1e-12)


def test_line_timer_counts_statements_and_restores() -> None:
    """_linetime's timed copy computes what the original does, counts every statement run
    (in loops and branches too) and is replaced by the original on restore()."""
    L = _bench_module("_linetime")
    import minigrad.functions._util as U

    timer = L.LineTimer()
    original = U.sum_to_array
    assert timer.patch(original) >= 1
    assert U.sum_to_array is not original
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(U.sum_to_array(x, (1, 3)), original(x, (1, 3)))
    U.sum_to_array(x, (2, 3))  # returns early
    timer.restore()
    assert U.sum_to_array is original
    runs = {src: n for (_, _, src), n in zip(timer.keys, timer.count)}
    assert "if x.shape == shape:" not in runs  # compound statements are not timed themselves
    assert runs["return x"] == 1
    assert runs["return y"] == 1
    assert runs["y = x.sum(axis=axes, keepdims=True)"] == 1
    rows = timer.rows(per=2)
    assert all(r["us"] >= 0 for r in rows) and {r["runs"] for r in rows} == {0.5}


@pytest.mark.slow
def test_findings_quick(tmp_path: Path) -> None:
    stdout, rep = quick_report("findings.py", tmp_path, "--random-data")
    assert rep["sections"] == ["refs", "mnist", "chain"]
    assert "numpy-tape" in rep["refs"]["chain_us"]
    assert list(rep["mnist"]["ladder_us"])[-1] == "6 lean32"
    assert list(rep["mnist"]["tiny_ladder_us"]) == list(rep["mnist"]["ladder_us"])
    lines = rep["mnist"]["lines"]["functions"]
    assert lines["minigrad.nn.module.Module.__call__"], "line timing found nothing to time"
    assert rep["chain"]["tracked_per_op"]["after del"] < 0.01  # the graph is freed
