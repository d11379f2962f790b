"""Shared helpers of the benchmark scripts: environment report, interleaved timing, tables, bars.

Every script measures minigrad and its reference in one process, in interleaved blocks (the
order rotated each block), and reports medians and the median of per-block ratios: on a shared
machine the noise between blocks is large, but two candidates timed side by side in one block
see the same noise.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Bar",
    "add_threads_arg",
    "blas_threads",
    "limit_blas",
    "limit_torch",
    "settle_blocks_threads",
    "make_parser",
    "env_info",
    "finish",
    "fmt",
    "import_torch",
    "interleave",
    "max_rel_diff",
    "pin_threads",
    "print_bars",
    "print_env",
    "print_table",
    "ratio_stats",
    "step_timer",
    "summary",
    "threads_note",
    "time_candidates",
    "within",
    "write_json",
]


def make_parser(description: str, doc: str | None) -> argparse.ArgumentParser:
    """A script's parser: its description, its module docstring `doc` after the options, and
    the options every script has: --quick, --json, --check, --blocks, --no-torch."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc,
    )
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run (a few seconds), as CI runs it"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 if a bar fails (by default the bars are only reported)",
    )
    parser.add_argument(
        "--blocks", type=int, default=None, help="interleaved timing blocks (default: per script)"
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="leave PyTorch out even if it is importable"
    )
    return parser


def add_threads_arg(parser: argparse.ArgumentParser, torch: bool = True) -> None:
    """--threads N, for `pin_threads` (with `torch`, PyTorch's threads too); see
    `settle_blocks_threads` for its --quick default."""
    whom = "BLAS (threadpoolctl) and PyTorch" if torch else "BLAS (threadpoolctl)"
    parser.add_argument(
        "--threads",
        type=int,
        help=f"limit {whom} to N threads (default: as configured; --quick: 1)",
    )


def settle_blocks_threads(args: argparse.Namespace, blocks: int) -> None:
    """Fill in --blocks (2 with --quick, else `blocks`) and, with --quick, --threads 1 unless
    given: a smoke run on one BLAS thread takes seconds on a busy 2-core machine."""
    args.blocks = args.blocks or (2 if args.quick else blocks)
    if args.quick and args.threads is None:
        args.threads = 1


def import_torch(disabled: bool = False) -> Any:
    """The torch module, or None if it is not importable (or `disabled`).

    Importing torch creates ~160,000 objects tracked by the garbage collector; every full
    collection would then walk them, which made all frameworks' graphs of 100,000 ops (even
    the hand-written NumPy's) 1.5-2x slower per op than in a process without torch. They are
    moved out of the collector's sight (gc.freeze), so that a process that compares with
    torch collects like one that does not import it.
    """
    if disabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    gc.collect()
    gc.freeze()
    return torch


_BLAS: list[Any] = []


def _blas_controller() -> Any:
    """threadpoolctl's controller of NumPy's BLAS pools (made once: finding them takes ms), or
    None without threadpoolctl."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController().select(user_api="blas"))
    return _BLAS[0]


def blas_threads() -> int | None:
    """How many threads NumPy's BLAS uses now (None without threadpoolctl or a BLAS pool)."""
    ctl = _blas_controller()
    if ctl is None or not ctl.lib_controllers:
        return None
    return max(lib.num_threads for lib in ctl.lib_controllers)


@contextlib.contextmanager
def limit_blas(n: int) -> Iterator[None]:
    """Run the block with NumPy's BLAS limited to n threads (needs threadpoolctl)."""
    ctl = _blas_controller()
    if ctl is None:
        raise RuntimeError("limit_blas: threadpoolctl is not installed")
    with ctl.limit(limits=n):
        yield


@contextlib.contextmanager
def limit_torch(torch: Any, n: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread pool at n threads, then restore it."""
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def within(ctx: Callable[[], Any], measure: Callable[[], Any]) -> Callable[[], Any]:
    """A candidate for `interleave`: `measure` run inside the context manager `ctx()` (e.g. a
    thread limit), set up and torn down outside the candidate's own timing."""

    def run() -> Any:
        with ctx():
            return measure()

    return run


def threads_note(torch: Any = None) -> str:
    """One line: the thread counts the default rows run with, and which rows pin them to 1."""
    blas = blas_threads()
    parts = [f"NumPy BLAS {blas if blas is not None else '?'} thread(s)"]
    if torch is not None:
        parts.append(f"torch {torch.get_num_threads()} thread(s)")
    return "rows run with " + ", ".join(parts) + "; rows marked @1 run with that pool at 1 thread"


def env_info(torch: Any = None) -> dict[str, Any]:
    """Python, NumPy, BLAS thread pools (threadpoolctl), OPENBLAS_*/OMP_* variables, torch."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        # Other processes' load is the main source of noise on a shared machine: show it.
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "env": {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "GOTO_"))
        },
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["threadpools"] = None
    else:
        info["threadpools"] = [
            {
                k: p.get(k)
                for k in ("user_api", "internal_api", "num_threads", "version", "architecture")
            }
            for p in threadpool_info()
        ]
    if torch is not None:
        info["torch"] = {
            "version": torch.__version__,
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
        }
    return info


def print_env(info: Mapping[str, Any], torch_line: bool = True) -> None:
    """Print the environment block that heads every script's output."""
    load = info.get("loadavg")
    load_s = f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else ""
    print(f"python {info['python']}  numpy {info['numpy']}  cpus {info['cpu_count']}{load_s}")
    pools = info.get("threadpools")
    if pools is None:
        print("BLAS: threadpoolctl not installed (pip install threadpoolctl)")
    elif not pools:
        print("BLAS: no thread pool found by threadpoolctl")
    for p in pools or []:
        print(
            f"BLAS: {p['internal_api']} {p['version']} ({p['user_api']}), "
            f"{p['num_threads']} threads, {p.get('architecture')}"
        )
    env = info.get("env") or {}
    print("env: " + (" ".join(f"{k}={v}" for k, v in env.items()) or "no OPENBLAS_/OMP_ vars set"))
    t = info.get("torch")
    if t:
        print(
            f"torch {t['version']}, {t['num_threads']} intra-op threads, "
            f"{t['num_interop_threads']} inter-op threads"
        )
    elif torch_line:
        print("torch: not importable (or --no-torch): its rows are left out")
    print()


def interleave(
    candidates: Mapping[str, Callable[[], Any]], blocks: int, warmup: int = 1, settle: float = 0.0
) -> dict[str, list[Any]]:
    """Call each candidate once per block, rotating the order each block; collect the results.

    A candidate does its own timing and returns what it measured (a float or a dict of
    floats). gc stays enabled, as users run, but a full collection runs before every
    candidate's turn so that one's garbage is not collected on another's clock. `settle`
    seconds of sleep before each turn let the previous candidate's thread pools go idle:
    OpenBLAS and torch's OpenMP threads spin for a while after their last call, and on two
    cores the next candidate's first BLAS calls then wait milliseconds for a core.
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    out: dict[str, list[Any]] = {name: [] for name in names}
    for b in range(blocks):
        k = b % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            if settle:
                time.sleep(settle)
            out[name].append(candidates[name]())
    gc.collect()
    return out


def pin_threads(n: int | None, torch: Any = None) -> Any:
    """Limit BLAS (threadpoolctl) and, if given, PyTorch to `n` threads; a no-op for None or 0.

    Returns threadpoolctl's limiter (None if nothing was limited): the caller keeps it alive
    for as long as the limit should hold. On a shared 2-core machine OpenBLAS's second thread
    mostly waits for a core: one thread gives steadier (and there faster) steps.
    """
    if not n:
        return None
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(n)
    if torch is not None:
        torch.set_num_threads(n)
    return limits


def step_timer(
    step: Callable[..., Any], data: Sequence[Sequence[Any]], steps: int
) -> Callable[[], float]:
    """A candidate for `interleave`: each call runs `step(*data[i])` `steps` times, cycling
    through `data` where the previous call stopped, and returns the ms per step."""
    state = {"i": 0}

    def measure() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            step(*data[state["i"] % len(data)])
            state["i"] += 1
        return (time.perf_counter() - t0) / steps * 1e3

    return measure


def time_candidates(
    heading: str,
    candidates: Mapping[str, Callable[[], float]],
    blocks: int,
    pairs: Sequence[tuple[str, str, str]],
    settle: float = 0.1,
) -> dict[str, Any]:
    """Interleave the `candidates` (each returning ms per step) over `blocks` blocks; print
    `heading:` and two tables, ms/step and the per-block ratios of `pairs` (name, numerator,
    denominator; a pair with a missing candidate is left out); return both as
    {"step_ms": ..., "ratios": ...}, each row the summary plus, for step_ms, the blocks."""
    raw = interleave(candidates, blocks, settle=settle)
    step_ms = {k: {**summary(v), "blocks": v} for k, v in raw.items()}
    ratios = {n: ratio_stats(raw[a], raw[b]) for n, a, b in pairs if a in raw and b in raw}
    print(f"{heading}:")
    for title, table in [("ms/step", step_ms), ("ratio (per block)", ratios)]:
        print_table(
            [title, "median", "min", "max"],
            [[k, *(fmt(v[s], 3) for s in ("median", "min", "max"))] for k, v in table.items()],
        )
    return {"step_ms": step_ms, "ratios": ratios}


def max_rel_diff(got: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]) -> float:
    """max over the arrays of `ref` of max |got - ref| / max |ref| (the exactness checks)."""
    return max(float(np.max(np.abs(got[k] - ref[k])) / np.max(np.abs(ref[k]))) for k in ref)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of a list of per-block values."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def ratio_stats(num: Sequence[float], den: Sequence[float]) -> dict[str, Any]:
    """The per-block ratios num[i] / den[i] (same block, same noise) and their summary."""
    ratios = [a / b for a, b in zip(num, den)]
    return {**summary(ratios), "blocks": ratios}


class Bar:
    """A target of docs/architecture.md ("Speed and memory"): `value op threshold`, PASS or FAIL."""

    def __init__(self, name: str, value: float | None, op: str, threshold: float) -> None:
        if op not in ("<=", ">="):
            raise ValueError(f"Bar: op must be '<=' or '>=', got {op!r}")
        self.name = name
        self.value = value
        self.op = op
        self.threshold = threshold

    @property
    def passed(self) -> bool | None:
        """True or False; None when the value could not be measured (e.g. no torch)."""
        if self.value is None:
            return None
        if self.op == "<=":
            return self.value <= self.threshold
        return self.value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        """The bar for the JSON report."""
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "pass": self.passed,
        }


def print_bars(bars: Sequence[Bar]) -> bool:
    """Print one PASS/FAIL/SKIP line per bar; True if none failed."""
    print("bars (docs/architecture.md, Speed and memory):")
    ok = True
    for bar in bars:
        p = bar.passed
        word = "SKIP" if p is None else ("PASS" if p else "FAIL")
        ok &= p is not False
        val = "n/a" if bar.value is None else f"{bar.value:.4g}"
        print(f"  {word}  {bar.name}: {val} {bar.op} {bar.threshold}")
    print()
    return ok


def fmt(x: float | None, digits: int = 2) -> str:
    """A number for a table cell ('-' for a missing one)."""
    return "-" if x is None else f"{x:.{digits}f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a plain aligned table (first column left-aligned, the others right)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        first = r[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        return "  ".join([first, *rest])

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print(line(r))
    print()


def write_json(path: str | None, payload: Mapping[str, Any]) -> None:
    """Write the results to `path` (no-op for None), creating its folder."""
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    print(f"wrote {p}")


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"write_json: cannot write a {type(x).__name__}")


def finish(bars: Sequence[Bar], check: bool) -> int:
    """The exit status: 1 only with --check and a failed bar."""
    ok = all(b.passed is not False for b in bars)
    if check and not ok:
        print("--check: a bar failed", file=sys.stderr)
        return 1
    return 0
