"""Reductions: sum, mean, max, min, logsumexp, var, std, each with `axis` (int, tuple or None;
`dim` is PyTorch's name for it) and `keepdims`; argmax and argmin (not differentiable).
Backward broadcasts the output's gradient back over the reduced axes; max and min share it
evenly among tied maxima, logsumexp passes softmax(x) times it, var 2 (x - mean) / (n - c).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1
from minigrad.functions import _both as both
from minigrad.functions._util import check_float, data_of, expand_reduced, normalize_axes

__all__ = ["sum", "mean", "max", "min", "logsumexp", "var", "std", "argmax", "argmin"]

Axis = int | tuple[int, ...] | None


def axis_or_dim(axis: Any, dim: Any, op: str) -> Any:
    """`axis`, or PyTorch's `dim` in its place; both given is a TypeError."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; dim is axis's other name")
    return dim


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


def _reduce(cls: type[_Reduction], x: Any, axis: Axis, keepdims: bool, *settings: Any) -> Variable:
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
    return _apply1(cls(axis, keepdims, *settings), x)


class Sum(_Reduction):
    """y = x.sum(axis, keepdims).  dx = gy broadcast back to x's shape."""

    rule = "gx = gy broadcast back to x's shape"
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return self._expand(gy, x.shape)


def sum(
    x: Variable | Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
) -> Variable:  # noqa: A001
    """Sum over `axis` (all axes if None; `dim` is the same).  (..., n, ...) -> (..., ...) or
    with keepdims (..., 1, ...)."""
    return _reduce(Sum, x, axis_or_dim(axis, dim, "sum"), keepdims)


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


def mean(
    x: Variable | Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
) -> Variable:
    """Mean over `axis` (all axes if None); shapes as `sum`."""
    return _reduce(Mean, x, axis_or_dim(axis, dim, "mean"), keepdims)


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


def max(
    x: Variable | Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
) -> Variable:  # noqa: A001
    """Maximum over `axis`; the gradient is shared evenly among tied maxima."""
    return _reduce(Max, x, axis_or_dim(axis, dim, "max"), keepdims)


class Min(_Extreme):
    """y = x.min(axis, keepdims)."""

    extreme = staticmethod(np.min)


def min(
    x: Variable | Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
) -> Variable:  # noqa: A001
    """Minimum over `axis`; the gradient is shared evenly among tied minima."""
    return _reduce(Min, x, axis_or_dim(axis, dim, "min"), keepdims)


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


def logsumexp(
    x: Variable | Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
) -> Variable:
    """log(sum(exp(x), axis)), stable for large inputs; its gradient is softmax(x)."""
    return _reduce(LogSumExp, x, axis_or_dim(axis, dim, "logsumexp"), keepdims)


class _Spread(_Reduction):
    """var/std over axes with `correction` c (1: the unbiased estimate, 0: the population's):
    var = sum((x - mean)**2) / (n - c), n the number of elements reduced."""

    saves_attrs = False
    __slots__ = ("correction",)

    def __init__(self, axis: Axis, keepdims: bool, correction: int) -> None:
        super().__init__(axis, keepdims)
        self.correction = correction

    def _centered(self, x: Any) -> Any:
        """(x - mean(x)) and the divisor n - c; on either kind, so the backward records."""
        n = np.size(x) // np.size(self.saved_outputs[0])
        return x - x.mean(axis=self.axis, keepdims=True), n - self.correction

    def label(self) -> str:
        base = super().label()
        return base if self.correction == 1 else f"{base} correction={self.correction}"


class Var(_Spread):
    """y = sum((x - mean(x))**2, axis) / (n - c).  dx = gy * 2 (x - mean(x)) / (n - c),
    broadcast back (the mean's own gradient sums to zero, so it drops out)."""

    rule = "gx = gy * 2 * (x - mean(x)) / (n - correction)"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.var(x, axis=self.axis, ddof=self.correction, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        d, m = self._centered(x)
        return self._expand(gy, x.shape) * d * (2 / m)


class Std(_Spread):
    """y = sqrt(var(x, axis, correction)).  dx = gy * (x - mean(x)) / ((n - c) * y), broadcast
    back (infinite where y is 0, as d sqrt at 0)."""

    rule = "gx = gy * (x - mean(x)) / ((n - correction) * y)"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.std(x, axis=self.axis, ddof=self.correction, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        (y,) = self.saved_outputs
        d, m = self._centered(x)
        return self._expand(gy / y, x.shape) * d * (1 / m)


def _spread(
    cls: type[_Spread],
    x: Any,
    axis: Axis,
    unbiased: bool,
    keepdims: bool,
    correction: int | None,
    dim: Axis,
) -> Variable:
    op = cls.name
    axis = axis_or_dim(axis, dim, op)
    if correction is None:
        if not isinstance(unbiased, bool | np.bool_):
            raise TypeError(f"{op}: unbiased must be True or False, got {unbiased!r}")
        correction = int(unbiased)
    elif unbiased is not True:
        raise TypeError(
            f"{op}: give unbiased or correction, not both (unbiased=False is correction=0)"
        )
    if isinstance(correction, bool) or not isinstance(correction, int | np.integer):
        raise TypeError(f"{op}: correction must be an int, got {correction!r}")
    if correction < 0:
        raise ValueError(f"{op}: correction must be non-negative, got {correction}")
    check_float(x, op)
    shape = np.shape(data_of(x))
    axes = normalize_axes(axis, len(shape), op)
    n = int(np.prod([shape[a] for a in axes])) if shape else 1
    if 0 < n <= correction:
        raise ValueError(
            f"{op}: {n} element(s) along axis {axis} of an input of shape {shape} leave nothing "
            f"to divide by with correction {correction} (n - correction = {n - correction}); "
            "pass unbiased=False (correction=0) for the population's"
        )
    return _reduce(cls, x, axis, keepdims, correction)


def var(
    x: Variable | Any,
    axis: Axis = None,
    unbiased: bool = True,
    keepdims: bool = False,
    *,
    correction: int | None = None,
    dim: Axis = None,
) -> Variable:
    """Variance over `axis` (all axes if None; `dim` is the same): sum((x - mean)**2) / (n - c)
    with c = 1 when `unbiased` (the default, as `torch.var`), 0 otherwise; `correction` gives c
    directly.  Shapes as `sum`."""
    return _spread(Var, x, axis, unbiased, keepdims, correction, dim)


def std(
    x: Variable | Any,
    axis: Axis = None,
    unbiased: bool = True,
    keepdims: bool = False,
    *,
    correction: int | None = None,
    dim: Axis = None,
) -> Variable:
    """Standard deviation, sqrt(var(x, axis, unbiased)); arguments as `var`.  Its gradient is
    infinite where the result is 0 (a constant slice)."""
    return _spread(Std, x, axis, unbiased, keepdims, correction, dim)


def _arg_extreme(fn: Any, op: str, x: Any, axis: Any, keepdims: bool, dim: Any) -> np.ndarray:
    axis = axis_or_dim(axis, dim, op)
    d = np.asarray(data_of(x))
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
        (axis,) = normalize_axes(axis, d.ndim, op)
    if d.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty array of shape {d.shape}")
    return np.asarray(fn(d, axis=axis, keepdims=keepdims))


def argmax(
    x: Variable | Any, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None
) -> np.ndarray:
    """The index of the largest element along `axis` (`dim` is the same; None: of the flattened
    array), the first one on a tie.  Returns an integer ndarray (not a Variable: an index has no
    gradient, and `(y.argmax(axis=1) == t).mean()` then compares elementwise, where `==` on
    Variables compares identity)."""
    return _arg_extreme(np.argmax, "argmax", x, axis, keepdims, dim)


def argmin(
    x: Variable | Any, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None
) -> np.ndarray:
    """The index of the smallest element along `axis`, the first one on a tie; as `argmax`."""
    return _arg_extreme(np.argmin, "argmin", x, axis, keepdims, dim)
