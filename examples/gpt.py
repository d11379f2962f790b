"""Train a character-level GPT with minigrad, on text that needs no download.

    python examples/gpt.py                         # the defaults: 0.59x the bigram, 4 min
    python examples/gpt.py --text my_book.txt      # any other UTF-8 text
    python examples/gpt.py --steps 200 --eval-every 50
    python examples/gpt.py --generate 300 --prompt "The "   # from the saved weights

The text is Python's own help topics (`pydoc_data.topics`, in every Python install; see
`minigrad.data.text.load_text`), one character a token; the last 10% is the validation
split. The model is `minigrad.nn.GPT`: token and position embeddings, pre-norm transformer
blocks (causal self-attention and a GELU feed-forward), a final layer norm and a head tied to
the token embedding. Defaults: 2 blocks, 64 wide, 4 heads, feed-forward 256, context 64,
batches of 32 windows drawn at random, Adam, the learning rate constant and then decayed
(cosine) over the last half, float32, one BLAS thread.

Every `--eval-every` steps one line

    step 500/3000  train 1.8121  val 1.9034  bigram 2.4602  val/bigram 0.774  41.2s

(losses in nats per character, on fixed batches of each split; the bigram baseline is the
best a model of the previous character alone does on the same split, `bigram_loss`), then a
line `sample: ...` generated from the start of the validation text. The last line of stdout
is `val_loss <value> bigram <value>`.

Written to --out (default out/): curves.png (train and validation loss per evaluation beside
the bigram line), attention.png (each head's attention weights on a sentence of the
validation text, characters on both axes), graph.png (the graph of one block on a short
input, modules boxed), gpt.npz (the weights) and gpt.json (the settings and the vocabulary,
which `--generate N --prompt TEXT` reads back). `--export PATH` writes the model as ONNX
(opset 17; any batch size, windows of the full context, a shorter one padded on the right)
and prints onnxruntime's validation loss and largest logit difference beside minigrad's.

Measured on a shared 2-core machine under a load average of ~11 (seed 0, one BLAS thread):
the defaults reach a validation loss of 1.365 nats per character against the bigram's 2.324
(0.588x) in 1000 steps, 3 min 47 s of training (216 ms per step) and 4 min 4 s of wall time
in all, ONNX export included.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# One BLAS thread unless the environment says otherwise (set before NumPy loads OpenBLAS):
# this model's products are small, and on a shared 2-core machine a second thread mostly
# waits for a core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn, optim  # noqa: E402
from minigrad.data.text import CharVocab, bigram_loss, load_text, sample_batch, split_ids  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import count, plot_lm_curves, warn  # noqa: E402

#: The default model and training (also read by benchmarks/bench_transformer.py).
DEFAULTS: dict[str, Any] = {
    "n_layers": 2,
    "d_model": 64,
    "n_heads": 4,
    "d_ff": 256,
    "context": 64,
    "batch": 32,
    "lr": 5e-3,
    "steps": 1000,
    "eval_every": 200,
}
EVAL_BATCHES = 8  # batches of each split per evaluation (fixed: the same windows every time)
SAMPLE_CHARS = 120
WEIGHTS, SETTINGS = "gpt.npz", "gpt.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a character-level GPT with minigrad.")
    p.add_argument("--text", help="a UTF-8 text file (default: Python's pydoc help topics)")
    p.add_argument("--steps", type=int, help=f"training steps ({DEFAULTS['steps']})")
    p.add_argument(
        "--eval-every", type=int, help=f"steps between evaluations ({DEFAULTS['eval_every']})"
    )
    p.add_argument("--batch-size", type=int, help=f"windows per batch ({DEFAULTS['batch']})")
    p.add_argument("--context", type=int, help=f"characters per window ({DEFAULTS['context']})")
    p.add_argument("--layers", type=int, help=f"transformer blocks ({DEFAULTS['n_layers']})")
    p.add_argument("--d-model", type=int, help=f"width ({DEFAULTS['d_model']})")
    p.add_argument("--heads", type=int, help=f"attention heads ({DEFAULTS['n_heads']})")
    p.add_argument("--d-ff", type=int, help=f"feed-forward width ({DEFAULTS['d_ff']})")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout probability (0)")
    p.add_argument("--lr", type=float, help=f"Adam's learning rate ({DEFAULTS['lr']})")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the batches (0)")
    p.add_argument("--out", default="out", help="folder for the pictures and weights (out/)")
    p.add_argument(
        "--export", metavar="PATH", help="also write the model as ONNX and check it (onnxruntime)"
    )
    p.add_argument(
        "--generate",
        type=int,
        metavar="N",
        help="do not train: load --out's weights and print N characters after --prompt",
    )
    p.add_argument("--prompt", default="\n", help="the text --generate continues (a newline)")
    p.add_argument(
        "--temperature", type=float, default=0.8, help="sampling temperature (0.8; 0: greedy)"
    )
    args = p.parse_args(argv)
    for name in ("steps", "eval_every", "batch_size", "context", "layers", "d_model", "heads"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.d_ff is not None and args.d_ff <= 0:
        p.error(f"--d-ff must be positive, got {args.d_ff}")
    if args.lr is not None and not args.lr > 0:
        p.error(f"--lr must be positive, got {args.lr}")
    if not 0 <= args.dropout < 1:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.generate is not None and args.generate < 0:
        p.error(f"--generate must be >= 0, got {args.generate}")
    if args.temperature < 0:
        p.error(f"--temperature must be >= 0, got {args.temperature}")
    d_model = args.d_model or DEFAULTS["d_model"]
    heads = args.heads or DEFAULTS["n_heads"]
    if d_model % heads:
        p.error(f"--d-model {d_model} is not divisible by --heads {heads}")
    return args


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run's model and training settings: the options given, else DEFAULTS."""
    d = dict(DEFAULTS)
    for key, opt in [
        ("n_layers", "layers"),
        ("d_model", "d_model"),
        ("n_heads", "heads"),
        ("d_ff", "d_ff"),
        ("context", "context"),
        ("batch", "batch_size"),
        ("lr", "lr"),
        ("steps", "steps"),
        ("eval_every", "eval_every"),
    ]:
        if getattr(args, opt) is not None:
            d[key] = getattr(args, opt)
    if args.d_ff is None and args.d_model is not None:
        d["d_ff"] = 4 * d["d_model"]
    d["dropout"] = args.dropout
    return d


def make_model(vocab_size: int, s: dict[str, Any]) -> nn.GPT:
    return nn.GPT(
        vocab_size,
        s["context"],
        s["d_model"],
        s["n_layers"],
        s["n_heads"],
        d_ff=s["d_ff"],
        dropout=s.get("dropout", 0.0),
        dtype=np.float32,
    )


def eval_batches(ids: np.ndarray, s: dict[str, Any], seed: int) -> list[tuple[Any, Any]]:
    """Fixed windows of a split, the same at every evaluation."""
    rng = np.random.default_rng(seed)
    return [sample_batch(ids, s["batch"], s["context"], rng) for _ in range(EVAL_BATCHES)]


def mean_loss(net: nn.GPT, batches: list[tuple[Any, Any]]) -> float:
    """Mean cross-entropy in nats per character, dropout off, no graph."""
    previous = net.training
    net.eval()
    with mg.no_grad():
        losses = [float(net.loss(x, y).data) for x, y in batches]
    net.train(previous)
    return float(np.mean(losses))


def sample_text(
    net: nn.GPT, vocab: CharVocab, prompt: str, n: int, temperature: float, seed: int
) -> str:
    ids = vocab.encode(prompt)[None]
    out = net.generate(ids, n, temperature=temperature, rng=np.random.default_rng(seed))
    return vocab.decode(out[0, ids.shape[1] :])


def learning_rate(step: int, steps: int, lr: float) -> float:
    """Constant for the first half, then a cosine down to a tenth of it at the end."""
    half = steps // 2
    if step < half:
        return lr
    frac = (step - half) / max(1, steps - half)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def train(args: argparse.Namespace) -> int:
    s = settings(args)
    os.makedirs(args.out, exist_ok=True)  # before training: a bad --out fails at once
    text = load_text(args.text)
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    train_ids, val_ids = split_ids(ids)
    if len(val_ids) <= s["context"] + 1 or len(train_ids) <= s["context"] + 1:
        raise SystemExit(
            f"gpt.py: the text has {len(ids)} characters: too few for a context of "
            f"{s['context']} in both splits (give more text or a smaller --context)"
        )
    bigram = bigram_loss(train_ids, val_ids, len(vocab))
    np.random.seed(args.seed)  # noqa: NPY002 - minigrad's initializers draw from np.random
    net = make_model(len(vocab), s)
    opt = optim.Adam(net.parameters(), lr=s["lr"])
    rng = np.random.default_rng(args.seed)
    train_eval = eval_batches(train_ids, s, args.seed + 1)
    val_eval = eval_batches(val_ids, s, args.seed + 2)
    n_params = sum(p.size for p in net.parameters())
    print(
        f"GPT {s['n_layers']} blocks, d_model {s['d_model']}, {s['n_heads']} heads, d_ff "
        f"{s['d_ff']}, context {s['context']}, {n_params} parameters; vocabulary "
        f"{len(vocab)}, {len(train_ids)} train / {len(val_ids)} val characters; Adam lr "
        f"{s['lr']}, batch {s['batch']}, {count(s['steps'], 'step')}, seed {args.seed}",
        flush=True,
    )
    history: dict[str, list[float]] = {"step": [], "train": [], "val": []}
    prompt = vocab.decode(val_ids[:20])
    start = time.perf_counter()
    train_time = 0.0
    for step in range(1, s["steps"] + 1):
        t0 = time.perf_counter()
        opt.lr = learning_rate(step - 1, s["steps"], s["lr"])
        x, y = sample_batch(train_ids, s["batch"], s["context"], rng)
        loss = net.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_time += time.perf_counter() - t0
        if step % s["eval_every"] == 0 or step == s["steps"]:
            tr, va = mean_loss(net, train_eval), mean_loss(net, val_eval)
            history["step"].append(step)
            history["train"].append(tr)
            history["val"].append(va)
            print(
                f"step {step}/{s['steps']}  train {tr:.4f}  val {va:.4f}  bigram {bigram:.4f}  "
                f"val/bigram {va / bigram:.3f}  {time.perf_counter() - start:.1f}s",
                flush=True,
            )
            sample = sample_text(net, vocab, prompt, SAMPLE_CHARS, args.temperature, args.seed)
            print(f"sample: {(prompt + sample)!r}", flush=True)
    elapsed = time.perf_counter() - start
    print(
        f"trained in {elapsed:.1f}s ({train_time / s['steps'] * 1e3:.1f} ms per step, "
        "evaluations excluded)",
        flush=True,
    )
    write_outputs(net, vocab, s, history, bigram, val_ids, args.out)
    if args.export is not None:
        export_gpt(net, args.export, val_ids, s)
    print(f"val_loss {history['val'][-1]:.4f} bigram {bigram:.4f}", flush=True)
    return 0


def write_outputs(
    net: nn.GPT,
    vocab: CharVocab,
    s: dict[str, Any],
    history: dict[str, list[float]],
    bigram: float,
    val_ids: np.ndarray,
    out: str,
) -> None:
    weights = net.save(os.path.join(out, WEIGHTS))
    with open(os.path.join(out, SETTINGS), "w", encoding="utf-8") as f:
        json.dump({"settings": s, "chars": vocab.decode(np.arange(len(vocab)))}, f)
    print(f"wrote {weights}", flush=True)
    try:
        path = plot_lm_curves(history, bigram, os.path.join(out, "curves.png"))
        print(f"wrote {path}", flush=True)
        sentence = attention_sentence(vocab.decode(val_ids), min(s["context"], 32))
        path = plot_attention(net, vocab, sentence, os.path.join(out, "attention.png"))
        print(f"wrote {path}", flush=True)
    except ImportError:
        warn("curves.png and attention.png need matplotlib: pip install 'minigrad[examples]'")
    try:
        path = draw_block_graph(net, val_ids[:4], os.path.join(out, "graph.png"))
        print(f"wrote {path}", flush=True)
    except (ImportError, RuntimeError, OSError) as e:
        warn(f"graph.png was not drawn: {e}")


def attention_sentence(text: str, n: int) -> str:
    """The first line-free stretch of `n` characters that starts a sentence, else the start."""
    for i in range(len(text) - n):
        piece = text[i : i + n]
        if (i == 0 or text[i - 1] in ". \n") and piece[0].isupper() and "\n" not in piece:
            return piece
    return text[:n]


def attention_maps(net: nn.GPT, ids: np.ndarray) -> list[np.ndarray]:
    """Each block's attention weights on ids (T,): a list of (n_heads, T, T) arrays, the
    rows the queries and the columns the keys (each row sums to 1)."""
    net.eval()
    maps = []
    with mg.no_grad():
        x = net.tok_emb(ids[None]) + net.pos_emb(np.arange(len(ids)))
        for blk in net.blocks:
            h = blk.ln1(x)
            _, w = blk.attn(h, h, h, average_attn_weights=False, is_causal=blk.causal)
            maps.append(w.data[0])
            x = blk(x)
    net.train()
    return maps


def plot_attention(net: nn.GPT, vocab: CharVocab, sentence: str, path: str) -> str:
    """attention.png: one panel per block and head, the sentence's characters on both axes
    (query down the side, key along the top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = attention_maps(net, vocab.encode(sentence))
    rows, cols = len(maps), maps[0].shape[0]
    chars = [repr(c)[1:-1] if c != " " else "\u2423" for c in sentence]
    size = max(3.0, 0.16 * len(sentence))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for b, layer in enumerate(maps):
        for h, w in enumerate(layer):
            ax = axes[b, h]
            ax.imshow(w, cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(len(chars)), chars, fontsize=7, family="monospace")
            ax.set_yticks(range(len(chars)), chars, fontsize=7, family="monospace")
            ax.tick_params(length=0, labeltop=True, labelbottom=False)
            ax.set_xlabel(f"block {b + 1}, head {h + 1}", fontsize=9)
    fig.suptitle("attention weights: each row a query character, each column a key it reads")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw_block_graph(net: nn.GPT, ids: np.ndarray, path: str) -> str:
    """graph.png: the graph of the first block on a few characters' embeddings, modules
    boxed."""
    with mg.no_grad():
        x = (net.tok_emb(ids[None]) + net.pos_emb(np.arange(len(ids)))).data
    return net.blocks[0].draw_graph(mg.Variable(x, name="x", requires_grad=False), path)


def pad_to_context(ids: np.ndarray, context: int) -> np.ndarray:
    """ids (N, T), T <= context, padded on the right to (N, context) with token 0. The
    exported file takes windows of the full context; the model is causal, so the logits at
    positions < T do not depend on the padding after them."""
    out = np.zeros((ids.shape[0], context), np.int64)
    out[:, : ids.shape[1]] = ids
    return out


def export_gpt(net: nn.GPT, path: str, val_ids: np.ndarray, s: dict[str, Any]) -> None:
    """Write the model to ONNX (opset 17, any batch size, windows of the full context) and
    print onnxruntime's loss and largest logit difference beside minigrad's, on a batch of
    another size and a shorter context (padded)."""
    import onnxruntime as ort

    import minigrad.onnx

    net.eval()
    example, _ = sample_batch(val_ids, 2, s["context"], np.random.default_rng(0))
    minigrad.onnx.export(net, example, path, input_names=["ids"], output_names=["logits"])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    t = max(1, s["context"] // 2 + 1)
    x, y = sample_batch(val_ids, 5, t, np.random.default_rng(1))
    (logits,) = session.run(None, {"ids": pad_to_context(x, s["context"])})
    logits = logits[:, :t]
    with mg.no_grad():
        ours = net(x).data
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    ort_loss = -float(np.take_along_axis(logp, y[..., None], -1).mean())
    z = ours - ours.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    mg_loss = -float(np.take_along_axis(logp, y[..., None], -1).mean())
    diff = float(np.max(np.abs(logits - ours)))
    print(
        f"wrote {path}: on 5 windows of {t} characters, onnxruntime val loss {ort_loss:.4f}  "
        f"minigrad {mg_loss:.4f}  max |logits difference| {diff:.1e}",
        flush=True,
    )
    net.train()


def generate(args: argparse.Namespace) -> int:
    """Load --out's weights and settings and continue --prompt by --generate characters."""
    try:
        with open(os.path.join(args.out, SETTINGS), encoding="utf-8") as f:
            saved = json.load(f)
    except FileNotFoundError:
        raise SystemExit(
            f"gpt.py: no {SETTINGS} in {args.out}: train first (python examples/gpt.py "
            f"--out {args.out})"
        ) from None
    vocab = CharVocab(saved["chars"])
    unknown = sorted(set(args.prompt) - set(saved["chars"]))
    if unknown:
        raise SystemExit(f"gpt.py: the prompt has characters the model never saw: {unknown}")
    net = make_model(len(vocab), saved["settings"])
    net.load(os.path.join(args.out, WEIGHTS))
    print(
        args.prompt
        + sample_text(net, vocab, args.prompt, args.generate, args.temperature, args.seed)
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.generate is not None:
        return generate(args)
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
