"""Train a character language model (embedding -> LSTM, GRU or RNN -> linear) with minigrad.

    python examples/charlm.py                   # LSTM on Python's own help text, ~4.5 minutes
    python examples/charlm.py --model gru --minutes 2
    python examples/charlm.py --text book.txt --steps 2000

The corpus needs no download: the help pages that ship with every Python (pydoc_data.topics,
about 465,000 characters), or any UTF-8 file given with --text; its last 10% is the
validation text. Training reads the text as --batch-size parallel streams, --context
characters at a time, the recurrent state carried from one chunk to the next and its history
cut (truncated backprop through time). After every --eval-every steps one line
`step 400  train_loss 1.6012  val_loss 1.6633  bigram 2.4873  ratio 0.669  61.2s`, the losses
in nats per character, beside the validation loss of a bigram model counted on the same
training text. Then a generated sample; the last line of stdout is
`val_loss <value> bigram <value>`. Written to --out (default out/): curves.png, the weights
(charlm_<model>.npz) and sample.txt; with --export PATH the model as ONNX (ids -> logits),
checked against onnxruntime. Progress bars need tqdm and curves.png matplotlib
(`pip install minigrad[examples]`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import F, nn
from minigrad.data.text import CharVocab, bigram_loss, load_text, split_ids

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import count, make_optimizer, plot_lm_curves, progress, warn  # noqa: E402

# The defaults: validation loss about 0.6x the bigram's in 4.5 minutes on 2 busy cores.
MODEL, HIDDEN, EMBED, LAYERS = "lstm", 256, 32, 1
BATCH_SIZE, CONTEXT, OPTIMIZER, LR, MINUTES, EVAL_EVERY = 32, 64, "adam", 0.003, 4.5, 100
LAYER = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharLM(nn.Module):
    """ids (N, T) -> logits (N, T, V): embedding, a recurrent layer (batch_first), linear."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, model: str) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = LAYER[model](embed, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab, init="xavier_normal")
        self.vocab = vocab

    def step(self, ids: Any, state: Any = None) -> tuple[mg.Variable, Any]:
        """(logits (N*T, V), the state after the last step)."""
        y, state = self.rnn(self.embed(ids), state)
        n, t, h = y.shape
        return self.fc(y.reshape(n * t, h)), state

    def forward(self, ids: Any) -> mg.Variable:
        """ids (N, T) -> logits (N, T, V), from the zero state (what --export writes)."""
        logits, _ = self.step(ids)
        n, t = np.shape(ids)
        return logits.reshape(n, t, self.vocab)


def detached(state: Any) -> Any:
    """The state cut from its history (truncated BPTT): a tuple (LSTM's h, c) or one array."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def train_step(model: CharLM, opt: Any, x: np.ndarray, y: np.ndarray, state: Any) -> Any:
    """One truncated-BPTT step on ids x -> next ids y, both (N, T): (the loss, the state cut
    from its history). A function, so that this step's graph (every array of its forward,
    which the graph keeps after backward too) is freed on return, not kept alive by a loop's
    `loss` while the next step's forward runs; the gradients are dropped before the forward
    for the same reason (PyTorch's order)."""
    opt.zero_grad()
    logits, state = model.step(x, state)
    loss = F.softmax_cross_entropy(logits, y.reshape(-1))
    loss.backward()
    opt.step()
    return float(loss), detached(state)  # truncated BPTT: the next chunk starts from here


def streams(ids: np.ndarray, n: int) -> np.ndarray:
    """The ids as n parallel streams, (n, len(ids) // n): stream k is the k-th n-th of the
    text, so consecutive chunks of a row continue one another."""
    length = len(ids) // n
    return ids[: n * length].reshape(n, length)


def evaluate(model: CharLM, ids: np.ndarray, n: int, context: int) -> float:
    """The mean loss in nats per character over `ids`, read as n streams in chunks of
    `context`, the state carried."""
    rows = streams(ids, n)
    total, chars, state = 0.0, 0, None
    with mg.no_grad():
        for i in range(0, rows.shape[1] - 1, context):
            x = rows[:, i : min(i + context, rows.shape[1] - 1)]
            y = rows[:, i + 1 : i + 1 + x.shape[1]]
            logits, state = model.step(x, state)
            total += float(F.softmax_cross_entropy(logits, y.reshape(-1))) * y.size
            chars += y.size
    return total / chars


def generate(model: CharLM, vocab: CharVocab, prompt: str, length: int, rng: Any) -> str:
    """`prompt` continued by `length` characters drawn from the model (temperature 0.8)."""
    ids = vocab.encode(prompt)
    out = list(ids)
    with mg.no_grad():
        logits, state = model.step(ids[None, :])
        for _ in range(length):
            z = logits.data[-1].astype(np.float64) / 0.8
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model.step(np.array([[nxt]]), state)
    return vocab.decode(np.array(out))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a character language model with minigrad.")
    p.add_argument("--model", choices=sorted(LAYER), default=MODEL, help=f"layer ({MODEL})")
    p.add_argument("--text", help="a UTF-8 text file (default: Python's help topics)")
    p.add_argument("--hidden", type=int, default=HIDDEN, help=f"hidden units ({HIDDEN})")
    p.add_argument("--embed", type=int, default=EMBED, help=f"embedding size ({EMBED})")
    p.add_argument("--layers", type=int, default=LAYERS, help=f"recurrent layers ({LAYERS})")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"streams ({BATCH_SIZE})")
    p.add_argument(
        "--context", type=int, default=CONTEXT, help=f"steps of backprop through time ({CONTEXT})"
    )
    p.add_argument(
        "--optimizer",
        choices=["sgd", "momentum", "adagrad", "adam"],
        default=OPTIMIZER,
        help=f"update rule ({OPTIMIZER})",
    )
    p.add_argument("--lr", type=float, default=LR, help=f"learning rate ({LR})")
    p.add_argument(
        "--minutes", type=float, default=MINUTES, help=f"training time budget ({MINUTES})"
    )
    p.add_argument("--steps", type=int, help="stop after this many steps (else by --minutes)")
    p.add_argument(
        "--eval-every",
        type=int,
        default=EVAL_EVERY,
        help=f"steps between evaluations ({EVAL_EVERY})",
    )
    p.add_argument("--sample", type=int, default=300, help="characters to generate (300)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the sample (0)")
    p.add_argument("--out", default="out", help="folder for curves.png, the weights, sample.txt")
    p.add_argument(
        "--export",
        metavar="PATH",
        help="also write the model to PATH as ONNX (ids -> logits) and compare onnxruntime's "
        "logits with minigrad's (needs pip install 'minigrad[onnx]')",
    )
    args = p.parse_args(argv)
    for name in ("hidden", "embed", "layers", "batch_size", "context", "eval_every", "steps"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if not args.lr > 0 or not args.minutes > 0 or args.sample < 0:
        p.error("--lr and --minutes must be positive and --sample at least 0")
    if args.export is not None:
        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            p.error(f"--export needs {' and '.join(missing)}: pip install 'minigrad[onnx]'")
    return args


def export(model: CharLM, path: str, x: np.ndarray) -> None:
    """Write the model as ONNX (any batch size; the sequence length of x) and compare
    onnxruntime's logits with minigrad's on x."""
    import onnxruntime as ort

    import minigrad.onnx

    minigrad.onnx.export(model, x[:2], path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    with mg.no_grad():
        want = model(x).data
    diff = float(np.max(np.abs(got - want)))
    print(f"wrote {path}: onnxruntime's logits on {x.shape} ids differ by {diff:.2e}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)  # before training: a bad --out fails at once
    text = load_text(args.text)
    vocab = CharVocab(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    bigram = bigram_loss(train_ids, val_ids, len(vocab))
    rows = streams(train_ids, args.batch_size)
    if rows.shape[1] <= args.context:
        sys.exit(
            f"charlm: the training text is too short for {args.batch_size} streams of "
            f"--context {args.context}"
        )
    np.random.seed(args.seed)  # noqa: NPY002 - the layers draw their weights from np.random
    model = CharLM(len(vocab), args.embed, args.hidden, args.layers, args.model)
    opt = make_optimizer(args.optimizer, model.parameters(), args.lr)
    print(
        f"charlm: {args.model.upper()} {args.layers}x{args.hidden}, embedding {args.embed}, "
        f"{len(vocab)} characters, {len(train_ids):,} train / {len(val_ids):,} validation, "
        f"batch {args.batch_size} x {args.context}, {args.optimizer} lr {args.lr}, "
        + (count(args.steps, "step") if args.steps else f"{args.minutes:g} minutes")
        + f", bigram {bigram:.4f}",
        flush=True,
    )
    history: dict[str, list[float]] = {"step": [], "train": [], "val": []}
    budget = args.minutes * 60
    start = time.perf_counter()
    step, state, pos, done = 0, None, 0, False
    while not done:
        k = args.eval_every if not args.steps else min(args.eval_every, args.steps - step)
        losses = []
        for _ in progress(range(k), k, f"steps {step + 1}-{step + k}"):
            if pos + args.context + 1 > rows.shape[1]:
                pos, state = 0, None  # one pass over the streams done: start again
            x = rows[:, pos : pos + args.context]
            y = rows[:, pos + 1 : pos + 1 + args.context]
            pos += args.context
            loss, state = train_step(model, opt, x, y, state)
            losses.append(loss)
            step += 1
            if not args.steps and time.perf_counter() - start >= budget:
                break
        done = step == args.steps if args.steps else time.perf_counter() - start >= budget
        val = evaluate(model, val_ids, args.batch_size, args.context)
        history["step"].append(step)
        history["train"].append(float(np.mean(losses)))
        history["val"].append(val)
        print(
            f"step {step}  train_loss {history['train'][-1]:.4f}  val_loss {val:.4f}  "
            f"bigram {bigram:.4f}  ratio {val / bigram:.3f}  {time.perf_counter() - start:.1f}s",
            flush=True,
        )
    elapsed = time.perf_counter() - start
    print(f"trained {count(step, 'step')} in {elapsed:.1f}s", flush=True)

    # The prompt "The ", or the validation text's first characters if the text has no "T".
    prompt = "The " if set("The ") <= set(vocab.chars) else vocab.decode(val_ids[:4])
    sample = generate(model, vocab, prompt, args.sample, np.random.default_rng(args.seed))
    print("sample: " + sample.replace("\n", "\n        "), flush=True)
    with open(os.path.join(args.out, "sample.txt"), "w", encoding="utf-8") as f:
        f.write(sample + "\n")
    weights = model.save(os.path.join(args.out, f"charlm_{args.model}.npz"))
    print(f"wrote {weights}", flush=True)
    try:
        curves = os.path.join(args.out, "curves.png")
        plot_lm_curves(
            history, bigram, curves, f"character LM ({args.model.upper()} {args.hidden})"
        )
        print(f"wrote {curves}", flush=True)
    except ImportError:
        warn("curves.png needs matplotlib: pip install 'minigrad[examples]'")
    if args.export is not None:
        export(model, args.export, streams(val_ids, 3)[:, : 2 * args.context])
    print(f"val_loss {history['val'][-1]:.4f} bigram {bigram:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
