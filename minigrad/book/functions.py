"""The book's activation and loss functions (`common.functions`) on ndarrays.

Plain NumPy, as in the book: these compute values for its scripts and layers (the layers'
gradients come from the engine, see `minigrad.book.layers`). `cross_entropy_error` adds the
book's 1e-7 inside the log, so the losses printed are the book's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "cross_entropy_error",
    "softmax_loss",
]


def identity_function(x: Any) -> Any:
    """x, unchanged."""
    return x


def step_function(x: Any) -> np.ndarray:
    """1 where x > 0, else 0 (ints)."""
    return np.array(np.asarray(x) > 0, dtype=int)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x: Any) -> Any:
    """The derivative of sigmoid at x: (1 - sigmoid(x)) * sigmoid(x)."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x: Any) -> Any:
    """max(0, x)."""
    return np.maximum(0, x)


def relu_grad(x: Any) -> np.ndarray:
    """The book's derivative of relu: 1 where x >= 0, else 0."""
    x = np.asarray(x)
    return (x >= 0).astype(x.dtype)


def softmax(x: Any) -> np.ndarray:
    """exp(x) / sum(exp(x)) along the last axis, after subtracting the maximum."""
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def sum_squared_error(y: Any, t: Any) -> Any:
    """0.5 * sum((y - t)**2)."""
    return 0.5 * np.sum((np.asarray(y) - t) ** 2)


def cross_entropy_error(y: Any, t: Any) -> Any:
    """-sum(log(y[i, t_i] + 1e-7)) / N for probabilities y (N, C) or (C,) and labels t
    (indices, or one-hot of y's size)."""
    y, t = np.asarray(y), np.asarray(t)
    if y.ndim == 1:
        y, t = y.reshape(1, y.size), t.reshape(1, t.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t.reshape(n)] + 1e-7)) / n


def softmax_loss(x: Any, t: Any) -> Any:
    """cross_entropy_error(softmax(x), t)."""
    return cross_entropy_error(softmax(x), t)
