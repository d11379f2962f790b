"""Elementwise math: exp, log, sqrt, abs, tanh, sin, cos, clip, where, maximum, minimum.

Every op keeps its input's shape and dtype. Derivatives at kinks are fixed and tested:
abs' is 0 at 0; maximum/minimum split the gradient evenly between tied inputs; clip passes
the gradient at the bounds themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1, _apply2
from minigrad.functions import _both as both
from minigrad.functions._util import check_float, data_of, shape_of, shape_str

__all__ = [
    "exp",
    "log",
    "sqrt",
    "abs",
    "tanh",
    "sin",
    "cos",
    "clip",
    "where",
    "maximum",
    "minimum",
]


class Exp(Function):
    """y = exp(x).  Same shape; dy/dx = y (the saved output)."""

    rule = "gx = gy * y"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy * y


def exp(x: Variable | Any) -> Variable:
    """e**x elementwise.  x: any shape -> same shape."""
    return _apply1(Exp(), x)


class Log(Function):
    """y = log(x) (natural).  Same shape; dy/dx = 1/x."""

    rule = "gx = gy / x"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy / x


def log(x: Variable | Any) -> Variable:
    """Natural logarithm elementwise (NaN below 0, -inf at 0, as NumPy).  Same shape."""
    return _apply1(Log(), x)


class Sqrt(Function):
    """y = sqrt(x).  Same shape; dy/dx = 1 / (2 y)."""

    rule = "gx = gy / (2 * y)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy / (2 * y)


def sqrt(x: Variable | Any) -> Variable:
    """Square root elementwise.  Same shape."""
    return _apply1(Sqrt(), x)


class Abs(Function):
    """y = |x|.  Same shape; dy/dx = sign(x), 0 at 0."""

    rule = "gx = gy * sign(x)"
    backward_on_arrays = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.sign = np.sign(x)
        return np.abs(x)

    def backward(self, gy: Any) -> Any:
        return gy * self.sign


def abs(x: Variable | Any) -> Variable:  # noqa: A001 - the op's name
    """|x| elementwise; its gradient at 0 is 0.  Same shape."""
    return _apply1(Abs(), x)


class Tanh(Function):
    """y = tanh(x).  Same shape; dy/dx = 1 - y**2, from the saved output."""

    rule = "gx = gy * (1 - y**2)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def backward(self, gy: Any) -> Any:
        (y,) = self.saved_outputs
        return gy * (1 - y * y)


def tanh(x: Variable | Any) -> Variable:
    """Hyperbolic tangent elementwise.  Same shape."""
    return _apply1(Tanh(), x)


class Sin(Function):
    """y = sin(x).  Same shape; dy/dx = cos(x), itself recorded, so every higher derivative
    exists (the n-th derivative of sin is sin shifted by n quarter turns)."""

    rule = "gx = gy * cos(x)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sin(x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy * both.cos(x)


def sin(x: Variable | Any) -> Variable:
    """Sine elementwise (radians).  Same shape."""
    check_float(x, "sin")
    return _apply1(Sin(), x)


class Cos(Function):
    """y = cos(x).  Same shape; dy/dx = -sin(x)."""

    rule = "gx = -gy * sin(x)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.cos(x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return -gy * both.sin(x)


def cos(x: Variable | Any) -> Variable:
    """Cosine elementwise (radians).  Same shape."""
    check_float(x, "cos")
    return _apply1(Cos(), x)


class Clip(Function):
    """y = min(max(x, lo), hi).  Same shape; dy/dx = 1 where lo <= x <= hi, else 0."""

    rule = "gx = gy where lo <= x <= hi, else 0"
    backward_on_arrays = True
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


def clip(x: Variable | Any, lo: float | None, hi: float | None) -> Variable:
    """x limited to [lo, hi] (either bound may be None); gradient 1 inside, 0 outside."""
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo and hi must be given")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo ({lo}) is greater than hi ({hi})")
    return _apply1(Clip(lo, hi), x)


class Where(Function):
    """y = x0 where cond else x1 (cond, x0, x1 broadcast together; cond a constant boolean
    array).  dy/dx0 = cond, dy/dx1 = not cond, each summed back to the input's shape."""

    rule = "gx0 = gy where cond, gx1 = gy where not cond"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, cond: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return np.where(cond, x0, x1)

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        cond, x0, x1 = self.saved_inputs
        _, need0, need1 = self.needs_input_grad
        return (
            None,
            both.sum_to(gy * cond, x0.shape) if need0 else None,
            both.sum_to(gy * ~cond, x1.shape) if need1 else None,
        )


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


class _Extremum(Function):
    """max/min of two inputs, elementwise with broadcasting; ties split the gradient evenly.

    dy/dx0 = share0 (1 where x0 wins, 1/2 on a tie, else 0), dy/dx1 = 1 - share0.
    """

    rule = "gx0 = gy where x0 wins (half on a tie), gx1 = the rest of gy"
    backward_on_arrays = True

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        s0 = self.share0
        return (
            both.sum_to(gy * s0, x0.shape) if need0 else None,
            both.sum_to(gy * (1 - s0), x1.shape) if need1 else None,
        )

    def _save_share(self, wins: np.ndarray, ties: np.ndarray, y: np.ndarray) -> None:
        dtype = y.dtype if y.dtype.kind == "f" else np.float64
        self.share0 = wins.astype(dtype) + 0.5 * ties.astype(dtype)


def _binary_check(op: str, x0: Any, x1: Any) -> None:
    try:
        np.broadcast_shapes(shape_of(x0), shape_of(x1))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {shape_str(shape_of(x0))} and "
            f"{shape_str(shape_of(x1))} cannot be broadcast together"
        ) from None


class Maximum(_Extremum):
    """y = max(x0, x1) elementwise."""

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        y = np.maximum(x0, x1)
        self._save_share(x0 > x1, x0 == x1, y)
        return y


def maximum(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """Elementwise maximum with broadcasting; a tie gives each input half the gradient."""
    _binary_check("maximum", x0, x1)
    return _apply2(Maximum(), x0, x1)


class Minimum(_Extremum):
    """y = min(x0, x1) elementwise."""

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        y = np.minimum(x0, x1)
        self._save_share(x0 < x1, x0 == x1, y)
        return y


def minimum(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """Elementwise minimum with broadcasting; a tie gives each input half the gradient."""
    _binary_check("minimum", x0, x1)
    return _apply2(Minimum(), x0, x1)
