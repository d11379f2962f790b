"""Array helpers shared by the ops: the stable forms of softmax and sigmoid, sums that undo a
broadcast, axis checks, and the shapes and types of op arguments for error messages.

These work on ndarrays only; `_both.py` has the few operations a backward needs on either
kind of value.
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


_ROWS: dict[int, np.ndarray] = {}


def rows(n: int) -> np.ndarray:
    """np.arange(n), made once per batch size (it indexes the target class of each row)."""
    r = _ROWS.get(n)
    if r is None:
        r = _ROWS[n] = np.arange(n)
        r.flags.writeable = False
    return r


def shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """x minus its max along `axis` (a new array): exp of it cannot overflow, and softmax and
    log-softmax are unchanged by the shift. The one place the library does this."""
    return x - x.max(axis=axis, keepdims=True)


def softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x) / sum(exp(x)) along `axis`, computed on the shifted x."""
    e = np.exp(shifted(x, axis))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """x - logsumexp(x) along `axis`, computed on the shifted x (never log(softmax + eps))."""
    z = shifted(x, axis)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), elementwise. For x below about -88 (float32) or -709 (float64)
    exp(-x) overflows to inf and 1 / (1 + inf) = 0, the right limit, so the overflow is not
    warned about. Four passes in place: 2.4x faster than exp(-|x|) and a where() on the
    (32, 256) gates of charlm.py's LSTM, the same values to rounding."""
    with np.errstate(over="ignore"):
        y = np.exp(-x)
        if type(y) is not np.ndarray:  # a 0-d input gives a NumPy scalar
            return np.asarray(1 / (1 + y))
    y += 1
    return np.reciprocal(y, out=y)


def expand_reduced(g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Reshape the gradient of a reduction so that it broadcasts against the input's shape
    (for an array or a Variable: both have `.reshape`)."""
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
