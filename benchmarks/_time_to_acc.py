"""Time for minigrad to reach a test accuracy with the training setup of examples/mnist.py.

The setup (optimizer, learning rate, hidden size, batch size) is read from the example itself
(its `DEFAULTS`, `DEFAULT_LR` and `make_optimizer`), so the benchmark follows the example as it
changes; without the example: Adam lr 1e-3, hidden 100, batch 100.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["example_setup", "time_to_accuracy"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist.py"
FALLBACK = {"optimizer": "adam", "lr": 1e-3, "hidden": 100, "batch": 100}


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("_minigrad_mnist_example", EXAMPLE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {EXAMPLE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_setup() -> dict[str, Any]:
    """{'optimizer', 'lr', 'hidden', 'batch', 'source'}: the example's defaults or the fallback.

    The example states its defaults either as a dict `DEFAULTS` (optimizer, hidden,
    batch_size) or as module constants `OPTIMIZER`, `HIDDEN`, `BATCH_SIZE`; `DEFAULT_LR` maps
    an optimizer to its learning rate.
    """
    try:
        ex = _load_example()
        d = getattr(ex, "DEFAULTS", None) or {
            "optimizer": ex.OPTIMIZER,
            "hidden": ex.HIDDEN,
            "batch_size": ex.BATCH_SIZE,
        }
        name = d["optimizer"]
        return {
            "optimizer": name,
            "lr": ex.DEFAULT_LR[name],
            "hidden": d["hidden"],
            "batch": d["batch_size"],
            "source": "examples/mnist.py",
        }
    except (OSError, ImportError, AttributeError, KeyError, SyntaxError) as e:
        return {
            **FALLBACK,
            "source": f"fallback, examples/mnist.py unread: {type(e).__name__}: {e}",
        }


def _make_optimizer(name: str, params: Any, lr: float) -> Any:
    """The example's `make_optimizer` where it has one, else the same mapping by hand."""
    try:
        return _load_example().make_optimizer(name, params, lr)
    except (OSError, ImportError, AttributeError, SyntaxError):
        from minigrad import optim

        if name == "momentum":
            return optim.SGD(params, lr=lr, momentum=0.9)
        cls = {"sgd": optim.SGD, "adagrad": optim.AdaGrad, "adam": optim.Adam}[name]
        return cls(params, lr=lr)


def time_to_accuracy(
    setup: dict[str, Any],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    target: float,
    limit_s: float,
    eval_every: int,
    seed: int,
) -> dict[str, Any]:
    """Train TwoLayerNet (float32, weight_init_std 0.01 like the example) on shuffled epochs
    until the test accuracy, evaluated every `eval_every` steps, reaches `target`, or until
    `limit_s` seconds of training. Training time excludes the evaluations."""
    from minigrad.nn import TwoLayerNet

    x, t, xt, tt = data
    np.random.seed(seed)  # noqa: NPY002 (TwoLayerNet draws from np.random, like the book)
    net = TwoLayerNet(784, setup["hidden"], 10, weight_init_std=0.01, dtype=np.float32)
    opt = _make_optimizer(setup["optimizer"], net.parameters(), setup["lr"])
    rng = np.random.default_rng(seed)
    b = setup["batch"]
    train_s = 0.0
    wall0 = time.perf_counter()
    steps, acc = 0, 0.0
    history: list[tuple[int, float, float]] = []
    while acc < target and train_s < limit_s:
        perm = rng.permutation(len(x))
        for i in range(0, len(x) - b + 1, b):
            t0 = time.perf_counter()
            idx = perm[i : i + b]
            loss = net.loss(x[idx], t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            train_s += time.perf_counter() - t0
            steps += 1
            if steps % eval_every == 0:
                acc = net.accuracy(xt, tt)
                history.append((steps, round(train_s, 3), acc))
                if acc >= target or train_s >= limit_s:
                    break
    return {
        "target": target,
        "reached": acc >= target,
        "steps": steps,
        "epochs": steps * b / len(x),
        "train_seconds": train_s,
        "wall_seconds": time.perf_counter() - wall0,
        "test_acc": acc,
        "history": history,
        "setup": setup,
    }
