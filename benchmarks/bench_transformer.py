"""Transformers: minigrad's pre-norm block and GPT training step against hand-written NumPy
and PyTorch, the peak memory of a step, and where minigrad's time goes.

The model is examples/gpt.py's default (read from it): a character GPT, batch 32 x context
64, 64 wide, 4 heads, 2 blocks, feed-forward 256, tied head, float32, Adam. In this process,
in interleaved blocks, from the same initial weights on the same batches:

  block      one nn.TransformerBlock, forward and backward (dy given), on a (32, 64, 64)
             input that needs its gradient:
               minigrad   nn.TransformerBlock, y.backward(dy)
               numpy32    the block by hand (_transformer_reference.BlockRef): fused QKV
                          product, heads as strided views in batched matmuls, softmax and
                          its backward in place: the reference of the block's bar
               torch      the same math in PyTorch (F.layer_norm, F.linear,
                          F.scaled_dot_product_attention(is_causal=True), F.gelu)
  step       a training step of the GPT (forward, mean cross-entropy, backward, Adam):
               minigrad   nn.GPT, net.loss(x, y); opt.zero_grad(); loss.backward();
                          opt.step()  (minigrad.optim.Adam)
               numpy32    the GPT by hand (GPTRef), parameters and gradients in one flat
                          array each, Adam in place
               torch      the same model in PyTorch eager, torch.optim.Adam: the reference
                          of the step's bar

Then exactness (one step's loss and gradients, minigrad against numpy32), the peak RSS of GPT
steps (minigrad and numpy32, each in a fresh subprocess), and a per-op profile of minigrad's
step: the time inside each op's forward and backward (each Function class's methods wrapped
by a clock), the rest being the engine, the modules and the optimizer.

Bars (issue 19): step minigrad/torch at most 1.5; block minigrad/numpy32 at most 1.2; peak
RSS of a step minigrad/numpy32 at most 1.3.

    python benchmarks/bench_transformer.py [--quick] [--json out.json] [--check] [--threads N]
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
from _transformer_reference import BLOCK_PARAMS, BlockRef, GPTRef, init_block, init_gpt  # noqa: E402
from bench_memory import child_runs, median_peaks, mib, peak_ratios, steps_peak  # noqa: E402

F32 = np.float32


def defaults() -> dict[str, Any]:
    """examples/gpt.py's default model and batch (its DEFAULTS dict), and the corpus's
    vocabulary size."""
    sys.path.insert(0, str(HERE.parent / "examples"))
    import gpt as example

    d = dict(example.DEFAULTS)
    try:
        from minigrad.data.text import CharVocab, load_text

        d["vocab"] = len(CharVocab(load_text()))
    except ImportError:  # the corpus not there: the size of printable ASCII
        d["vocab"] = 96
    return d


# ----------------------------------------------------------------------------- weights


def minigrad_names(n_layers: int) -> dict[str, tuple[str, bool]]:
    """reference name -> (minigrad state-dict name, transposed?)."""
    per_block = {
        "ln1_w": ("ln1.weight", False),
        "ln1_b": ("ln1.bias", False),
        "Wqkv": ("attn.in_proj_weight", True),  # PyTorch's (3C, C)
        "bqkv": ("attn.in_proj_bias", False),
        "Wo": ("attn.out_proj.W", False),  # minigrad's Linear holds W as (in, out)
        "bo": ("attn.out_proj.b", False),
        "ln2_w": ("ln2.weight", False),
        "ln2_b": ("ln2.bias", False),
        "W1": ("mlp.0.W", False),
        "b1": ("mlp.0.b", False),
        "W2": ("mlp.2.W", False),
        "b2": ("mlp.2.b", False),
    }
    out = {
        "wte": ("tok_emb.weight", False),
        "wpe": ("pos_emb.weight", False),
        "lnf_w": ("ln_f.weight", False),
        "lnf_b": ("ln_f.bias", False),
    }
    for i in range(n_layers):
        for k, (name, tr) in per_block.items():
            out[f"{i}.{k}"] = (f"blocks.{i}.{name}", tr)
    return out


def load_minigrad(module: Any, weights: dict[str, np.ndarray], names: dict[str, Any]) -> None:
    """Copy the reference's float64 weights into a minigrad module's parameters."""
    params = dict(module.named_parameters())
    for k, w in weights.items():
        name, tr = names[k]
        p = params[name]
        src = w.T if tr else w
        if p.shape != src.shape:
            raise ValueError(
                f"bench_transformer: {name} has shape {p.shape}, the reference's {k} {src.shape}"
            )
        p.data[...] = src


def minigrad_weights(module: Any, names: dict[str, Any]) -> dict[str, np.ndarray]:
    params = dict(module.named_parameters())
    return {k: (params[n].data.T if tr else params[n].data) for k, (n, tr) in names.items()}


# ----------------------------------------------------------------------------- candidates


class MinigradBlock:
    def __init__(self, w: dict[str, np.ndarray], d: dict[str, Any]) -> None:
        from minigrad import Variable, nn

        self.blk = nn.TransformerBlock(d["d_model"], d["n_heads"], d["d_ff"], dtype=F32)
        names = {k: v for k, v in minigrad_names(1).items() if k.startswith("0.")}
        load_minigrad(
            self.blk,
            {f"0.{k}": v for k, v in w.items()},
            {k: (n.removeprefix("blocks.0."), t) for k, (n, t) in names.items()},
        )
        self.Variable = Variable

    def step(self, x: np.ndarray, gy: np.ndarray) -> None:
        xv = self.Variable(x)
        for p in self.blk.parameters():
            p.grad = None
        self.blk(xv).backward(gy)


class NumpyBlock:
    def __init__(self, w: dict[str, np.ndarray], d: dict[str, Any]) -> None:
        p = {k: v.astype(F32) for k, v in w.items()}
        self.blk = BlockRef(p, {k: np.empty_like(v) for k, v in p.items()}, d["n_heads"])

    def step(self, x: np.ndarray, gy: np.ndarray) -> None:
        self.blk.forward(x)
        self.blk.backward(gy)


def torch_block_fn(torch: Any, p: dict[str, Any], n_heads: int) -> Any:
    """The pre-norm causal block in PyTorch on (out, in) weights named as the reference's."""
    F = torch.nn.functional

    def block(x: Any) -> Any:
        B, T, C = x.shape
        h = F.layer_norm(x, (C,), p["ln1_w"], p["ln1_b"])
        qkv = F.linear(h, p["Wqkv"], p["bqkv"])
        q, k, v = qkv.view(B, T, 3, n_heads, C // n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + F.linear(a.transpose(1, 2).reshape(B, T, C), p["Wo"], p["bo"])
        h = F.layer_norm(x, (C,), p["ln2_w"], p["ln2_b"])
        return x + F.linear(F.gelu(F.linear(h, p["W1"], p["b1"])), p["W2"], p["b2"])

    return block


def torch_params(torch: Any, w: dict[str, np.ndarray]) -> dict[str, Any]:
    """Float32 leaf tensors, 2-D weights transposed to PyTorch's (out, in) except wte/wpe."""
    out = {}
    for k, v in w.items():
        a = v.T if v.ndim == 2 and not k.startswith(("wte", "wpe")) else v
        out[k] = torch.tensor(np.ascontiguousarray(a), dtype=torch.float32, requires_grad=True)
    return out


class TorchBlock:
    def __init__(self, torch: Any, w: dict[str, np.ndarray], d: dict[str, Any]) -> None:
        self.torch = torch
        self.p = torch_params(torch, w)
        self.fn = torch_block_fn(torch, self.p, d["n_heads"])

    def batch(self, x: np.ndarray, gy: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(x), self.torch.from_numpy(gy)

    def step(self, x: Any, gy: Any) -> None:
        for p in self.p.values():
            p.grad = None
        x = x.detach().requires_grad_(True)
        self.fn(x).backward(gy)


class MinigradGPT:
    def __init__(self, w: dict[str, np.ndarray], d: dict[str, Any]) -> None:
        from minigrad import nn, optim

        self.net = nn.GPT(
            d["vocab"],
            d["context"],
            d["d_model"],
            d["n_layers"],
            d["n_heads"],
            d["d_ff"],
            dtype=F32,
        )
        self.names = minigrad_names(d["n_layers"])
        load_minigrad(self.net, w, self.names)
        self.opt = optim.Adam(self.net.parameters(), lr=d["lr"])

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        loss = self.net.loss(x, y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def weights(self) -> dict[str, np.ndarray]:
        return minigrad_weights(self.net, self.names)


class NumpyGPT:
    def __init__(self, w: dict[str, np.ndarray], d: dict[str, Any]) -> None:
        self.net = GPTRef(w, d["n_layers"], d["n_heads"], d["lr"])

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.net.step(x, y)

    def weights(self) -> dict[str, np.ndarray]:
        return self.net.fp.p


class TorchGPT:
    def __init__(self, torch: Any, w: dict[str, np.ndarray], d: dict[str, Any]) -> None:
        self.torch, F = torch, torch.nn.functional
        self.p = p = torch_params(torch, w)
        blocks = [
            torch_block_fn(torch, {n: p[f"{i}.{n}"] for n, _ in BLOCK_PARAMS}, d["n_heads"])
            for i in range(d["n_layers"])
        ]
        self.opt = torch.optim.Adam(list(p.values()), lr=d["lr"])

        def loss(ids: Any, targets: Any) -> Any:
            T, C = ids.shape[1], p["wte"].shape[1]
            x = F.embedding(ids, p["wte"]) + p["wpe"][:T]
            for blk in blocks:
                x = blk(x)
            logits = F.linear(F.layer_norm(x, (C,), p["lnf_w"], p["lnf_b"]), p["wte"])
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

        self.loss = loss

    def batch(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(x), self.torch.from_numpy(y)

    def step(self, x: Any, y: Any) -> None:
        loss = self.loss(x, y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def block_runner(trainer: Any, batches: list[Any], steps: int) -> Any:
    """A candidate for C.interleave: ms per step over `steps` steps."""
    data = [trainer.batch(*b) if hasattr(trainer, "batch") else b for b in batches]
    return C.step_timer(trainer.step, data, steps)


def make_batches(d: dict[str, Any], n: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    B, T, Cm = d["batch"], d["context"], d["d_model"]
    ids = [rng.integers(0, d["vocab"], (B, T + 1)) for _ in range(n)]
    return {
        "step": [(i[:, :-1].copy(), i[:, 1:].copy()) for i in ids],
        "block": [
            (
                rng.standard_normal((B, T, Cm)).astype(F32),
                rng.standard_normal((B, T, Cm)).astype(F32),
            )
            for _ in range(n)
        ],
    }


def run_table(
    title: str, cands: dict[str, Any], batches: list[Any], args: argparse.Namespace, steps: int
) -> dict[str, Any]:
    pairs = [
        ("minigrad/numpy32", "minigrad", "numpy32"),
        ("minigrad/torch", "minigrad", "torch"),
        ("numpy32/torch", "numpy32", "torch"),
    ]
    res = C.time_candidates(
        f"{title} ({args.blocks} blocks of {steps} steps)",
        {k: block_runner(tr, batches, steps) for k, tr in cands.items()},
        args.blocks,
        pairs,
    )
    return {"steps_per_block": steps, **res}


# ----------------------------------------------------------------------------- exactness


def exactness(d: dict[str, Any], seed: int, batches: list[Any]) -> dict[str, float]:
    """One step's loss and gradients, minigrad against numpy32 from the same weights: the
    loss's relative difference and max |g - g_ref| / max |g_ref| over the parameters. (Not
    the weights after several Adam steps: Adam divides each gradient by its own running
    size, so float32 rounding in a near-zero gradient moves that weight by up to lr.)"""
    w = init_gpt(d["vocab"], d["context"], d["d_model"], d["n_layers"], d["d_ff"], seed)
    mg_net, ref = MinigradGPT(w, d), NumpyGPT(w, d)
    x, y = batches[0]
    loss = mg_net.net.loss(x, y)
    loss.backward()
    ref_loss = ref.net.loss_and_grads(x, y)
    params = dict(mg_net.net.named_parameters())
    grad_diff = 0.0
    for k, (name, tr) in mg_net.names.items():
        g = params[name].grad.data
        g_ref = ref.net.fp.g[k]
        g = g.T if tr else g
        grad_diff = max(grad_diff, float(np.max(np.abs(g - g_ref)) / np.max(np.abs(g_ref))))
    return {"loss": abs(float(loss.data) - ref_loss) / abs(ref_loss), "grads": grad_diff}


# ----------------------------------------------------------------------------- profile


def profile(d: dict[str, Any], seed: int, batches: list[Any], steps: int) -> dict[str, Any]:
    """Time inside each op's forward and backward over `steps` minigrad GPT steps."""
    from minigrad.core import Function

    w = init_gpt(d["vocab"], d["context"], d["d_model"], d["n_layers"], d["d_ff"], seed)
    tr = MinigradGPT(w, d)
    tr.step(*batches[0])
    acc: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0.0, 0])
    patched = []

    def subclasses(cls: type) -> list[type]:
        out = []
        for s in cls.__subclasses__():
            out.append(s)
            out.extend(subclasses(s))
        return out

    def wrap(cls: type, meth: str) -> None:
        orig = cls.__dict__[meth]
        key = (cls.__name__, meth)

        @functools.wraps(orig)
        def timed(self: Any, *a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(self, *a, **k)
            finally:
                e = acc[key]
                e[0] += time.perf_counter() - t0
                e[1] += 1

        setattr(cls, meth, timed)
        patched.append((cls, meth, orig))

    for cls in set(subclasses(Function)):
        for meth in ("forward", "backward"):
            if meth in cls.__dict__:
                wrap(cls, meth)
    try:
        t0 = time.perf_counter()
        for i in range(steps):
            tr.step(*batches[i % len(batches)])
        total = time.perf_counter() - t0
    finally:
        for cls, meth, orig in patched:
            setattr(cls, meth, orig)
    # A backward that calls another op's forward (recorded backward) is counted in both.
    rows = sorted(acc.items(), key=lambda kv: -kv[1][0])
    step_ms = total / steps * 1e3
    table = [
        {"op": c, "method": m, "ms_per_step": t / steps * 1e3, "calls_per_step": n / steps}
        for (c, m), (t, n) in rows
    ]
    inside = sum(r["ms_per_step"] for r in table)
    print(f"minigrad GPT step, time inside ops ({steps} steps, {step_ms:.2f} ms/step, clocks on):")
    C.print_table(
        ["op.method", "ms/step", "share", "calls/step"],
        [
            [
                f"{r['op']}.{r['method']}",
                f"{r['ms_per_step']:.3f}",
                f"{r['ms_per_step'] / step_ms:.1%}",
                f"{r['calls_per_step']:.0f}",
            ]
            for r in table
            if r["ms_per_step"] >= 0.005 * step_ms
        ]
        + [
            [
                "(outside ops: engine, modules, optimizer)",
                f"{step_ms - inside:.3f}",
                f"{1 - inside / step_ms:.1%}",
                "",
            ]
        ],
    )
    return {"step_ms": step_ms, "ops": table, "outside_ms": step_ms - inside}


def profile_reference(d: dict[str, Any], seed: int, batches: list[Any], steps: int) -> list[Any]:
    """The statements of the hand-written block's forward and backward that take the most
    time over `steps` GPT steps of numpy32 (_linetime.py: a clock read after each
    statement, its cost subtracted), to set beside minigrad's per-op times."""
    import _transformer_reference as ref_mod
    from _linetime import LineTimer

    w = init_gpt(d["vocab"], d["context"], d["d_model"], d["n_layers"], d["d_ff"], seed)
    tr = NumpyGPT(w, d)
    tr.step(*batches[0])
    lt = LineTimer()
    lt.calibrate()
    for fn in (ref_mod.BlockRef.forward, ref_mod.BlockRef.backward):
        lt.patch(fn, where=["_transformer_reference"])
    try:
        t0 = time.perf_counter()
        for i in range(steps):
            tr.step(*batches[i % len(batches)])
        step_ms = (time.perf_counter() - t0) / steps * 1e3
    finally:
        lt.restore()
    rows = sorted(lt.rows(steps), key=lambda r: -r["us"])
    top = [r for r in rows if r["us"] >= 0.01 * step_ms * 1e3][:14]
    print(
        f"numpy32 GPT step, the block's costliest statements ({steps} steps, {step_ms:.2f} ms/step):"
    )
    C.print_table(
        ["statement", "ms/step", "share"],
        [[r["source"][:70], f"{r['us'] / 1e3:.3f}", f"{r['us'] / 1e3 / step_ms:.1%}"] for r in top],
    )
    return [{**r, "step_ms": step_ms} for r in top]


# ----------------------------------------------------------------------------- memory


def child(kind: str, steps: int, seed: int) -> dict[str, Any]:
    """In a fresh process: GPT training steps; the RSS before and the peak during."""
    d = defaults()
    batches = make_batches(d, 2, seed)["step"]
    w = init_gpt(d["vocab"], d["context"], d["d_model"], d["n_layers"], d["d_ff"], seed)
    tr = MinigradGPT(w, d) if kind == "minigrad" else NumpyGPT(w, d)
    tr.step(*batches[0])  # the first step allocates what every step reuses
    return {"kind": kind, **steps_peak(tr.step, batches, steps)}


def bench_memory(steps: int, repeats: int, seed: int, threads: int | None) -> dict[str, Any]:
    runs = child_runs(__file__, ["--mem-steps", str(steps), "--seed", str(seed)], repeats, threads)
    med = median_peaks(runs, ("rss_before", "steps_peak", "process_peak"), increment="increment")
    print(f"GPT step peak RSS, MiB (fresh process each, {steps} steps, median of {repeats}):")
    C.print_table(
        ["", "RSS before steps", "peak during steps", "steps' own peak"],
        [[k, mib(m["rss_before"]), mib(m["peak"]), mib(m["increment"])] for k, m in med.items()],
    )
    ratio, inc = peak_ratios(med, increment="increment")
    return {"runs": runs, "median": med, "peak_ratio": ratio, "increment_ratio": inc}


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = C.make_parser(
        "Transformer block and GPT training step: minigrad vs hand-written NumPy and PyTorch; "
        "peak memory; minigrad's time per op.",
        __doc__,
    )
    p.add_argument("--steps", type=int, default=10, help="GPT steps per block (10)")
    p.add_argument("--block-steps", type=int, default=20, help="block steps per block (20)")
    p.add_argument("--profile-steps", type=int, default=20, help="steps of the per-op profile")
    p.add_argument("--mem-steps", type=int, default=5, help="GPT steps per memory run")
    p.add_argument("--seed", type=int, default=0, help="weights and batches seed")
    p.add_argument("--no-memory", action="store_true", help="skip the peak RSS runs")
    p.add_argument("--no-profile", action="store_true", help="skip the per-op profile")
    C.add_threads_arg(p)
    p.add_argument("--child", choices=["minigrad", "numpy32"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 1)
        args.block_steps = min(args.block_steps, 2)
        args.profile_steps = min(args.profile_steps, 1)
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
    d = defaults()
    print(
        f"bench_transformer: GPT of examples/gpt.py: vocab {d['vocab']}, batch {d['batch']} x "
        f"context {d['context']}, d_model {d['d_model']}, {d['n_heads']} heads, "
        f"{d['n_layers']} blocks, d_ff {d['d_ff']}, float32, Adam lr {d['lr']}"
    )
    C.print_env(info)
    batches = make_batches(d, 4, args.seed)
    rng = np.random.default_rng(args.seed)
    wb = init_block(d["d_model"], d["d_ff"], rng)
    block_cands: dict[str, Any] = {"minigrad": MinigradBlock(wb, d), "numpy32": NumpyBlock(wb, d)}
    if torch is not None:
        block_cands["torch"] = TorchBlock(torch, wb, d)
    block = run_table(
        "block forward + backward", block_cands, batches["block"], args, args.block_steps
    )
    w = init_gpt(d["vocab"], d["context"], d["d_model"], d["n_layers"], d["d_ff"], args.seed)
    step_cands: dict[str, Any] = {"minigrad": MinigradGPT(w, d), "numpy32": NumpyGPT(w, d)}
    if torch is not None:
        step_cands["torch"] = TorchGPT(torch, w, d)
    step = run_table("GPT training step", step_cands, batches["step"], args, args.steps)
    exact = exactness(d, args.seed, batches["step"])
    print(
        f"exactness of one step vs numpy32: loss rel diff {exact['loss']:.2e}, "
        f"max |g - g_ref| / max |g_ref| {exact['grads']:.2e}\n"
    )
    prof = None
    if not args.no_profile:
        prof = profile(d, args.seed, batches["step"], args.profile_steps)
        prof["reference"] = profile_reference(d, args.seed, batches["step"], args.profile_steps)
    memory = (
        None
        if args.no_memory
        else bench_memory(args.mem_steps, 1 if args.quick else 3, args.seed, args.threads)
    )

    def ratio(res: dict[str, Any], name: str) -> float | None:
        r = res["ratios"].get(name)
        return None if r is None else r["median"]

    bars = [
        C.Bar("GPT step minigrad/torch ms/step", ratio(step, "minigrad/torch"), "<=", 1.5),
        C.Bar("block minigrad/numpy32 ms/step", ratio(block, "minigrad/numpy32"), "<=", 1.2),
        C.Bar(
            "GPT step peak RSS minigrad/numpy32",
            None if memory is None else memory["peak_ratio"],
            "<=",
            1.3,
        ),
        C.Bar("exactness: gradients' max rel diff vs numpy32", exact["grads"], "<=", 1e-4),
    ]
    C.print_bars(bars)
    C.write_json(
        args.json,
        {
            "benchmark": "transformer",
            "env": info,
            "config": {**d, "quick": args.quick, "blocks": args.blocks},
            "threads": args.threads,
            "block": block,
            "step": step,
            "exactness": exact,
            "profile": prof,
            "memory": memory,
            "bars": [b.as_dict() for b in bars],
        },
    )
    del limits
    return C.finish(bars, args.check)


if __name__ == "__main__":
    sys.exit(main())
