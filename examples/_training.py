"""What the training examples share (`mnist.py`, `cnn.py`): the optimizer by name, the
progress bar, the per-epoch line, the curves, and the ONNX export beside the test accuracy."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad import nn, optim


def add_common_args(p: argparse.ArgumentParser, optimizer: str, choices: Iterable[str]) -> None:
    """The options both training examples take, with the same meaning: --optimizer, --seed,
    --data-dir, --out, --dtype and --export."""
    p.add_argument(
        "--optimizer",
        choices=sorted(choices),
        help=f"update rule ({optimizer}; momentum is SGD with momentum 0.9)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the batch order (0)")
    p.add_argument("--data-dir", help="folder with the MNIST files (else $MINIGRAD_DATA, ...)")
    p.add_argument(
        "--out", default="out", help="folder for curves.png, graph.png and the weights (out/)"
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="float32 by default, float64 with --book (the book's NumPy default)",
    )
    p.add_argument(
        "--export",
        metavar="PATH",
        help="also write the trained model to PATH as ONNX and print onnxruntime's test "
        "accuracy beside minigrad's (float32; needs pip install 'minigrad[onnx]')",
    )


def check_args(
    p: argparse.ArgumentParser,
    args: argparse.Namespace,
    fixed: Iterable[str],
    positive: Iterable[str],
) -> None:
    """The checks both examples make: `--book` fixes the `fixed` options; the `positive` ones
    and --lr must be positive; --export needs onnx and onnxruntime."""
    given = [f"--{n.replace('_', '-')}" for n in fixed if getattr(args, n) is not None]
    if args.book and given:
        p.error(f"--book fixes the setting; drop {', '.join(given)}")
    for name in positive:
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.lr is not None and not args.lr > 0:
        p.error(f"--lr must be positive, got {args.lr}")
    if args.export is not None:
        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            p.error(f"--export needs {' and '.join(missing)}: pip install 'minigrad[onnx]'")


def progress(items: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
    """A tqdm bar on stderr when it is a terminal and tqdm is installed; else the items as is."""
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=desc, disable=None, leave=False, file=sys.stderr)


def make_optimizer(name: str, params: Any, lr: float) -> optim.Optimizer:
    """sgd, momentum (0.9), adagrad or adam."""
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adagrad":
        return optim.AdaGrad(params, lr=lr)
    return optim.Adam(params, lr=lr)


# The learning-rate schedules of --schedule, and whether each steps per batch (else per epoch).
SCHEDULES = {"none": False, "step": False, "cosine": True, "warmup": True, "onecycle": True}


def add_schedule_arg(p: argparse.ArgumentParser) -> None:
    """--schedule, the learning-rate schedule (see make_scheduler)."""
    p.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        help="learning-rate schedule (none): step (x0.1 after each third of the epochs), "
        "cosine (from --lr down to 0 over the run, per batch), warmup (linear from --lr/10 "
        "over the first epoch), onecycle (up to --lr and down, per batch)",
    )


def make_scheduler(
    name: str, opt: optim.Optimizer, epochs: int, steps_per_epoch: int
) -> optim.lr_scheduler.LRScheduler | None:
    """The scheduler of `name` for a run of `epochs` x `steps_per_epoch` (None for "none");
    `SCHEDULES[name]` says whether to step it after each batch or after each epoch."""
    S = optim.lr_scheduler
    total = epochs * steps_per_epoch
    if name == "step":
        return S.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return S.CosineAnnealingLR(opt, T_max=total)
    if name == "warmup":
        return S.LinearLR(opt, start_factor=0.1, total_iters=steps_per_epoch)
    if name == "onecycle":
        return S.OneCycleLR(opt, max_lr=opt.lr, total_steps=total)
    return None


def plot_curves(history: dict[str, list[float]], path: str, title: str = "") -> None:
    """Loss and accuracies per epoch, side by side, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = f"{title}: " if title else ""
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="mean mini-batch loss", title=f"{prefix}training loss")
    ax_acc.plot(epochs, history["train_acc"], marker="o", label="train")
    ax_acc.plot(epochs, history["test_acc"], marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{prefix}accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def count(n: int, noun: str) -> str:
    """`1 epoch`, `10 epochs`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def report(
    net: Any,
    epoch: int,
    epochs: int,
    losses: list[float],
    history: dict[str, list[float]],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    t0: float,
) -> None:
    """Measure the epoch's figures, keep them in `history` and print the epoch's line."""
    history["loss"].append(float(np.mean(losses)))
    history["train_acc"].append(net.accuracy(*train))
    history["test_acc"].append(net.accuracy(*test))
    print(
        f"epoch {epoch}/{epochs}  loss {history['loss'][-1]:.4f}  "
        f"train_acc {history['train_acc'][-1]:.4f}  test_acc {history['test_acc'][-1]:.4f}  "
        f"{time.perf_counter() - t0:.1f}s",
        flush=True,
    )


def export_onnx(net: nn.Module, path: str, x_test: Any, t_test: Any, acc: float) -> None:
    """Write the trained model to ONNX and print onnxruntime's test accuracy beside minigrad's."""
    import onnxruntime as ort

    import minigrad.onnx

    minigrad.onnx.export(net, x_test[:2], path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    labels = t_test if t_test.ndim == 1 else t_test.argmax(axis=1)
    correct = 0
    for i in range(0, len(x_test), 1000):
        (logits,) = session.run(None, {"x": x_test[i : i + 1000]})
        correct += int(np.count_nonzero(logits.argmax(axis=1) == labels[i : i + 1000]))
    ort_acc = correct / len(x_test)
    print(
        f"wrote {path}: onnxruntime test_acc {ort_acc:.4f}  minigrad test_acc {acc:.4f}", flush=True
    )


def plot_lm_curves(
    history: dict[str, list[float]], baseline: float, path: str, title: str = "character GPT"
) -> str:
    """A language model's train and validation loss per evaluation (nats per character) beside
    a baseline's (the bigram's) horizontal line, into a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(history["step"], history["train"], marker="o", label="train")
    ax.plot(history["step"], history["val"], marker="s", label="validation")
    ax.axhline(baseline, color="gray", linestyle="--", label=f"bigram baseline {baseline:.3f}")
    ax.set(xlabel="training step", ylabel="loss (nats per character)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
