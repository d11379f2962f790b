"""Memory of training: peak RSS against the hand-written reference, and RSS over many steps.

1. Peak: each of minigrad (TwoLayerNet float32, `loss.backward()` and `optim.SGD`) and the
   hand-written NumPy reference (the book's layers in float32, without the unused input
   gradient: "seed32-lean") trains in a fresh subprocess, so their peaks do not mix. Reported:
   the process's peak RSS (ru_maxrss, from start to end: imports, data, training) and the
   training steps' own peak above the RSS they started from (VmHWM reset before the steps).
2. Growth: minigrad trains for 10,000 steps while its RSS (VmRSS) is sampled every 100 steps;
   the growth from step 1,000 to step 10,000 must stay under 5 MiB (no graph kept alive), and
   the cyclic garbage collector should find nothing (graphs are freed by reference counting).

MNIST 784-50-10, batch 100, lr 0.1, on random data of MNIST's shapes (memory does not depend
on the values).

    python benchmarks/bench_memory.py [--quick] [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
N_IN, N_HIDDEN, N_OUT, BATCH, LR = 784, 50, 10, 100, 0.1


# ------------------------------------------------------------------------------- RSS readers


def status_kib(field: str) -> int | None:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    """The current resident set size, or None where /proc is missing."""
    kib = status_kib("VmRSS")
    return None if kib is None else kib * 1024


def maxrss_bytes() -> int:
    """The peak RSS of this process since it started (ru_maxrss: KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux `clear_refs` 5); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def mib(x: float | None) -> str:
    """Bytes as MiB for a table cell ('-' for a missing value)."""
    return "-" if x is None else f"{x / MiB:.1f}"


# ------------------------------------------ shared with bench_conv, bench_rnn, bench_transformer


def steps_peak(step: Callable[..., Any], batches: Sequence[Any], steps: int) -> dict[str, Any]:
    """Run `step(*batch)` `steps` times (cycling through `batches`) after resetting VmHWM: the
    RSS before and after, the steps' peak (None where VmHWM cannot be reset) and the
    process's peak (ru_maxrss), in bytes."""
    before = status_kib("VmRSS")
    reset = reset_peak()
    for i in range(steps):
        step(*batches[i % len(batches)])
    after = status_kib("VmRSS")
    hwm = status_kib("VmHWM") if reset else None
    return {
        "rss_before": None if before is None else before * 1024,
        "rss_after": None if after is None else after * 1024,
        "steps_peak": None if hwm is None else hwm * 1024,
        "process_peak": maxrss_bytes(),
    }


def child_runs(
    script: str, args: Sequence[str], repeats: int, threads: int | None
) -> dict[str, list[dict[str, Any]]]:
    """`python script --child KIND args...` for KIND minigrad and numpy32, alternated (so that
    a machine-wide change hits both) `repeats` times, each in a fresh process with OpenBLAS
    limited to `threads` (if given): the JSON each printed last, per kind."""
    env = None if not threads else {**os.environ, "OPENBLAS_NUM_THREADS": str(threads)}
    runs: dict[str, list[dict[str, Any]]] = {"minigrad": [], "numpy32": []}
    for _ in range(repeats):
        for kind in runs:
            cmd = [sys.executable, str(Path(script).resolve()), "--child", kind, *args]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"{Path(script).stem}: the {kind} child failed:\n{proc.stderr}")
            runs[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs


def median_peaks(
    runs: dict[str, list[dict[str, Any]]], keys: Sequence[str], increment: str | None = None
) -> dict[str, dict[str, float | None]]:
    """Per kind, the median of each of `keys` over the runs (None where none measured it);
    "peak": the steps' peak, else the process's; `increment` (if named): peak - rss_before."""
    med: dict[str, dict[str, float | None]] = {}
    for kind, rs in runs.items():
        m: dict[str, float | None] = {}
        for key in keys:
            vals = [r[key] for r in rs if r[key] is not None]
            m[key] = float(np.median(vals)) if vals else None
        m["peak"] = m["steps_peak"] if m["steps_peak"] is not None else m["process_peak"]
        if increment:
            before, peak = m["rss_before"], m["peak"]
            m[increment] = None if peak is None or before is None else peak - before
        med[kind] = m
    return med


def peak_ratios(
    med: dict[str, dict[str, float | None]], increment: str | None = None
) -> tuple[float, float | None]:
    """Print and return minigrad/numpy32 of the peaks and (if named) of the `increment`s."""
    ratio = (med["minigrad"]["peak"] or 0) / (med["numpy32"]["peak"] or 1)
    print(f"peak during steps minigrad/numpy32: {ratio:.3f}")
    inc = None
    if increment:
        a, b = med["minigrad"][increment], med["numpy32"][increment]
        inc = None if a is None or not b else a / b
        if inc is not None:
            print(f"steps' own peak minigrad/numpy32: {inc:.3f}")
    print()
    return ratio, inc


# ------------------------------------------------------------------------------- the children


def make_batches(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` random batches of MNIST's shapes: x (100, 784) float32 in [0, 1), t (100,) int64."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.random((BATCH, N_IN), dtype=np.float32),
            rng.integers(0, N_OUT, BATCH, dtype=np.int64),
        )
        for _ in range(n)
    ]


def make_trainer(kind: str, seed: int) -> Any:
    """A function doing one training step on (x, t) for 'minigrad' or 'reference'."""
    sys.path.insert(0, str(HERE))
    import _trainers as T

    weights = T.init_weights([N_IN, N_HIDDEN, N_OUT], 0.01, seed)
    if kind == "reference":
        return T.Reference(weights, LR, np.float32, lean=True).step
    if kind == "minigrad":
        return T.MinigradIdiomatic(weights, LR).step
    raise ValueError(f"bench_memory: unknown child kind {kind!r}")


def child(kind: str, steps: int, sample_every: int, seed: int) -> dict[str, Any]:
    """Train `steps` steps in this (fresh) process; report peaks and sampled RSS."""
    collected = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            collected[0] += info["collected"]

    batches = make_batches(10, seed)
    step = make_trainer(kind, seed)
    step(*batches[0])  # the first step allocates what every step reuses
    gc.collect()
    # Resetting VmHWM also resets ru_maxrss on Linux: keep the setup's peak first.
    setup_hwm = status_kib("VmHWM")
    hwm_reset = reset_peak()
    start_rss = rss_bytes()
    gc.callbacks.append(on_gc)
    samples = []
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        step(*batches[i % len(batches)])
        if sample_every and i % sample_every == 0:
            samples.append((i, rss_bytes()))
    seconds = time.perf_counter() - t0
    gc.callbacks.remove(on_gc)
    hwm = status_kib("VmHWM")
    if hwm is None or setup_hwm is None:
        peak = maxrss_bytes()
    else:
        peak = max(hwm, setup_hwm) * 1024
    return {
        "kind": kind,
        "steps": steps,
        "seconds": seconds,
        "maxrss": peak,
        "start_rss": start_rss,
        "steps_peak": None if hwm is None or not hwm_reset else hwm * 1024,
        "gc_collected": collected[0],
        "samples": samples,
    }


def run_child(kind: str, steps: int, sample_every: int, seed: int) -> dict[str, Any]:
    """Run `child` in a fresh interpreter and return what it reported."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
    cmd += ["--steps", str(steps), "--sample-every", str(sample_every), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench_memory: the {kind} child failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- the report


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    import _common as C

    parser = C.make_parser(
        "Peak RSS of training vs the hand-written reference; RSS over many steps.", __doc__
    )
    parser.add_argument("--steps", type=int, default=10_000, help="steps of the growth run")
    parser.add_argument("--peak-steps", type=int, default=50, help="steps of each peak run")
    parser.add_argument("--seed", type=int, default=0, help="data and weight seed")
    parser.add_argument("--sample-every", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["minigrad", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.sample_every, args.seed)))
        return 0
    if args.quick:
        args.steps = min(args.steps, 500)
        args.peak_steps = min(args.peak_steps, 5)
    # --blocks: repeat each peak child; the medians are reported.
    repeats = args.blocks or (1 if args.quick else 3)

    info = C.env_info(None)
    print("bench_memory: RSS of MNIST 784-50-10 training, batch 100, float32, random data")
    C.print_env(info, torch_line=False)

    peaks: dict[str, list[dict[str, Any]]] = {"minigrad": [], "reference": []}
    for _ in range(repeats):
        for kind in peaks:  # alternated, so a machine-wide change hits both
            peaks[kind].append(run_child(kind, args.peak_steps, 0, args.seed))
    rows = []
    med: dict[str, dict[str, float | None]] = {}
    for kind, runs in peaks.items():
        med[kind] = {}
        for key in ("maxrss", "start_rss", "steps_peak"):
            vals = [r[key] for r in runs if r[key] is not None]
            med[kind][key] = float(np.median(vals)) if vals else None
        m = med[kind]
        inc = None if m["steps_peak"] is None else m["steps_peak"] - (m["start_rss"] or 0)
        m["steps_increment"] = inc
        rows.append([kind, mib(m["maxrss"]), mib(m["start_rss"]), mib(m["steps_peak"]), mib(inc)])
    print(f"peak RSS, MiB (fresh process each, {args.peak_steps} steps, median of {repeats}):")
    C.print_table(
        ["", "process peak", "RSS before steps", "peak during steps", "steps' own peak"], rows
    )
    peak_ratio = (med["minigrad"]["maxrss"] or 0) / (med["reference"]["maxrss"] or 1)
    inc_m, inc_r = med["minigrad"]["steps_increment"], med["reference"]["steps_increment"]
    print(f"process peak minigrad/reference: {peak_ratio:.3f}")
    if inc_m is not None and inc_r is not None:
        print(f"steps' own peak minigrad - reference: {(inc_m - inc_r) / MiB:+.2f} MiB")
    print()

    every = max(1, args.steps // 100)
    long = run_child("minigrad", args.steps, every, args.seed)
    samples = {s: r for s, r in long["samples"]}
    early = args.steps // 10 // every * every or every
    at_early, at_end = samples.get(early), samples.get(args.steps)
    growth = None if at_early is None or at_end is None else at_end - at_early
    values = [r for r in samples.values() if r is not None]
    print(f"RSS over {args.steps} minigrad steps ({long['seconds']:.1f} s), MiB:")
    C.print_table(
        ["at step", "RSS"],
        [
            [str(early), mib(at_early)],
            [str(args.steps), mib(at_end)],
            ["max sampled", mib(max(values) if values else None)],
        ],
    )
    print(f"growth step {early} -> {args.steps}: {mib(growth)} MiB")
    print(f"objects freed by the cyclic gc during the run: {long['gc_collected']}")
    print()

    bars = [
        C.Bar(
            f"RSS growth step {early} -> {args.steps} (MiB)",
            None if growth is None else growth / MiB,
            "<=",
            5.0,
        ),
        C.Bar("peak RSS minigrad/reference", peak_ratio, "<=", 1.2),
    ]
    C.print_bars(bars)
    C.write_json(
        args.json,
        {
            "benchmark": "memory",
            "env": info,
            "config": {
                "quick": args.quick,
                "steps": args.steps,
                "peak_steps": args.peak_steps,
                "repeats": repeats,
                "data": "random",
            },
            "peak": {"runs": peaks, "median": med, "ratio": peak_ratio},
            "growth": {
                "samples": long["samples"],
                "early_step": early,
                "rss_early": at_early,
                "rss_end": at_end,
                "growth_bytes": growth,
                "gc_collected": long["gc_collected"],
                "seconds": long["seconds"],
            },
            "bars": [b.as_dict() for b in bars],
        },
    )
    return C.finish(bars, args.check)


if __name__ == "__main__":
    sys.exit(main())
