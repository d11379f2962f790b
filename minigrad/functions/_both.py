"""Operations on either kind of value a backward works on (see `Function`'s docstring): plain
ndarrays, or Variables when the backward is itself recorded (`create_graph=True`).

ndarrays and Variables spell most operations alike (`*`, `+`, `.sum(axis)`, `.reshape`,
`.transpose`, `.T`); these are the few they do not, so that each op's backward is written
once, with no branch on the kind. Each takes NumPy's route for an array and the recorded op
for a Variable. Op modules import this module as `both` (`both.exp(y)`), so the names never
shadow the ops of `minigrad.functions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Variable
from minigrad.functions._util import (
    log_softmax_array,
    rows,
    sigmoid_array,
    softmax_array,
    sum_to_array,
)


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """`g` summed down to `shape` (a broadcast undone)."""
    if g.shape == shape:
        return g
    if isinstance(g, Variable):
        from minigrad.functions.shape import sum_to as sum_to_op

        return sum_to_op(g, shape)
    return sum_to_array(g, shape)


def broadcast_to(g: Any, shape: tuple[int, ...]) -> Any:
    """`g` broadcast to `shape`."""
    if g.shape == shape:
        return g
    if isinstance(g, Variable):
        from minigrad.functions.shape import broadcast_to as broadcast_to_op

        return broadcast_to_op(g, shape)
    return np.broadcast_to(g, shape)


def exp(a: Any) -> Any:
    """e**a elementwise."""
    if isinstance(a, Variable):
        from minigrad.functions.elementwise import exp as exp_op

        return exp_op(a)
    return np.exp(a)


def log(a: Any) -> Any:
    """The natural logarithm elementwise."""
    if isinstance(a, Variable):
        from minigrad.functions.elementwise import log as log_op

        return log_op(a)
    return np.log(a)


def swap_last(a: Any) -> Any:
    """`a` with its last two axes swapped (a batch of matrices transposed)."""
    axes = list(range(a.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return a.transpose(tuple(axes))


def scatter_add(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of `shape` with `g` added at `index` (repeated indices add up): getitem's adjoint."""
    if isinstance(g, Variable):
        from minigrad.core import _apply1
        from minigrad.functions.shape import ScatterAdd

        return _apply1(ScatterAdd(index, shape), g)
    gx = np.zeros(shape, dtype=g.dtype)
    if _basic_index(index):
        # A basic index (ints, slices) picks each element once: a plain assignment, 9-60x
        # faster than np.add.at (q's gradient into the fused (3, 32, 4, 64, 16) float32
        # projection: 0.08-0.5 ms against 4.4-4.9 ms, busy machine).
        gx[index] = g
    else:
        np.add.at(gx, index, g)
    return gx


def _basic_index(index: Any) -> bool:
    """Whether `index` is NumPy basic indexing (ints, slices, None, Ellipsis): no element
    picked twice."""
    parts = index if type(index) is tuple else (index,)
    return all(
        p is None
        or p is Ellipsis
        or type(p) is slice
        or (isinstance(p, int | np.integer) and type(p) is not bool)
        for p in parts
    )


def rows_add(g: Any, ids: np.ndarray, shape: tuple[int, ...]) -> Any:
    """Zeros of `shape` (V, D) with each row `g[..., :]` added at row `ids[...]`: the adjoint
    of gathering rows `W[ids]` (embedding's backward). Repeated ids add up."""
    if isinstance(g, Variable):
        return scatter_add(g, ids, shape)
    flat = ids.reshape(-1)
    d = shape[1]
    # Sorting the ids and summing runs with reduceat is 3-8x faster than np.add.at on an LM
    # batch (700 ids into (10000, 100): 0.40 ms against 1.15 ms; 2048 ids into (65, 64):
    # 0.16 ms against 1.35 ms), and no dense one-hot is built.
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    gx = np.zeros(shape, dtype=g.dtype)
    if flat.size:
        gx[sorted_ids[starts]] = np.add.reduceat(g.reshape(-1, d)[order], starts, axis=0)
    return gx


def softmax(x: Any, axis: int, saved: Any = None) -> Any:
    """softmax(x) along `axis`: for an array, the probabilities forward `saved` when given."""
    if isinstance(x, Variable):
        from minigrad.functions.activations import softmax as softmax_op

        return softmax_op(x, axis=axis)
    return softmax_array(x, axis) if saved is None else saved


def log_softmax(x: Any, axis: int) -> Any:
    """log(softmax(x)) along `axis`, through logsumexp."""
    if isinstance(x, Variable):
        from minigrad.functions.activations import log_softmax as log_softmax_op

        return log_softmax_op(x, axis=axis)
    return log_softmax_array(x, axis)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) elementwise, overflow-free."""
    if isinstance(x, Variable):
        from minigrad.functions.activations import sigmoid as sigmoid_op

        return sigmoid_op(x)
    return sigmoid_array(x)


def minus_onehot(p: Any, t: np.ndarray) -> Any:
    """p - onehot(t) for (N, C) probabilities p and (N,) labels t: in place on an array (the
    caller's own buffer), as a recorded op on a Variable."""
    if isinstance(p, Variable):
        onehot = np.zeros(p.shape, dtype=p.dtype)
        onehot[rows(len(t)), t] = 1
        return p - onehot
    p[rows(len(t)), t] -= 1
    return p
