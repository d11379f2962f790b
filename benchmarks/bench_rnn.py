"""Recurrent language models: minigrad's LSTM training step against a hand-written float32
NumPy LSTM and PyTorch, and the peak memory of a truncated-BPTT training run.

Two settings, each an embedding -> one LSTM layer -> affine over the vocabulary -> softmax
cross-entropy, trained by SGD (lr 0.1) with truncated backprop through time (the state
carried from batch to batch, its history cut), per training step, all in this process, from
the same initial weights, on the same batches, in interleaved blocks:

  sequel    the sequel's word-level LSTM LM: vocabulary 10,000, embedding 100, hidden 100,
            T = 35, batch 20
  charlm    examples/charlm.py's defaults: vocabulary 103, embedding 32, hidden 256, T = 64,
            batch 32

  minigrad  nn.Embedding, nn.LSTM, nn.Linear float32, F.softmax_cross_entropy,
            optim.SGD; the state detached after each step
  numpy32   the hand-written reference (_rnn_reference.py: one matmul for the input's
            projection of all steps, the four gates of a step from one matmul, in place)
  torch     PyTorch eager float32, the same layers (if importable)

Then: exactness (after N steps minigrad's weights equal numpy32's) and the peak RSS of a
truncated-BPTT run in each setting, minigrad against numpy32. Data: random ids (the time of a
step does not depend on them).

Memory, measured so that neither side pays for the other: each run in a fresh subprocess
(this script as `--child`), which imports NumPy and these benchmark modules (both sides) and,
for minigrad, minigrad itself (about 9 MiB; the reference never imports it); makes the same
float32 weights; runs one step (what every step reuses is allocated then); resets the
process's high-water mark (VmHWM, Linux) and runs the steps. The bar compares the peaks
during the steps, whole processes: interpreter, NumPy, each side's imports, weights and the
training's arrays. Of the alternatives, the growth above a common baseline (or above each
side's own imports) would be the stricter: the common ~29 MiB of interpreter and NumPy are
in both peaks. "after imports" is printed to show each side's fixed share.

    python benchmarks/bench_rnn.py [--quick] [--json out.json] [--check] [--threads N]
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
from _rnn_reference import LSTMLMReference, init_weights  # noqa: E402
from bench_memory import (  # noqa: E402
    child_runs,
    median_peaks,
    mib,
    peak_ratios,
    status_kib,
    steps_peak,
)

LR = 0.1
#: (vocabulary, embedding, hidden, T, batch)
SETTINGS = {"sequel": (10_000, 100, 100, 35, 20), "charlm": (103, 32, 256, 64, 32)}


def make_batches(setting: str, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    V, _, _, T, N = SETTINGS[setting]
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))) for _ in range(n)]


# ----------------------------------------------------------------------------- trainers


class Minigrad:
    """minigrad's layers in float32, time-major, trained the idiomatic way with optim.SGD."""

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        from minigrad import nn, optim

        V, D = w["embed"].shape
        H = w["W_hh"].shape[1]
        self.embed = nn.Embedding(V, D)
        self.lstm = nn.LSTM(D, H)
        self.fc = nn.Linear(H, V)
        self.embed.weight.data[...] = w["embed"]
        self.lstm.weight_ih_l0.data[...] = w["W_ih"]
        self.lstm.weight_hh_l0.data[...] = w["W_hh"]
        self.lstm.bias_ih_l0.data[...] = w["bias_ih"]
        self.lstm.bias_hh_l0.data[...] = w["bias_hh"]
        self.fc.W.data[...] = w["W_out"]
        self.fc.b.data[...] = w["b_out"]
        self.params = [*self.embed.parameters(), *self.lstm.parameters(), *self.fc.parameters()]
        self.opt = optim.SGD(self.params, lr=LR)
        self.state: Any = None

    def step(self, ids: np.ndarray, targets: np.ndarray) -> float:
        from minigrad import F

        # The previous step's gradients dropped before the forward, as PyTorch's own loop
        # does (zero_grad first): they are not needed, and kept they add the embedding's and
        # the output layer's (V, D) and (H, V) arrays (8 MB in the sequel's setting) to the
        # forward's peak; the reference's do not outlive its step either.
        self.opt.zero_grad()
        y, state = self.lstm(self.embed(ids), self.state)
        T, N, H = y.shape
        loss = F.softmax_cross_entropy(self.fc(y.reshape(T * N, H)), targets.reshape(-1))
        loss.backward()
        self.opt.step()
        self.state = tuple(s.detach() for s in state)  # truncated BPTT
        return float(loss)

    def weights(self) -> dict[str, np.ndarray]:
        return {
            "embed": self.embed.weight.data,
            "W_ih": self.lstm.weight_ih_l0.data,
            "W_hh": self.lstm.weight_hh_l0.data,
            "b": self.lstm.bias_ih_l0.data + self.lstm.bias_hh_l0.data,
            "W_out": self.fc.W.data,
            "b_out": self.fc.b.data,
        }


class Reference:
    """The hand-written float32 NumPy LSTM LM of _rnn_reference.py."""

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        self.net = LSTMLMReference({**w, "b_ih": w["bias_ih"], "b_hh": w["bias_hh"]})

    def step(self, ids: np.ndarray, targets: np.ndarray) -> float:
        return self.net.sgd_step(ids, targets, LR)

    def weights(self) -> dict[str, np.ndarray]:
        return self.net.weights()


class Torch:
    """PyTorch eager float32: nn.Embedding, nn.LSTM, nn.Linear, cross_entropy, SGD."""

    def __init__(self, torch: Any, w: dict[str, np.ndarray]) -> None:
        self.torch = torch
        V, D = w["embed"].shape
        H = w["W_hh"].shape[1]
        self.embed = torch.nn.Embedding(V, D)
        self.lstm = torch.nn.LSTM(D, H)
        self.fc = torch.nn.Linear(H, V)
        with torch.no_grad():
            self.embed.weight.copy_(torch.from_numpy(w["embed"]))
            self.lstm.weight_ih_l0.copy_(torch.from_numpy(w["W_ih"]))
            self.lstm.weight_hh_l0.copy_(torch.from_numpy(w["W_hh"]))
            self.lstm.bias_ih_l0.copy_(torch.from_numpy(w["bias_ih"]))
            self.lstm.bias_hh_l0.copy_(torch.from_numpy(w["bias_hh"]))
            self.fc.weight.copy_(torch.from_numpy(w["W_out"].T))
            self.fc.bias.copy_(torch.from_numpy(w["b_out"]))
        params = [*self.embed.parameters(), *self.lstm.parameters(), *self.fc.parameters()]
        self.opt = torch.optim.SGD(params, lr=LR)
        self.state: Any = None

    def batch(self, ids: np.ndarray, targets: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(ids), self.torch.from_numpy(targets.reshape(-1))

    def step(self, ids: Any, targets: Any) -> float:
        self.opt.zero_grad()
        y, state = self.lstm(self.embed(ids), self.state)
        loss = self.torch.nn.functional.cross_entropy(self.fc(y.reshape(-1, y.shape[-1])), targets)
        loss.backward()
        self.opt.step()
        self.state = tuple(s.detach() for s in state)
        return float(loss.detach())


def weights32(setting: str, seed: int) -> dict[str, np.ndarray]:
    V, D, H, _, _ = SETTINGS[setting]
    w = init_weights(V, D, H, seed)
    out = {k: v.astype(np.float32) for k, v in w.items()}
    out["bias_ih"], out["bias_hh"] = out.pop("b_ih"), out.pop("b_hh")
    return out


def trainers(setting: str, torch: Any, seed: int) -> dict[str, Any]:
    w = weights32(setting, seed)
    out: dict[str, Any] = {"minigrad": Minigrad(w), "numpy32": Reference(w)}
    if torch is not None:
        out["torch"] = Torch(torch, w)
    return out


def block(trainer: Any, batches: list[Any], steps: int) -> Any:
    """A candidate for C.interleave: ms per step over `steps` steps."""
    data = [trainer.batch(*b) for b in batches] if isinstance(trainer, Torch) else batches
    return C.step_timer(trainer.step, data, steps)


RATIOS = [("minigrad/numpy32", "minigrad", "numpy32"), ("torch/minigrad", "torch", "minigrad")]


def bench_speed(setting: str, args: argparse.Namespace, torch: Any) -> dict[str, Any]:
    cands = trainers(setting, torch, args.seed)
    batches = make_batches(setting, 4, args.seed)
    V, D, H, T, N = SETTINGS[setting]
    res = C.time_candidates(
        f"{setting}: V {V}, embedding {D}, hidden {H}, T {T}, batch {N} "
        f"({args.blocks} blocks of {args.steps} steps)",
        {k: block(tr, batches, args.steps) for k, tr in cands.items()},
        args.blocks,
        RATIOS,
    )
    return {"steps_per_block": args.steps, **res}


def exactness(setting: str, seed: int, steps: int) -> float:
    """max |w - w_ref| / max |w_ref| over the weights after `steps` steps, minigrad vs numpy32."""
    w = weights32(setting, seed)
    batches = make_batches(setting, 4, seed)
    runs = []
    for tr in (Minigrad(w), Reference(w)):
        for i in range(steps):
            tr.step(*batches[i % len(batches)])
        runs.append(tr.weights())
    return C.max_rel_diff(*runs)


# ----------------------------------------------------------------------------- memory


def child(kind: str, setting: str, steps: int, seed: int) -> dict[str, Any]:
    """In a fresh process: truncated-BPTT steps in `setting`; the RSS before and the peak
    during."""
    if kind == "minigrad":
        import minigrad.nn  # noqa: F401 - its import is charged to it, before anything runs
    imports = status_kib("VmRSS")
    w = weights32(setting, seed)
    batches = make_batches(setting, 2, seed)
    tr = Minigrad(w) if kind == "minigrad" else Reference(w)
    tr.step(*batches[0])  # the first step allocates what every step reuses
    return {
        "kind": kind,
        "rss_imports": None if imports is None else imports * 1024,
        **steps_peak(tr.step, batches, steps),
    }


def bench_memory(
    setting: str, steps: int, repeats: int, seed: int, threads: int | None
) -> dict[str, Any]:
    args = ["--setting", setting, "--mem-steps", str(steps), "--seed", str(seed)]
    runs = child_runs(__file__, args, repeats, threads)
    keys = ("rss_imports", "rss_before", "rss_after", "steps_peak", "process_peak")
    med = median_peaks(runs, keys)
    print(f"truncated-BPTT peak RSS, MiB ({setting}, fresh process each, {steps} steps):")
    C.print_table(
        ["", "after imports", "RSS before steps", "peak during steps", "RSS after steps"],
        [
            [k, *(mib(m[c]) for c in ("rss_imports", "rss_before", "peak", "rss_after"))]
            for k, m in med.items()
        ],
    )
    ratio, _ = peak_ratios(med)
    return {"runs": runs, "median": med, "peak_ratio": ratio}


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = C.make_parser(
        "LSTM language-model training step time and memory: minigrad vs hand-written NumPy "
        "and PyTorch.",
        __doc__,
    )
    p.add_argument("--steps", type=int, default=5, help="steps per block (5)")
    p.add_argument("--exact-steps", type=int, default=5, help="steps of the exactness check")
    p.add_argument("--mem-steps", type=int, default=20, help="steps per memory run (20)")
    p.add_argument("--seed", type=int, default=0, help="weights and batches seed")
    p.add_argument("--no-memory", action="store_true", help="skip the peak RSS runs")
    C.add_threads_arg(p)
    p.add_argument("--child", choices=["minigrad", "numpy32"], help=argparse.SUPPRESS)
    p.add_argument("--setting", choices=sorted(SETTINGS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 1)
        args.exact_steps = min(args.exact_steps, 2)
        args.mem_steps = min(args.mem_steps, 3)
    C.settle_blocks_threads(args, 15)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.setting, args.mem_steps, args.seed)))
        return 0
    torch = C.import_torch(args.no_torch)
    limits = C.pin_threads(args.threads, torch)  # kept alive for the whole run
    info = C.env_info(torch)
    print("bench_rnn: LSTM language-model training steps, ms/step, random ids")
    C.print_env(info)
    results = {s: bench_speed(s, args, torch) for s in SETTINGS}
    exact = {s: exactness(s, args.seed, args.exact_steps) for s in SETTINGS}
    print(f"exactness after {args.exact_steps} steps: max |w - w_ref| / max |w_ref| vs numpy32")
    C.print_table(["", "max rel diff"], [[k, f"{v:.2e}"] for k, v in exact.items()])
    memory: dict[str, Any] = {}
    if not args.no_memory:
        for s in SETTINGS:
            memory[s] = bench_memory(
                s, args.mem_steps, 1 if args.quick else 3, args.seed, args.threads
            )

    def ratio(setting: str) -> float | None:
        r = results[setting]["ratios"].get("minigrad/numpy32")
        return None if r is None else r["median"]

    bars = [
        C.Bar("sequel LSTM LM minigrad/numpy32 ms/step", ratio("sequel"), "<=", 1.2),
        C.Bar("charlm LSTM minigrad/numpy32 ms/step", ratio("charlm"), "<=", 1.2),
        *(
            C.Bar(
                f"{s} truncated-BPTT peak RSS minigrad/numpy32",
                memory[s]["peak_ratio"] if memory else None,
                "<=",
                1.3,
            )
            for s in SETTINGS
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
            "benchmark": "rnn",
            "env": info,
            "data": "random",
            "config": {
                "quick": args.quick,
                "blocks": args.blocks,
                "steps": args.steps,
                "lr": LR,
                "settings": SETTINGS,
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
