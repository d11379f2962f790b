"""Diamonds, shared subexpressions, multi-output ops and random DAGs: every gradient is
summed correctly and each backward runs once, after all its outputs' grads (docs/architecture.md, "The engine")."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Function, Variable


def _var(*values: float) -> Variable:
    return Variable(np.array(values, dtype=np.float64))


# --------------------------------------------------------------------------- diamonds


def test_diamond_x_times_x_plus_x_times_x():
    x = _var(3.0, -2.0)
    y = x * x + x * x
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad.data, [12.0, -8.0])


def test_diamond_on_zero_dimensional_data():
    # 0-d arithmetic in NumPy returns scalars, not arrays: the engine must still sum them.
    x = Variable(np.array(3.0))
    y = x * x + x * x
    y.backward()
    assert x.grad.shape == ()
    assert x.grad.item() == 12.0


def test_shared_subexpression_used_many_times():
    x = _var(0.5, -1.5)
    h = F.tanh(x)
    y = (h * h + h * 3.0 + F.exp(h)).sum()
    y.backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad.data, (2 * t + 3 + np.exp(t)) * (1 - t**2), rtol=1e-12)


@pytest.mark.parametrize("order", range(4))
def test_gradient_passed_on_unchanged_is_not_summed_into_twice(order):
    # add returns its incoming gradient as is for both inputs: the engine must not then add
    # a's other gradient into that shared array (that would also change b's gradient).
    a = _var(1.0, 1.0)
    b = _var(1.0, 1.0)
    z = a + b
    z.retain_grad()
    zz = z + z
    a3 = a * 3.0
    out = [(zz.sum() + a3.sum()), (a3.sum() + zz.sum()), (zz + a3).sum(), (a3 + zz).sum()][order]
    out.backward()
    np.testing.assert_array_equal(a.grad.data, [5.0, 5.0])
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0])
    np.testing.assert_array_equal(z.grad.data, [2.0, 2.0])


class _Counted(Function):
    """y = 2 x, counting its backward calls in the class attribute `calls`."""

    calls = 0

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        type(self).calls += 1
        return gy * 2.0


def test_each_backward_runs_once_in_a_diamond():
    _Counted.calls = 0
    x = _var(1.0, 2.0)
    h = _Counted()(x)
    k = _Counted()(h)
    y = (h * h + h * k + k * k).sum()
    y.backward()
    assert _Counted.calls == 2
    xd = x.data
    # y = 4x^2 + 8x^2 + 16x^2 = 28 x^2
    np.testing.assert_allclose(x.grad.data, 56 * xd)


def test_wide_graph_sums_all_branches():
    x = _var(1.0, 2.0)
    branches = [x * float(i) for i in range(1, 1001)]
    total = branches[0]
    for b in branches[1:]:
        total = total + b
    total.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [500500.0, 500500.0])


# --------------------------------------------------------------------------- multi-output ops


class _Split(Function):
    """(y0, y1) = (x, 2 x); records the gradients its backward receives."""

    seen: list = []

    def forward(self, x):
        return x.copy(), 2 * x

    def backward(self, gy0, gy1):
        type(self).seen.append((gy0.data.copy(), gy1.data.copy()))
        return gy0 + gy1 * 2.0


def test_multi_output_backward_runs_once_after_all_output_grads_are_complete():
    _Split.seen = []
    x = _var(1.0, -1.0)
    y0, y1 = _Split()(x)
    # y0 reaches the loss through a long chain, y1 through two short paths: the split's
    # backward must wait for both to be complete.
    c = y0
    for _ in range(5):
        c = c * 1.0
    out = (c * 2.0).sum() + (y1 * 4.0).sum() + (y1 + c).sum()
    out.backward()
    assert len(_Split.seen) == 1
    gy0, gy1 = _Split.seen[0]
    np.testing.assert_array_equal(gy0, [3.0, 3.0])
    np.testing.assert_array_equal(gy1, [5.0, 5.0])
    np.testing.assert_array_equal(x.grad.data, [13.0, 13.0])


def test_multi_output_unused_output_gets_zero_grad():
    _Split.seen = []
    x = _var(1.0, -1.0)
    y0, y1 = _Split()(x)
    (y1 * 3.0).sum().backward()
    gy0, gy1 = _Split.seen[0]
    np.testing.assert_array_equal(gy0, [0.0, 0.0])
    np.testing.assert_array_equal(gy1, [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])
    assert y0.creator is y1.creator


# --------------------------------------------------------------------------- random graphs

_UNARY = [F.tanh, lambda a: -a, lambda a: a + 0.0, lambda a: a.reshape(2, 3).reshape(6)]
_BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b * 0.5]


def _random_graph(seed: int):
    """f(*leaves): a random DAG of 30 ops over 3 leaves, nodes reused many times."""
    rng = np.random.default_rng(seed)
    plan = []
    for i in range(30):
        if rng.random() < 0.3:
            plan.append((_UNARY[rng.integers(len(_UNARY))], (rng.integers(3 + i),)))
        else:
            op = _BINARY[rng.integers(len(_BINARY))]
            plan.append((op, tuple(rng.integers(3 + i, size=2))))
    outs = rng.choice(33, size=10, replace=False)

    def f(*leaves):
        nodes = list(leaves)
        for op, args in plan:
            nodes.append(op(*(nodes[j] for j in args)))
        total = nodes[outs[0]]
        for j in outs[1:]:
            total = total + nodes[j]
        return total

    return f


@pytest.mark.parametrize("seed", range(25))
def test_random_dags_match_numerical_gradients(seed):
    # Gradients passed on unchanged (add, x + 0, reshape) reach several nodes at once: a
    # wrong in-place sum in the engine shows up here as a wrong gradient.
    f = _random_graph(seed)
    rng = np.random.default_rng(100 + seed)
    leaves = [Variable(rng.uniform(-1, 1, 6)) for _ in range(3)]
    f(*leaves).sum().backward()
    by_grad = mg.grad(f(*leaves).sum(), leaves)
    numeric = mg.numerical_grad(f, *[v.data.copy() for v in leaves])
    for v, g, n in zip(leaves, by_grad, numeric):
        got = np.zeros(6) if v.grad is None else v.grad.data
        np.testing.assert_allclose(got, n, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(np.zeros(6) if g is None else g.data, got, rtol=1e-12)
