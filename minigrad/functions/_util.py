"""Helpers shared by the ops' backward passes.

A built-in backward is written once and runs on ndarrays (the fast path) or on Variables
(when `create_graph=True` records it). These helpers pick the right implementation for
the few operations that ndarrays and Variables do not spell the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Variable


def shape_str(shape: tuple[int, ...]) -> str:
    """`(3, 4)` for error messages (a 1-tuple keeps its comma)."""
    return str(tuple(shape))


def sum_to_array(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast array `x` back down to `shape` (NumPy's broadcasting rules, reversed)."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1
    )
    y = x.sum(axis=axes, keepdims=True)
    if lead:
        y = y.reshape(shape)
    return y


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """`g` summed down to `shape`, for an ndarray or (recorded) a Variable."""
    if g.shape == shape:
        return g
    if isinstance(g, Variable):
        from minigrad.functions.shape import sum_to as sum_to_var

        return sum_to_var(g, shape)
    return sum_to_array(g, shape)


def broadcast_to(g: Any, shape: tuple[int, ...]) -> Any:
    """`g` broadcast to `shape`, for an ndarray or (recorded) a Variable."""
    if g.shape == shape:
        return g
    if isinstance(g, Variable):
        from minigrad.functions.shape import broadcast_to as broadcast_var

        return broadcast_var(g, shape)
    return np.broadcast_to(g, shape)


def exp(a: Any) -> Any:
    """exp for an ndarray or a Variable."""
    if isinstance(a, Variable):
        from minigrad.functions.elementwise import exp as exp_var

        return exp_var(a)
    return np.exp(a)


def log(a: Any) -> Any:
    """log for an ndarray or a Variable."""
    if isinstance(a, Variable):
        from minigrad.functions.elementwise import log as log_var

        return log_var(a)
    return np.log(a)


def swap_last(a: Any) -> Any:
    """Swap the last two axes, for an ndarray or a Variable."""
    if isinstance(a, Variable):
        from minigrad.functions.shape import transpose

        axes = list(range(a.ndim))
        axes[-1], axes[-2] = axes[-2], axes[-1]
        return transpose(a, tuple(axes))
    return a.swapaxes(-1, -2)


def expand_reduced(g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Reshape the gradient of a reduction so that it broadcasts against the input's shape."""
    if keepdims or axis is None:
        return g.reshape((1,) * len(shape)) if not keepdims and len(shape) else g
    axes = normalize_axes(axis, len(shape), "reduce")
    kept = list(g.shape)
    for ax in sorted(axes):
        kept.insert(ax, 1)
    return g.reshape(tuple(kept))


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """`axis` (int, tuple or None) as a tuple of non-negative axes; a clear error if out of range."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int | np.integer):
        axes: tuple[Any, ...] = (axis,)
    elif isinstance(axis, tuple | list):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for ax in axes:
        if not isinstance(ax, int | np.integer):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"{op}: axis {ax} is out of range for an input of {ndim} dimensions")
        out.append(int(ax) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(out)


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an op argument (Variable, ndarray or number); np.shape costs ~5x more."""
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)


def data_of(x: Any) -> Any:
    """The ndarray (or number) behind an op argument."""
    return x.data if isinstance(x, Variable) else x


def check_float(x: Any, op: str) -> None:
    """Raise a TypeError naming the op if `x` (an op argument) is not floating-point data."""
    d = data_of(x)
    kind = (
        d.dtype.kind
        if isinstance(d, np.ndarray | np.generic)
        else ("f" if isinstance(d, float) else "i")
    )
    if kind not in "fc":
        dt = d.dtype if isinstance(d, np.ndarray | np.generic) else type(d).__name__
        raise TypeError(f"{op}: expected floating-point data, got {dt}")
