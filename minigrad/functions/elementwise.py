"""Elementwise math: exp, log, sqrt, abs, tanh, clip, where, maximum, minimum.

Every op keeps its input's shape and dtype. Derivatives at kinks are fixed and tested:
abs' is 0 at 0; maximum/minimum split the gradient evenly between tied inputs; clip passes
the gradient at the bounds themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1, _apply2
from minigrad.functions._util import data_of, shape_of, shape_str, sum_to

__all__ = ["exp", "log", "sqrt", "abs", "tanh", "clip", "where", "maximum", "minimum"]


class Exp(Function):
    """y = exp(x); dy/dx = y."""

    fast = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy * y


class Log(Function):
    """y = log(x) (natural); dy/dx = 1/x."""

    fast = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy / x


class Sqrt(Function):
    """y = sqrt(x); dy/dx = 1 / (2 y)."""

    fast = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy / (2 * y)


class Abs(Function):
    """y = |x|; dy/dx = sign(x), 0 at 0."""

    fast = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.sign = np.sign(x)
        return np.abs(x)

    def backward(self, gy: Any) -> Any:
        return gy * self.sign


class Tanh(Function):
    """y = tanh(x); dy/dx = 1 - y**2, from the saved output."""

    fast = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy * (1 - y * y)


class Clip(Function):
    """y = min(max(x, lo), hi); the gradient passes where lo <= x <= hi."""

    fast = True
    __slots__ = ("lo", "hi")

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo = lo
        self.hi = hi

    def forward(self, x: np.ndarray) -> np.ndarray:
        mask = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        self.mask = mask
        return np.clip(x, self.lo, self.hi)

    def backward(self, gy: Any) -> Any:
        return gy * self.mask

    def label(self) -> str:
        return f"clip [{self.lo}, {self.hi}]"


class Where(Function):
    """y = x0 where cond else x1 (broadcasting); `cond` is a constant boolean array."""

    fast = True

    def forward(self, cond: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        self.cond = cond
        return np.where(cond, x0, x1)

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        _, x0, x1 = self.saved_inputs
        _, need0, need1 = self.needs_input_grad
        cond = self.cond
        return (
            None,
            sum_to(gy * cond, x0.shape) if need0 else None,
            sum_to(gy * ~cond, x1.shape) if need1 else None,
        )


class Maximum(Function):
    """y = max(x0, x1) elementwise (broadcasting); ties split the gradient evenly."""

    fast = True

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        y = np.maximum(x0, x1)
        dtype = y.dtype if y.dtype.kind == "f" else np.float64
        self.share0 = (x0 > x1).astype(dtype) + 0.5 * (x0 == x1).astype(dtype)
        return y

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        s0 = self.share0
        return (
            sum_to(gy * s0, x0.shape) if need0 else None,
            sum_to(gy * (1 - s0), x1.shape) if need1 else None,
        )


class Minimum(Function):
    """y = min(x0, x1) elementwise (broadcasting); ties split the gradient evenly."""

    fast = True

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        y = np.minimum(x0, x1)
        dtype = y.dtype if y.dtype.kind == "f" else np.float64
        self.share0 = (x0 < x1).astype(dtype) + 0.5 * (x0 == x1).astype(dtype)
        return y

    backward = Maximum.backward


def _binary_check(op: str, x0: Any, x1: Any) -> None:
    try:
        np.broadcast_shapes(shape_of(x0), shape_of(x1))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {shape_str(shape_of(x0))} and "
            f"{shape_str(shape_of(x1))} cannot be broadcast together"
        ) from None


def exp(x: Variable | Any) -> Variable:
    """e**x elementwise.  x: any shape -> same shape."""
    return _apply1(Exp(), x)


def log(x: Variable | Any) -> Variable:
    """Natural logarithm elementwise (NaN below 0, -inf at 0, as NumPy).  Same shape."""
    return _apply1(Log(), x)


def sqrt(x: Variable | Any) -> Variable:
    """Square root elementwise.  Same shape."""
    return _apply1(Sqrt(), x)


def abs(x: Variable | Any) -> Variable:  # noqa: A001 - the op's name
    """|x| elementwise; its gradient at 0 is 0.  Same shape."""
    return _apply1(Abs(), x)


def tanh(x: Variable | Any) -> Variable:
    """Hyperbolic tangent elementwise.  Same shape."""
    return _apply1(Tanh(), x)


def clip(x: Variable | Any, lo: float | None, hi: float | None) -> Variable:
    """x limited to [lo, hi] (either bound may be None); gradient 1 inside, 0 outside."""
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo and hi must be given")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo ({lo}) is greater than hi ({hi})")
    return _apply1(Clip(lo, hi), x)


def where(cond: Any, x0: Variable | Any, x1: Variable | Any) -> Variable:
    """Elementwise choice: x0 where `cond` is true, else x1; all three broadcast together."""
    c = np.asarray(data_of(cond))
    if c.dtype != bool:
        raise TypeError(f"where: cond must be a boolean array, got dtype {c.dtype}")
    try:
        np.broadcast_shapes(c.shape, shape_of(x0), shape_of(x1))
    except ValueError:
        raise ValueError(
            f"where: shapes {shape_str(c.shape)}, {shape_str(shape_of(x0))} and "
            f"{shape_str(shape_of(x1))} cannot be broadcast together"
        ) from None
    return Where()(c, x0, x1)


def maximum(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """Elementwise maximum with broadcasting; a tie gives each input half the gradient."""
    _binary_check("maximum", x0, x1)
    return _apply2(Maximum(), x0, x1)


def minimum(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """Elementwise minimum with broadcasting; a tie gives each input half the gradient."""
    _binary_check("minimum", x0, x1)
    return _apply2(Minimum(), x0, x1)
