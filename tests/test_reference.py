"""minigrad/reference.py, the algorithm in about sixty lines, against the real engine: the same
gradients on random graphs, whichever of the two records the graph and runs the backward."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Function, Variable
from minigrad import reference as R
from minigrad.functions.activations import Sigmoid
from minigrad.functions.arithmetic import Add, Mul, Sub
from minigrad.functions.elementwise import Exp, Tanh
from minigrad.functions.linalg import MatMul
from minigrad.functions.reductions import Sum
from minigrad.functions.shape import Reshape, Transpose


class Twice(Function):
    """A user op with a backward on Variables (the default of the op dialect)."""

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return gy * 2.0


# Each entry: (arity, the real op function, a fresh Function for the reference).
UNARY: list[tuple[Callable[[Any], Any], Callable[[], Function]]] = [
    (F.tanh, Tanh),
    (F.sigmoid, Sigmoid),
    (lambda v: F.exp(v * 0.1), None),  # composite: recorded as two ops by both
    (lambda v: Twice()(v), Twice),
    (lambda v: F.transpose(v), lambda: Transpose(None)),
]
BINARY = [(F.add, Add), (F.mul, Mul), (F.sub, Sub)]


def random_graph(
    seed: int,
    apply: Callable[..., Any],
    n_ops: int = 25,
    leaf_values: list[np.ndarray] | None = None,
) -> tuple[Any, list[Any]]:
    """A random DAG of (3, 3) Variables over four leaves: each op picks its inputs among all
    the values made so far, so values are reused (diamonds) and some stay unused. `apply` is
    either the real engine's call or `reference.apply`; `leaf_values` replaces the leaves' random
    data (the graph stays the same). Returns (scalar output, leaves)."""
    rng = np.random.default_rng(seed)
    leaves = [Variable(rng.uniform(-1, 1, (3, 3)), name=f"x{i}") for i in range(4)]
    if leaf_values is not None:
        leaves = [Variable(a, name=x.name) for a, x in zip(leaf_values, leaves)]
    consts = rng.uniform(-1, 1, (3, 3))
    values: list[Any] = list(leaves)
    for _ in range(n_ops):
        kind = rng.integers(4)
        a = values[rng.integers(len(values))]
        if kind == 0:
            fn, cls = UNARY[rng.integers(len(UNARY))]
            if cls is None:  # the composite: exp(0.1 v)
                v = apply(Exp(), apply(Mul(), a, 0.1)) if apply is R.apply else fn(a)
            else:
                v = apply(cls(), a) if apply is R.apply else fn(a)
        elif kind == 1:
            fn, cls = BINARY[rng.integers(len(BINARY))]
            b = values[rng.integers(len(values))]
            v = apply(cls(), a, b) if apply is R.apply else fn(a, b)
        elif kind == 2:
            v = apply(MatMul(), a, consts) if apply is R.apply else F.matmul(a, consts)
        else:
            r = apply(Reshape((9,)), a) if apply is R.apply else F.reshape(a, (9,))
            v = apply(Reshape((3, 3)), r) if apply is R.apply else F.reshape(r, (3, 3))
        values.append(v)
    # The output depends on the last few values, weighted, so every path matters.
    out = values[-1]
    for k, v in enumerate(values[-6:-1]):
        out = (
            apply(Add(), out, apply(Mul(), v, float(k + 1)))
            if apply is R.apply
            else out + v * (k + 1.0)
        )
    out = apply(Sum(None, False), out) if apply is R.apply else out.sum()
    return out, leaves


def grads(leaves: list[Variable]) -> list[np.ndarray | None]:
    return [None if x.grad is None else x.grad.data.copy() for x in leaves]


@pytest.mark.parametrize("seed", range(30))
def test_reference_and_engine_agree_on_random_graphs(seed):
    out, leaves = random_graph(seed, R.apply)
    R.backward(out)
    expected = grads(leaves)

    out, leaves = random_graph(seed, mg.Function.__call__)
    out.backward()
    got = grads(leaves)
    assert [g is None for g in got] == [g is None for g in expected]
    for g, e in zip(got, expected):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("recorder", ["engine", "reference"])
def test_graphs_recorded_by_one_run_backward_in_the_other(seed, recorder):
    # The reference and the engine build the same structure: each runs on the other's graphs.
    record = R.apply if recorder == "reference" else mg.Function.__call__
    out, leaves = random_graph(seed, record)
    out.backward(retain_graph=True)
    first = grads(leaves)
    for x in leaves:
        x.zero_grad()
    R.backward(out)
    for g, e in zip(grads(leaves), first):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_reference_matches_numerical_gradients():
    out, leaves = random_graph(3, R.apply, n_ops=12)
    R.backward(out)
    base = [x.data.copy() for x in leaves]
    h = 1e-6
    for i in range(4):
        num = np.zeros((3, 3))
        for idx in np.ndindex(3, 3):
            vals = []
            for sign in (1, -1):
                arrays = [b.copy() for b in base]
                arrays[i][idx] += sign * h
                o, _ = random_graph(3, R.apply, n_ops=12, leaf_values=arrays)
                vals.append(float(o.data))
            num[idx] = (vals[0] - vals[1]) / (2 * h)
        got = np.zeros((3, 3)) if leaves[i].grad is None else leaves[i].grad.data
        np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-7)


def test_reference_releases_and_delivers_like_the_engine():
    x = Variable(np.array([1.0, 2.0]))
    y = R.apply(Sum(None, False), R.apply(Tanh(), x))
    f = y.creator
    R.backward(y)
    assert f.released
    np.testing.assert_allclose(x.grad.data, 1 - np.tanh([1.0, 2.0]) ** 2)
    R.backward(R.apply(Sum(None, False), R.apply(Mul(), x, 3.0)))  # accumulates
    np.testing.assert_allclose(x.grad.data, 1 - np.tanh([1.0, 2.0]) ** 2 + 3.0)


def test_the_reference_is_about_sixty_lines_of_code():
    lines = []
    for fn in (R.apply, R.backward):
        src = inspect.getsource(fn)
        doc = fn.__doc__ or ""
        body = src.replace(doc, "")
        lines += [ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    code = [ln for ln in lines if ln.strip() != '""""""']
    assert len(code) <= 60, len(code)
