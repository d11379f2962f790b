"""Reductions: sum, mean, max, min, logsumexp, each with `axis` (int, tuple or None) and
`keepdims`. Backward broadcasts the output's gradient back over the reduced axes; max and min
share it evenly among tied maxima, logsumexp passes softmax(x) times it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1
from minigrad.functions import _both as both
from minigrad.functions._util import data_of, expand_reduced, normalize_axes

__all__ = ["sum", "mean", "max", "min", "logsumexp"]

Axis = int | tuple[int, ...] | None


class _Reduction(Function):
    """A reduction over `axis` (None: all axes) keeping the reduced axes if `keepdims`."""

    backward_on_arrays = True
    __slots__ = ("axis", "keepdims")

    def __init__(self, axis: Axis, keepdims: bool) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def label(self) -> str:
        if self.axis is None:
            return self.name
        return f"{self.name} axis={self.axis}" + (" keepdims" if self.keepdims else "")

    def _expand(self, g: Any, shape: tuple[int, ...]) -> Any:
        return both.broadcast_to(expand_reduced(g, shape, self.axis, self.keepdims), shape)


def _reduce(cls: type[_Reduction], x: Any, axis: Axis, keepdims: bool) -> Variable:
    d = data_of(x)
    ndim = np.ndim(d)
    normalize_axes(axis, ndim, cls.name)
    if isinstance(axis, list):
        # NumPy's reductions take a tuple of axes, not a list.
        axis = tuple(axis)
    if ndim == 0:
        # Axis 0 of a scalar is accepted, as NumPy's sum accepts it; every reduction then
        # reduces over nothing, which `axis=None` spells for all of them (np.mean rejects 0).
        axis = None
    if np.size(d) == 0 and cls is not Sum:
        raise ValueError(f"{cls.name}: cannot reduce an empty array of shape {np.shape(d)}")
    return _apply1(cls(axis, keepdims), x)


class Sum(_Reduction):
    """y = x.sum(axis, keepdims).  dx = gy broadcast back to x's shape."""

    rule = "gx = gy broadcast back to x's shape"
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return self._expand(gy, x.shape)


def sum(x: Variable | Any, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Sum over `axis` (all axes if None).  (..., n, ...) -> (..., ...) or with keepdims (..., 1, ...)."""
    return _reduce(Sum, x, axis, keepdims)


class Mean(_Reduction):
    """y = x.mean(axis, keepdims).  dx = gy / n broadcast back (n: the elements averaged)."""

    rule = "gx = gy / n broadcast back to x's shape (n: elements averaged)"
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        (y,) = self.saved_outputs
        # 1/n as a Python float, so that float32 gradients stay float32.
        return self._expand(gy * (np.size(y) / np.size(x)), x.shape)


def mean(x: Variable | Any, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Mean over `axis` (all axes if None); shapes as `sum`."""
    return _reduce(Mean, x, axis, keepdims)


class _Extreme(_Reduction):
    """max/min over axes: y = extreme(x, axis, keepdims); dx = gy broadcast back, times the
    share of each element (1/k for each of k elements equal to the result, 0 for the others)."""

    rule = "gx = gy broadcast back, shared among the elements equal to y"
    #: np.max or np.min.
    extreme: Any

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.extreme(x, axis=self.axis, keepdims=self.keepdims)
        yk = y if self.keepdims else np.expand_dims(y, normalize_axes(self.axis, x.ndim, self.name))
        hit = x == yk
        count = hit.sum(axis=self.axis, keepdims=True)
        self.share = hit / count.astype(x.dtype if x.dtype.kind == "f" else np.float64)
        return y

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return self._expand(gy, x.shape) * self.share


class Max(_Extreme):
    """y = x.max(axis, keepdims)."""

    extreme = staticmethod(np.max)


def max(x: Variable | Any, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Maximum over `axis`; the gradient is shared evenly among tied maxima."""
    return _reduce(Max, x, axis, keepdims)


class Min(_Extreme):
    """y = x.min(axis, keepdims)."""

    extreme = staticmethod(np.min)


def min(x: Variable | Any, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Minimum over `axis`; the gradient is shared evenly among tied minima."""
    return _reduce(Min, x, axis, keepdims)


class LogSumExp(_Reduction):
    """y = log(sum(exp(x), axis)), computed as m + log(sum(exp(x - m))) with m = max(x).

    dx = gy * exp(x - y) = gy * softmax(x) along the axis.
    """

    rule = "gx = gy * softmax(x) = gy * exp(x - y)"
    saves_attrs = False
    name = "logsumexp"

    def forward(self, x: np.ndarray) -> np.ndarray:
        m = x.max(axis=self.axis, keepdims=True)
        # An all -inf slice would give nan from (-inf) - (-inf); its result is -inf.
        m = np.where(np.isfinite(m), m, 0)
        s = np.exp(x - m).sum(axis=self.axis, keepdims=True)
        with np.errstate(divide="ignore"):
            y = np.log(s) + m
        if not self.keepdims:
            y = y.squeeze(axis=self.axis)
        return y

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        (y,) = self.saved_outputs
        yk = expand_reduced(y, x.shape, self.axis, self.keepdims)
        return self._expand(gy, x.shape) * both.exp(x - yk)


def logsumexp(x: Variable | Any, axis: Axis = None, keepdims: bool = False) -> Variable:
    """log(sum(exp(x), axis)), stable for large inputs; its gradient is softmax(x)."""
    return _reduce(LogSumExp, x, axis, keepdims)
