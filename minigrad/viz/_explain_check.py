"""`explain_backward(check=True)`: numerical estimates of the leaves' gradients, by replaying
the recorded forward pass in float64 with one leaf element nudged up and down.

The replay calls a copy of each recorded Function's `forward` (its settings kept, whatever it
stores on itself kept off the original) on float64 arrays, in generation order, before the
backward releases the graph. Only the ops downstream of the nudged leaf run again.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.core import Function, Variable
from minigrad.viz.graph import is_folded

#: Elements checked per leaf at most (evenly spaced); two replays each.
CHECK_MAX_ELEMENTS = 1000
EPS = 1e-6


def _as64(a: Any) -> Any:
    """Floating arrays in float64; integer data, masks and Python numbers as they are."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float64:
        return a.astype(np.float64)
    return a


def numerical_grads(
    output: Variable,
    seed: np.ndarray,
    leaves: Sequence[Variable],
    functions: Sequence[Function],
) -> dict[int, tuple[np.ndarray, int]]:
    """{id(leaf): (estimate, elements checked)} of d sum(seed * output) / d leaf.

    The estimate is float64 of the leaf's shape, NaN where an element was not checked.
    """
    order = sorted(functions, key=lambda f: f.generation)
    copies = {id(f): copy.copy(f) for f in order}
    base: dict[int, Any] = {}

    def value(x: Any, vals: dict[int, Any]) -> Any:
        if is_folded(x):
            return x
        got = vals.get(id(x))
        if got is None:
            got = base.get(id(x))
        if got is None:
            got = _as64(x.data if isinstance(x, Variable) else x)
            base[id(x)] = got
        return got

    def run(fs: Sequence[Function], vals: dict[int, Any]) -> None:
        for f in fs:
            ys = copies[id(f)].forward(*(value(x, vals) for x in f.inputs))
            ys = ys if isinstance(ys, tuple) else (ys,)
            for ref, y in zip(f.outputs, ys):
                v = ref()
                if v is not None:
                    vals[id(v)] = np.asarray(y)

    run(order, base)
    w = np.asarray(seed, dtype=np.float64)

    def objective(vals: dict[int, Any]) -> float:
        return float(np.sum(w * value(output, vals)))

    result = {}
    for leaf in leaves:
        downstream = _downstream(leaf, order)
        x0 = value(leaf, {})
        est = np.full(x0.shape, np.nan)
        flat0 = np.ascontiguousarray(x0).reshape(-1)
        n = flat0.size
        picks = (
            range(n)
            if n <= CHECK_MAX_ELEMENTS
            else np.unique(np.linspace(0, n - 1, CHECK_MAX_ELEMENTS).astype(np.int64))
        )
        flat_est = est.reshape(-1)
        for i in picks:
            fs = []
            for sign in (1.0, -1.0):
                x = flat0.copy()
                x[i] += sign * EPS
                vals = {id(leaf): x.reshape(x0.shape)}
                run(downstream, vals)
                fs.append(objective(vals))
            flat_est[i] = (fs[0] - fs[1]) / (2 * EPS)
        result[id(leaf)] = (est, len(picks))
    return result


def _downstream(leaf: Variable, order: Sequence[Function]) -> list[Function]:
    """The Functions (in forward order) whose value depends on `leaf`."""
    reached = {id(leaf)}
    out = []
    for f in order:
        if any(id(x) in reached for x in f.inputs if not is_folded(x)):
            out.append(f)
            for ref in f.outputs:
                v = ref()
                if v is not None:
                    reached.add(id(v))
    return out
