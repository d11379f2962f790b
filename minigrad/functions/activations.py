"""Activations: sigmoid, relu, leaky_relu, softplus, gelu, silu, softmax, log_softmax
(dropout is in normalization.py).

Numerics: sigmoid never overflows (exp of a non-positive number only); relu's gradient at 0
is 0 (as PyTorch); softplus is max(z, 0) + log1p(exp(-|z|)), which cannot overflow; softmax
subtracts the max; log_softmax goes through logsumexp, never log(softmax + eps); gelu's
normal cdf comes from `_special.py` (NumPy has no erf), accurate to about 2e-15 in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1
from minigrad.functions import _both as both
from minigrad.functions._bases import AlongAxis
from minigrad.functions._special import erf_array, normal_cdf_array
from minigrad.functions._util import (
    check_float,
    log_softmax_array,
    normalize_axes,
    shape_of,
    sigmoid_array,
    softmax_array,
)
from minigrad.functions.reductions import axis_or_dim

__all__ = [
    "sigmoid",
    "relu",
    "leaky_relu",
    "softplus",
    "erf",
    "gelu",
    "silu",
    "softmax",
    "log_softmax",
]


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

    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def backward(self, gy: Any) -> Any:
        # The mask is read from y (y > 0 exactly where x > 0) here, not kept by forward: a
        # forward that is never gone back through (a loss after the update, an eval) saves
        # the pass, 0.4 to 0.6 ms for SimpleConvNet's float64 activations, and its memory.
        (y,) = self.saved_outputs
        return gy * ((y.data if isinstance(y, Variable) else y) > 0)


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


class Softplus(Function):
    """y = log(1 + exp(beta * x)) / beta, and y = x where beta * x > threshold (PyTorch's
    `softplus`).  Same shape; dy/dx = sigmoid(beta * x), and 1 on the linear part.

    Computed as (max(z, 0) + log1p(exp(-|z|))) / beta with z = beta * x: exp is only taken of
    a non-positive number, so nothing overflows.
    """

    rule = "gx = gy * sigmoid(beta * x) (gy where beta * x > threshold)"
    backward_on_arrays = True
    __slots__ = ("beta", "threshold")

    def __init__(self, beta: float, threshold: float) -> None:
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: np.ndarray) -> np.ndarray:
        z = x * self.beta
        curved = z <= self.threshold
        soft = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / self.beta
        self.curved = curved.astype(x.dtype)
        # The linear part as a 0/1 array too, so the backward is one expression for both kinds.
        self.linear = (~curved).astype(x.dtype)
        return np.where(curved, soft, x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy * (both.sigmoid(x * self.beta) * self.curved + self.linear)

    def label(self) -> str:
        if self.beta == 1 and self.threshold == 20:
            return "softplus"
        return f"softplus beta={self.beta} threshold={self.threshold}"


def softplus(x: Variable | Any, beta: float = 1.0, threshold: float = 20.0) -> Variable:
    """log(1 + exp(beta * x)) / beta elementwise, a smooth relu; linear (y = x) where
    beta * x > threshold, as PyTorch's.  Same shape."""
    check_float(x, "softplus")
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.integer | np.floating):
        raise TypeError(f"softplus: beta must be a number, got {type(beta).__name__}")
    if not beta > 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    if isinstance(threshold, bool) or not isinstance(
        threshold, int | float | np.integer | np.floating
    ):
        raise TypeError(f"softplus: threshold must be a number, got {type(threshold).__name__}")
    return _apply1(Softplus(float(beta), float(threshold)), x)


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_K = math.sqrt(2 / math.pi)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_TANH_C = 0.044715


class Erf(Function):
    """y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t**2) dt.  Same shape;
    dy/dx = 2/sqrt(pi) * exp(-x**2)."""

    rule = "gx = gy * 2/sqrt(pi) * exp(-x**2)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return erf_array(x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy * (both.exp(x * x * -1) * _TWO_OVER_SQRT_PI)


def erf(x: Variable | Any) -> Variable:
    """The error function elementwise (gelu's building block, and ONNX's Erf); accurate to
    about 2e-15 in float64 (NumPy has none).  Same shape."""
    check_float(x, "erf")
    return _apply1(Erf(), x)


class GELU(Function):
    """y = x * Phi(x), Phi the standard normal cdf (1 + erf(x / sqrt(2))) / 2.  Same shape;
    dy/dx = Phi(x) + x * phi(x), phi(x) = exp(-x**2 / 2) / sqrt(2 pi)."""

    rule = "gx = gy * (Phi(x) + x * phi(x))"
    backward_on_arrays = True
    name = "gelu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.cdf = normal_cdf_array(x)
        return x * self.cdf

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        if isinstance(x, Variable):
            # Recorded: the slope as an op of its own, so that higher orders see it.
            return gy * _apply1(GELUSlope(), x)
        return gy * _gelu_slope(x, self.cdf)


def _gelu_slope(x: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Phi(x) + x * phi(x) on arrays, Phi(x) given."""
    dt = x.dtype.type
    pdf = np.exp(np.square(x) * dt(-0.5))
    pdf *= x
    pdf *= dt(_INV_SQRT_2PI)
    pdf += cdf
    return pdf


class GELUSlope(Function):
    """y = Phi(x) + x * phi(x), gelu's derivative: the op its recorded backward runs.  Same
    shape; dy/dx = phi(x) * (2 - x**2)."""

    rule = "gx = gy * phi(x) * (2 - x**2)"
    backward_on_arrays = True
    saves_attrs = False
    name = "gelu_slope"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _gelu_slope(x, normal_cdf_array(x))

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy * (both.exp(x * x * -0.5) * _INV_SQRT_2PI) * (2 - x * x)


class GELUTanh(Function):
    """y = x * (1 + tanh(u)) / 2 with u = sqrt(2/pi) * (x + 0.044715 x**3), GELU's tanh
    approximation.  Same shape; dy/dx = (1 + th) / 2 + x * (1 - th**2) * du/dx / 2 with
    th = tanh(u), du/dx = sqrt(2/pi) * (1 + 3 * 0.044715 x**2)."""

    rule = "gx = gy * ((1 + th) / 2 + x * (1 - th**2) * du/dx / 2), th = tanh(u)"
    backward_on_arrays = True
    name = "gelu_tanh"

    def forward(self, x: np.ndarray) -> np.ndarray:
        dt = x.dtype.type
        th = np.square(x, out=np.empty_like(x))  # an array even for 0-d x (tanh's out=)
        th *= dt(_TANH_C)
        th += 1
        th *= x
        th *= dt(_TANH_K)
        np.tanh(th, out=th)
        self.th = th
        return (th + 1) * x * dt(0.5)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        x2 = x * x
        if isinstance(x, Variable):
            # tanh(u) = 2 sigmoid(2u) - 1, recorded, so that higher orders see it.
            th = both.sigmoid(x * (1 + x2 * _TANH_C) * (2 * _TANH_K)) * 2 - 1
        else:
            th = self.th
        dudx = (x2 * (3 * _TANH_C) + 1) * _TANH_K
        return gy * ((th + 1) * 0.5 + x * (1 - th * th) * dudx * 0.5)


def gelu(x: Variable | Any, approximate: str = "none") -> Variable:
    """The Gaussian error linear unit x * Phi(x), Phi the standard normal cdf, elementwise.
    Same shape. `approximate='tanh'` takes x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2
    instead, as PyTorch's option of that name."""
    check_float(x, "gelu")
    if approximate == "none":
        return _apply1(GELU(), x)
    if approximate == "tanh":
        return _apply1(GELUTanh(), x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


class SiLU(Function):
    """y = x * sigmoid(x) (swish).  Same shape; dy/dx = s * (1 + x * (1 - s)), s = sigmoid(x)."""

    rule = "gx = gy * s * (1 + x * (1 - s)), s = sigmoid(x)"
    backward_on_arrays = True
    name = "silu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.s = sigmoid_array(x)
        return x * self.s

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        s = both.sigmoid(x) if isinstance(x, Variable) else self.s
        return gy * s * (x * (1 - s) + 1)


def silu(x: Variable | Any) -> Variable:
    """x * sigmoid(x) elementwise (the swish activation), overflow-free.  Same shape."""
    check_float(x, "silu")
    return _apply1(SiLU(), x)


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
    if axis is None:
        axis = -1
    if not isinstance(axis, int | np.integer):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    (ax,) = normalize_axes(axis, len(shape_of(x)), op)
    return ax


def softmax(x: Variable | Any, axis: int | None = None, *, dim: int | None = None) -> Variable:
    """Probabilities along `axis` (`dim` is the same; the last axis if neither is given),
    summing to 1.  (N, C) -> (N, C)."""
    check_float(x, "softmax")
    return _apply1(Softmax(_one_axis(axis_or_dim(axis, dim, "softmax"), x, "softmax")), x)


class LogSoftmax(AlongAxis):
    """y = x - logsumexp(x, axis).  Same shape; dx = gy - softmax(x) * sum(gy, axis), with
    softmax(x) = exp(y)."""

    rule = "gx = gy - softmax(x) * sum(gy, axis)"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return log_softmax_array(x, self.axis)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy - both.exp(y) * gy.sum(axis=self.axis, keepdims=True)


def log_softmax(x: Variable | Any, axis: int | None = None, *, dim: int | None = None) -> Variable:
    """log(softmax(x)) along `axis` (`dim` is the same; the last axis if neither is given),
    computed as x - logsumexp(x), stable for large logits.  (N, C) -> (N, C)."""
    check_float(x, "log_softmax")
    ax = axis_or_dim(axis, dim, "log_softmax")
    return _apply1(LogSoftmax(_one_axis(ax, x, "log_softmax")), x)
