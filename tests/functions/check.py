"""`check_op`: one call checks an op's value, shape, dtype and gradients, so each op's test
reads like a table of cases.

The gradient checks weight the output by a fixed random array before summing: the plain sum of
an op's output is blind to many bugs (the sum of a transpose does not depend on the
permutation, the sum of a softmax is always 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import Variable

Spec = tuple[int, ...] | np.ndarray

# Shapes for the property-based tests: small, so that each example's numerical gradient is
# cheap, with size-1 and missing dimensions so that both sides of broadcasting are exercised.
broadcast_pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, max_side=3
)
few_examples = settings(max_examples=50, deadline=None)


def make_inputs(specs: Sequence[Spec], low: float, high: float, seed: int) -> list[np.ndarray]:
    """float64 arrays: a shape (tuple) becomes uniform(low, high) data; an array is copied."""
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        if isinstance(s, tuple):
            out.append(rng.uniform(low, high, size=s))
        else:
            out.append(np.array(s, dtype=np.float64))
    return out


def weighted(fn: Callable[..., Variable], w: np.ndarray) -> Callable[..., Variable]:
    """x -> fn(x) * w, so that the summed output depends on every element of fn(x)."""
    return lambda *xs: fn(*xs) * w


def check_op(
    fn: Callable[..., Variable],
    np_fn: Callable[..., Any],
    *specs: Spec,
    low: float = -2.0,
    high: float = 2.0,
    seed: int = 0,
    gradgrad: bool = False,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> Variable:
    """Check `fn` (Variables in, a Variable out) against `np_fn` (the same on ndarrays).

    For inputs built from `specs` (a shape: random data in [low, high]; an ndarray: used as
    is): the float64 value, shape and dtype match NumPy's; the gradient matches central
    differences (and, with `gradgrad`, so do second derivatives); on float32 copies of the
    inputs the value and every gradient stay float32 and agree with float64. Returns the
    float64 output.
    """
    xs = make_inputs(specs, low, high, seed)
    expected = np.asarray(np_fn(*[x.copy() for x in xs]))

    y = fn(*[Variable(x.copy()) for x in xs])
    assert isinstance(y, Variable), f"expected a Variable, got {type(y).__name__}"
    assert y.shape == expected.shape, f"shape {y.shape}, NumPy gives {expected.shape}"
    assert y.dtype == np.float64, f"float64 inputs gave {y.dtype}"
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
    op = y.creator
    if op is not None and not op.saves_attrs:
        # The release after backward skips the instance dict of such ops: it must stay empty.
        assert not vars(op), f"{op.name}: saves_attrs is False but forward set {sorted(vars(op))}"

    w = np.random.default_rng(seed + 1).standard_normal(expected.shape)
    if op is not None and op.backward_on_arrays:
        check_fresh_grads(op, w)
    f = weighted(fn, w)
    mg.gradcheck(f, *[x.copy() for x in xs], atol=atol, rtol=rtol)
    if gradgrad:
        mg.gradgradcheck(f, *[x.copy() for x in xs], atol=atol, rtol=rtol)

    vs64 = [Variable(x.copy()) for x in xs]
    g64 = mg.grad(fn(*vs64), vs64, grad_outputs=w)

    vs32 = [Variable(x.astype(np.float32)) for x in xs]
    y32 = fn(*vs32)
    assert y32.dtype == np.float32, f"float32 inputs gave {y32.dtype}"
    assert y32.shape == expected.shape
    np.testing.assert_allclose(y32.data, expected, rtol=1e-4, atol=1e-5)
    g32 = mg.grad(y32, vs32, grad_outputs=w.astype(np.float32), create_graph=gradgrad)
    for i, (a, b, v) in enumerate(zip(g32, g64, vs32)):
        if b is None:
            assert a is None, f"input {i}: float32 has a gradient where float64 has none"
            continue
        assert a is not None, f"input {i}: float32 lost the gradient"
        assert a.dtype == np.float32, f"input {i}: float32 gradient became {a.dtype}"
        assert a.shape == v.shape, f"input {i}: gradient shape {a.shape} for input {v.shape}"
        np.testing.assert_allclose(a.data, b.data, rtol=1e-3, atol=1e-4)
    if gradgrad:
        # The recorded backward keeps float32 too.
        live = [g * g for g in g32 if g is not None and g.requires_grad]
        if live:
            total = live[0].sum()
            for term in live[1:]:
                total = total + term.sum()
            for i, gg in enumerate(mg.grad(total, vs32)):
                assert gg is None or gg.dtype == np.float32, f"input {i}: 2nd order {gg.dtype}"
    return y


def check_fresh_grads(op: mg.Function, gy: np.ndarray) -> None:
    """The rule the engine's `(g, mutable)` relies on: a built-in backward never returns one
    array for two inputs, nor an array it keeps (its saved values, forward's attributes), nor
    the very gradient it was given unless it says so by identity; views are fine (the engine
    copies them)."""
    kept = [a for a in (*op.saved_inputs, *op.saved_outputs, *vars(op).values())]
    gxs = op.backward(gy)
    gxs = gxs if isinstance(gxs, tuple) else (gxs,)
    owned = [g for g in gxs if isinstance(g, np.ndarray) and g.base is None and g is not gy]
    for i, g in enumerate(owned):
        for h in owned[i + 1 :]:
            assert not np.shares_memory(g, h), f"{op.name}: one array returned for two inputs"
        for k in kept:
            if isinstance(k, np.ndarray):
                assert not np.shares_memory(g, k), f"{op.name}: returned an array it keeps"


def grads_of(fn: Callable[..., Variable], *arrays: np.ndarray, gy: Any = None) -> list[np.ndarray]:
    """The gradients of `fn` at `arrays` (made Variables), as ndarrays; `gy` defaults to ones."""
    vs = [Variable(np.array(a)) for a in arrays]
    y = fn(*vs)
    seed = np.ones_like(y.data) if gy is None else gy
    gs = mg.grad(y, vs, grad_outputs=np.asarray(seed, dtype=y.dtype))
    return [None if g is None else g.data for g in gs]
