"""The hand-written NumPy references: layers with a hand-written backward, as in the book.

These are what minigrad is measured against: the book's chapter 5 style (one object per
layer, `forward` saves what `backward` needs, `backward` returns the input's gradient), with
no graph, no bookkeeping and no generality. Tiny layers for the per-op overhead benchmark;
`Affine`/`Relu`/`SoftmaxWithLoss` and `BookNet` (the seed's `TwoLayerNet`, any depth) for
the training benchmarks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = [
    "AddConstLayer",
    "AddLayer",
    "Affine",
    "BookNet",
    "MulLayer",
    "Relu",
    "SoftmaxWithLoss",
    "TanhLayer",
    "cross_entropy_error",
    "softmax",
]


# ---------------------------------------------------------------- tiny layers (per-op overhead)


class MulLayer:
    """y = x * a for a constant array `a`; backward gives dx = dout * a."""

    def forward(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        self.a = a
        return x * a

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.a


class AddConstLayer:
    """y = x + a for a constant array `a`; backward passes dout through."""

    def forward(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        return x + a

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


class AddLayer:
    """y = x0 + x1, both needing gradients; backward gives (dout, dout)."""

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return x0 + x1

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dout, dout


class TanhLayer:
    """y = tanh(x); backward gives dout * (1 - y**2) from the saved output."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self.out * self.out)


# ---------------------------------------------------------------- the seed's layers (training)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits, the seed's transposed form, shifted by the max."""
    x = x.T
    x = x - np.max(x, axis=0)
    y = np.exp(x) / np.sum(np.exp(x), axis=0)
    return y.T


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> Any:
    """Mean cross-entropy of probabilities y (N, C) for class indices t (N,), as in the seed."""
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Affine:
    """out = x @ W + b.  x: (N, in) -> out: (N, out); backward sets dW, db and returns dx.

    With `need_dx=False` the backward skips `dout @ W.T`: the first layer's input is the data
    batch, whose gradient nobody uses (the "lean" reference; the seed computes it).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, need_dx: bool = True) -> None:
        self.W = W
        self.b = b
        self.need_dx = need_dx

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return np.dot(dout, self.W.T) if self.need_dx else None


class Relu:
    """out = max(x, 0) through a saved mask; backward zeroes dout where x <= 0 (in place)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class SoftmaxWithLoss:
    """Softmax + cross-entropy for class indices t; backward is (y - onehot(t)) / N."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> Any:
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t)

    def backward(self) -> np.ndarray:
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class BookNet:
    """The seed's TwoLayerNet generalised to any depth: Affine1, Relu1, ..., AffineK.

    `weights` is a list of (W, b) pairs, copied into `params` (W1, b1, ...) in `dtype`.
    `lean=True` leaves out the first Affine's unused input gradient.
    """

    def __init__(
        self, weights: list[tuple[np.ndarray, np.ndarray]], dtype: Any, lean: bool = False
    ) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.layers: OrderedDict[str, Any] = OrderedDict()
        for i, (W, b) in enumerate(weights, start=1):
            self.params[f"W{i}"] = np.array(W, dtype=dtype)
            self.params[f"b{i}"] = np.array(b, dtype=dtype)
            need_dx = not (lean and i == 1)
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"], need_dx)
            if i < len(weights):
                self.layers[f"Relu{i}"] = Relu()
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, C) for inputs (N, in)."""
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> Any:
        """The mean cross-entropy loss of the batch."""
        return self.lastLayer.forward(self.predict(x), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Forward, then backward through the reversed layers; grads keyed like params."""
        self.loss(x, t)
        dout = self.lastLayer.backward()
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        grads = {}
        for name, layer in self.layers.items():
            if name.startswith("Affine"):
                i = name[len("Affine") :]
                grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        return grads

    def sgd_step(self, x: np.ndarray, t: np.ndarray, lr: float) -> None:
        """One training step of the seed's loop: gradient, then params -= lr * grads."""
        grads = self.gradient(x, t)
        for key in self.params:
            self.params[key] -= lr * grads[key]
