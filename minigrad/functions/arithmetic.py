"""Arithmetic with NumPy broadcasting: add, sub, mul, div, neg, pow.

Each backward sums its gradient back to the input's shape (`both.sum_to`), so broadcasting
in the forward pass never leaks a wrong shape into the gradients. Python numbers stay Python
numbers, so a float32 Variable times 2.0 stays float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1, _apply2
from minigrad.functions import _both as both
from minigrad.functions._util import shape_of, shape_str

__all__ = ["add", "sub", "mul", "div", "neg", "pow"]


def _broadcast_error(op: str, x0: Any, x1: Any) -> ValueError:
    return ValueError(
        f"{op}: shapes {shape_str(shape_of(x0))} and {shape_str(shape_of(x1))} cannot be broadcast "
        "together"
    )


class Add(Function):
    """y = x0 + x1 (broadcasting).  x0, x1: broadcastable shapes -> y: the broadcast shape.

    dy/dx0 = dy/dx1 = 1: each input gets gy, summed back to its shape.
    """

    rule = "gx0 = gy, gx1 = gy (each summed back to its input's shape)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        try:
            return x0 + x1
        except ValueError:
            raise _broadcast_error("add", x0, x1) from None

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        return (
            both.sum_to(gy, x0.shape) if need0 else None,
            both.sum_to(gy, x1.shape) if need1 else None,
        )


def add(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """x0 + x1 with broadcasting; either side may be a Variable, an ndarray or a number."""
    return _apply2(Add(), x0, x1)


class Sub(Function):
    """y = x0 - x1 (broadcasting).  dy/dx0 = 1, dy/dx1 = -1."""

    rule = "gx0 = gy, gx1 = -gy (each summed back to its input's shape)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        try:
            return x0 - x1
        except ValueError:
            raise _broadcast_error("sub", x0, x1) from None

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        return (
            both.sum_to(gy, x0.shape) if need0 else None,
            both.sum_to(-gy, x1.shape) if need1 else None,
        )


def sub(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """x0 - x1 with broadcasting."""
    return _apply2(Sub(), x0, x1)


class Mul(Function):
    """y = x0 * x1 (broadcasting).  dy/dx0 = x1, dy/dx1 = x0."""

    rule = "gx0 = gy * x1, gx1 = gy * x0 (each summed back to its input's shape)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        try:
            return x0 * x1
        except ValueError:
            raise _broadcast_error("mul", x0, x1) from None

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        return (
            both.sum_to(gy * x1, x0.shape) if need0 else None,
            both.sum_to(gy * x0, x1.shape) if need1 else None,
        )


def mul(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """x0 * x1 elementwise, with broadcasting."""
    return _apply2(Mul(), x0, x1)


class Div(Function):
    """y = x0 / x1 (broadcasting).  dy/dx0 = 1/x1, dy/dx1 = -x0/x1**2."""

    rule = "gx0 = gy / x1, gx1 = -gy * x0 / x1**2 (each summed back to its input's shape)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        try:
            return x0 / x1
        except ValueError:
            raise _broadcast_error("div", x0, x1) from None

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        gx0 = gy / x1
        return (
            both.sum_to(gx0, x0.shape) if need0 else None,
            both.sum_to(-gx0 * x0 / x1, x1.shape) if need1 else None,
        )


def div(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """x0 / x1 elementwise, with broadcasting."""
    return _apply2(Div(), x0, x1)


class Neg(Function):
    """y = -x.  Same shape; dy/dx = -1."""

    rule = "gx = -gy"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, gy: Any) -> Any:
        return -gy


def neg(x: Variable | Any) -> Variable:
    """-x."""
    return _apply1(Neg(), x)


class Pow(Function):
    """y = x0 ** x1 (broadcasting); the exponent x1 may be a number or an array.

    dy/dx0 = x1 * x0**(x1 - 1); dy/dx1 = y * log(x0), computed only when the exponent needs it.
    """

    rule = "gx0 = gy * x1 * x0**(x1 - 1), gx1 = gy * y * log(x0)"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x0: np.ndarray, x1: Any) -> np.ndarray:
        try:
            return x0**x1
        except ValueError:
            raise _broadcast_error("pow", x0, x1) from None

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        gx0 = both.sum_to(gy * x1 * x0 ** (x1 - 1), x0.shape) if need0 else None
        gx1 = None
        if need1:
            (y,) = self.saved_outputs
            # A number base (`2 ** v`) keeps its log a Python float: np.log would give a
            # float64 scalar, which turns a float32 gradient into float64.
            log_x0 = float(np.log(x0)) if isinstance(x0, int | float) else both.log(x0)
            gx1 = both.sum_to(gy * y * log_x0, x1.shape)
        return gx0, gx1


def pow(x0: Variable | Any, x1: Variable | Any) -> Variable:  # noqa: A001 - the op's name
    """x0 ** x1 elementwise; `x1` a number or an array (its gradient is y * log(x0))."""
    return _apply2(Pow(), x0, x1)
