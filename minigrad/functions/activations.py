"""Activations: sigmoid, relu, leaky_relu, softmax, log_softmax (dropout is in normalization.py).

Numerics: sigmoid never overflows (exp of a non-positive number only); relu's gradient at 0
is 0 (as PyTorch); softmax subtracts the max; log_softmax goes through logsumexp, never
log(softmax + eps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1
from minigrad.functions import _both as both
from minigrad.functions._bases import AlongAxis
from minigrad.functions._util import (
    check_float,
    log_softmax_array,
    normalize_axes,
    shape_of,
    sigmoid_array,
    softmax_array,
)

__all__ = ["sigmoid", "relu", "leaky_relu", "softmax", "log_softmax"]


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)).  Same shape; dy/dx = y (1 - y), from the saved output."""

    rule = "gx = gy * y * (1 - y)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return sigmoid_array(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy * y * (1 - y)


def sigmoid(x: Variable | Any) -> Variable:
    """The logistic function 1 / (1 + exp(-x)), elementwise and overflow-free.  Same shape."""
    check_float(x, "sigmoid")
    return _apply1(Sigmoid(), x)


class ReLU(Function):
    """y = max(x, 0).  Same shape; dy/dx = 1 where x > 0, else 0 (also at 0)."""

    rule = "gx = gy where x > 0, else 0"
    backward_on_arrays = True
    name = "relu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, gy: Any) -> Any:
        return gy * self.mask


def relu(x: Variable | Any) -> Variable:
    """max(x, 0) elementwise; the gradient at 0 is 0.  Same shape."""
    return _apply1(ReLU(), x)


class LeakyReLU(Function):
    """y = x where x > 0 else slope * x.  Same shape; dy/dx = 1 or slope (slope at 0)."""

    rule = "gx = gy where x > 0, else slope * gy"
    backward_on_arrays = True
    name = "leaky_relu"
    __slots__ = ("slope",)

    def __init__(self, slope: float) -> None:
        self.slope = slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        pos = x > 0
        self.dydx = np.where(pos, 1, self.slope).astype(x.dtype, copy=False)
        return np.where(pos, x, self.slope * x)

    def backward(self, gy: Any) -> Any:
        return gy * self.dydx

    def label(self) -> str:
        return f"leaky_relu {self.slope}"


def leaky_relu(x: Variable | Any, slope: float = 0.01) -> Variable:
    """x for x > 0, slope * x otherwise.  Same shape."""
    check_float(x, "leaky_relu")
    return _apply1(LeakyReLU(float(slope)), x)


class Softmax(AlongAxis):
    """y = exp(x) / sum(exp(x)) along `axis`.  Same shape; dx = y * (gy - sum(gy * y, axis))."""

    rule = "gx = y * (gy - sum(gy * y, axis))"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return softmax_array(x, self.axis)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        gyy = gy * y
        return gyy - y * gyy.sum(axis=self.axis, keepdims=True)


def _one_axis(axis: Any, x: Any, op: str) -> int:
    if not isinstance(axis, int | np.integer):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    (ax,) = normalize_axes(axis, len(shape_of(x)), op)
    return ax


def softmax(x: Variable | Any, axis: int = -1) -> Variable:
    """Probabilities along `axis` (summing to 1).  (N, C) -> (N, C)."""
    check_float(x, "softmax")
    return _apply1(Softmax(_one_axis(axis, x, "softmax")), x)


class LogSoftmax(AlongAxis):
    """y = x - logsumexp(x, axis).  Same shape; dx = gy - softmax(x) * sum(gy, axis), with
    softmax(x) = exp(y)."""

    rule = "gx = gy - softmax(x) * sum(gy, axis)"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return log_softmax_array(x, self.axis)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy - both.exp(y) * gy.sum(axis=self.axis, keepdims=True)


def log_softmax(x: Variable | Any, axis: int = -1) -> Variable:
    """log(softmax(x)) computed as x - logsumexp(x), stable for large logits.  (N, C) -> (N, C)."""
    check_float(x, "log_softmax")
    return _apply1(LogSoftmax(_one_axis(axis, x, "log_softmax")), x)
