"""Linear algebra: matmul (1-D, 2-D and batched N-D with broadcasting) and the fused
`linear(x, W, b) = x @ W + b`, the book's Affine layer as one op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply2
from minigrad.functions import _both as both
from minigrad.functions._util import shape_of, shape_str

__all__ = ["matmul", "linear"]


def _matmul_error(s0: tuple[int, ...], s1: tuple[int, ...]) -> ValueError:
    if len(s0) == 0 or len(s1) == 0:
        return ValueError(
            f"matmul: shapes {shape_str(s0)} and {shape_str(s1)}: scalars cannot be "
            "matrix-multiplied (use mul)"
        )
    k0 = s0[-1]
    k1 = s1[-2] if len(s1) > 1 else s1[0]
    if k0 != k1:
        return ValueError(
            f"matmul: shapes {shape_str(s0)} and {shape_str(s1)} are not aligned ({k0} != {k1})"
        )
    return ValueError(
        f"matmul: the batch dimensions of shapes {shape_str(s0)} and {shape_str(s1)} "
        "cannot be broadcast together"
    )


class MatMul(Function):
    """y = x0 @ x1.  (..., n, k) @ (..., k, m) -> (..., n, m); 1-D operands as in NumPy.

    dx0 = gy @ x1^T, dx1 = x0^T @ gy, each summed over broadcast batch dimensions.
    """

    rule = "gx0 = gy @ x1.T, gx1 = x0.T @ gy"
    backward_on_arrays = True
    saves_attrs = False
    name = "matmul"

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        try:
            return np.matmul(x0, x1)
        except ValueError:
            raise _matmul_error(np.shape(x0), np.shape(x1)) from None

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        s0, s1 = np.shape(x0), np.shape(x1)
        if len(s0) == 2 and len(s1) == 2:
            # The common case, kept free of reshapes.
            return (gy @ x1.T if need0 else None, x0.T @ gy if need1 else None)
        # Promote 1-D operands to matrices as NumPy does, then undo it on the gradients.
        a = x0.reshape((1, s0[0])) if len(s0) == 1 else x0
        b = x1.reshape((s1[0], 1)) if len(s1) == 1 else x1
        g = gy
        if len(s0) == 1 and len(s1) == 1:
            g = gy.reshape((1, 1))
        elif len(s0) == 1:
            g = gy.reshape(gy.shape[:-1] + (1, gy.shape[-1]))
        elif len(s1) == 1:
            g = gy.reshape(gy.shape + (1,))
        gx0 = gx1 = None
        if need0:
            gx0 = both.sum_to(g @ both.swap_last(b), np.shape(a)).reshape(s0)
        if need1:
            gx1 = both.sum_to(both.swap_last(a) @ g, np.shape(b)).reshape(s1)
        return gx0, gx1


def matmul(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """Matrix product with NumPy's rules: (..., n, k) @ (..., k, m) -> (..., n, m)."""
    return _apply2(MatMul(), x0, x1)


class Linear(Function):
    """y = x @ W + b, fused.  x: (N, in), W: (in, out), b: (out,) or absent -> y: (N, out).

    dx = gy @ W^T (only if x needs it: never for a data batch), dW = x^T @ gy, db = sum(gy, 0).
    """

    rule = "gx = gy @ W.T, gW = x.T @ gy, gb = sum of gy over the batch"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x: np.ndarray, W: np.ndarray, b: Any = None) -> np.ndarray:
        y = x @ W
        if b is not None:
            y += b
        return y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xs = self.saved_inputs
        need = self.needs_input_grad
        gx = gy @ xs[1].T if need[0] else None
        gW = xs[0].T @ gy if need[1] else None
        if len(xs) == 2:
            return gx, gW
        return gx, gW, gy.sum(axis=0) if need[2] else None


def linear(x: Variable | Any, W: Variable | Any, b: Variable | Any = None) -> Variable:
    """x @ W + b as one op.  x: (N, in), W: (in, out), b: (out,) or None -> (N, out)."""
    sx, sW = shape_of(x), shape_of(W)
    if len(sx) != 2 or len(sW) != 2 or sx[1] != sW[0]:
        raise ValueError(
            f"linear: x of shape {shape_str(sx)} and W of shape {shape_str(sW)} do not fit "
            "(expected x (N, in) and W (in, out))"
        )
    if b is None:
        return _apply2(Linear(), x, W)
    if shape_of(b) != (sW[1],):
        raise ValueError(
            f"linear: b has shape {shape_str(shape_of(b))}, expected ({sW[1]},) for W "
            f"of shape {shape_str(sW)}"
        )
    return Linear()(x, W, b)
