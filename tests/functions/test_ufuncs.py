"""NumPy's ufuncs on Variables and the comparison operators (minigrad/functions/_ufuncs.py):
which op a ufunc runs (recorded, with the right gradient), comparisons as boolean ndarrays,
`==` as identity, and the errors for everything else.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Variable

from .check import check_op

RNG = np.random.default_rng(0)


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    ("ufunc", "op", "low"),
    [
        (np.exp, "exp", -2.0),
        (np.log, "log", 0.5),
        (np.sqrt, "sqrt", 0.5),
        (np.abs, "abs", -2.0),
        (np.tanh, "tanh", -2.0),
        (np.sin, "sin", -2.0),
        (np.cos, "cos", -2.0),
        (np.negative, "neg", -2.0),
        (np.square, "pow", -2.0),
        (np.reciprocal, "div", 0.5),
    ],
    ids=lambda p: p.__name__ if isinstance(p, np.ufunc) else None,
)
def test_unary_ufuncs_run_the_minigrad_op(ufunc, op, low):
    v = Variable(RNG.uniform(low, 2.0, (2, 3)))
    y = ufunc(v)
    assert isinstance(y, Variable) and y.creator.name == op
    check_op(ufunc, ufunc, (2, 3), low=low, high=2.0, gradgrad=True)


@pytest.mark.parametrize(
    ("ufunc", "op"),
    [
        (np.add, "add"),
        (np.subtract, "sub"),
        (np.multiply, "mul"),
        (np.divide, "div"),
        (np.maximum, "maximum"),
        (np.minimum, "minimum"),
    ],
    ids=lambda p: p.__name__ if isinstance(p, np.ufunc) else None,
)
def test_binary_ufuncs_with_a_variable_on_either_side(ufunc, op):
    a = RNG.uniform(0.5, 2.0, (3, 1))
    v = Variable(RNG.uniform(0.5, 2.0, (1, 4)))
    for y in (ufunc(v, a), ufunc(a, v), ufunc(v, 2.0), ufunc(2.0, v)):
        assert isinstance(y, Variable) and y.creator.name == op
    np.testing.assert_array_equal(ufunc(a, v).data, ufunc(a, v.data))
    check_op(lambda x, w: ufunc(x, w), ufunc, (3, 1), (1, 4), low=0.5, high=2.0, gradgrad=True)


def test_power_and_matmul():
    a = RNG.uniform(0.5, 2.0, (3,))
    v = Variable(RNG.uniform(0.5, 2.0, (3,)))
    assert np.power(v, 2).creator.name == "pow" and np.power(a, v).creator.name == "pow"
    m = RNG.standard_normal((2, 3))
    y = np.matmul(m, v)
    assert y.creator.name == "matmul"
    np.testing.assert_allclose(y.data, m @ v.data)
    check_op(np.matmul, np.matmul, (2, 3), (3, 4), gradgrad=True)


def test_maximum_with_zero_is_a_relu_with_the_tie_split():
    v = Variable(np.array([-1.0, 0.0, 2.0]))
    y = np.maximum(v, 0)
    y.backward(np.ones(3))
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(v.grad.data, [0.0, 0.5, 1.0])


def test_an_ndarray_on_the_left_of_an_operator_gives_a_variable():
    a = np.array([1.0, 2.0])
    v = Variable(np.array([3.0, 4.0]))
    for y, want, op in [
        (a + v, [4.0, 6.0], "add"),
        (a - v, [-2.0, -2.0], "sub"),
        (a * v, [3.0, 8.0], "mul"),
        (a / v, [1 / 3, 0.5], "div"),
        (a**v, [1.0, 16.0], "pow"),
        (np.float64(2.0) * v, [6.0, 8.0], "mul"),
    ]:
        assert isinstance(y, Variable) and y.creator.name == op
        np.testing.assert_allclose(y.data, want)
    assert (a @ v).creator.name == "matmul"
    g = mg.grad((a * v).sum(), [v])[0]
    np.testing.assert_array_equal(g.data, a)


def test_a_numpy_scalar_keeps_float32():
    v = Variable(np.ones(3, np.float32))
    assert (np.float64(2.0) * v).dtype == np.float32
    assert np.multiply(np.float64(2.0), v).dtype == np.float32


def test_ufuncs_record_under_create_graph():
    v = Variable(np.array([0.3, 1.2]))
    (g,) = mg.grad(np.sin(v).sum(), [v], create_graph=True)
    (gg,) = mg.grad(g.sum(), [v])
    np.testing.assert_allclose(gg.data, -np.sin(v.data), rtol=1e-15)


# --------------------------------------------------------------------------- comparisons


def test_comparisons_give_boolean_arrays():
    x = np.array([-1.0, 0.0, 2.0])
    v, w = Variable(x), Variable(np.array([0.0, 0.0, 0.0]))
    a = np.zeros(3)
    for got, want in [
        (v < 0, x < 0),
        (v <= 0, x <= 0),
        (v > 0, x > 0),
        (v >= 0, x >= 0),
        (0 < v, x > 0),
        (1.5 >= v, x <= 1.5),
        (v < w, x < 0),
        (v >= w, x >= 0),
        (a < v, x > 0),
        (a >= v, x <= 0),
        (np.float32(0) > v, x < 0),
        (np.greater(v, a), x > 0),
    ]:
        assert type(got) is np.ndarray and got.dtype == bool
        np.testing.assert_array_equal(got, want)


def test_a_comparison_is_not_recorded_and_serves_as_a_mask():
    v = Variable(np.array([-1.0, 2.0]))
    mask = v > 0
    y = F.where(mask, v, 0.0)
    y.backward(np.ones(2))
    np.testing.assert_array_equal(v.grad.data, [0.0, 1.0])


def test_comparison_errors():
    v = Variable(np.ones(3))
    with pytest.raises(ValueError, match=r"^<: shapes \(3,\) and \(4,\) cannot be broadcast"):
        v < np.ones(4)  # noqa: B015
    with pytest.raises(TypeError, match=r"'<' not supported between instances of 'Variable' and"):
        v < "a"  # noqa: B015
    with pytest.raises(ValueError, match=r"truth value of a Variable of shape \(3,\) is ambiguous"):
        bool(Variable(np.ones(3)))


def test_equality_is_identity_on_every_side():
    a = np.ones(3)
    v = Variable(a)
    w = Variable(a)
    assert v == v and not (v == w) and v != w
    assert (v == a) is False and (a == v) is False and (a != v) is True
    assert np.equal(v, v) is True
    # The engine keys dicts and sets on Variables.
    assert len({v, w}) == 2 and {v: 1}[v] == 1
    assert v in [a, v] and [a, w].index(w) == 1


def test_predicates_on_the_values():
    v = Variable(np.array([1.0, np.nan, np.inf]))
    np.testing.assert_array_equal(np.isnan(v), [False, True, False])
    np.testing.assert_array_equal(np.isinf(v), [False, False, True])
    np.testing.assert_array_equal(np.isfinite(v), [True, False, False])


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda v, a: np.arcsinh(v),
            r"^np.arcsinh is not supported on Variables \(minigrad has no arcsinh op\); use "
            r"F.log\(v \+ F.sqrt\(v \* v \+ 1\)\)",
        ),
        (lambda v, a: np.log1p(v), r"^np.log1p is not supported .*; use F.log\(1 \+ v\)"),
        (
            lambda v, a: np.floor(v),
            r"^np.floor is not supported .*; use np.floor\(v.data\), a plain array",
        ),
        (
            lambda v, a: np.arctan2(v, a),
            r"^np.arctan2 is not supported on Variables \(minigrad has no arctan2 op\); build it "
            r"from minigrad's ops",
        ),
        (
            lambda v, a: np.add.reduce(v),
            r"^np.add.reduce is not supported on Variables; use F.sum\(v, axis\)",
        ),
        (
            lambda v, a: np.add.accumulate(v),
            r"^np.add.accumulate is not supported on Variables; call np.add.accumulate on v.data",
        ),
        (
            lambda v, a: np.exp(v, out=a),
            r"^np.exp\(..., out=...\) is not supported on Variables: minigrad ops make new arrays",
        ),
        (lambda v, a: np.add(v, a, where=a > 0), r"^np.add\(..., where=...\) is not supported"),
        (lambda v, a: np.exp(a, out=v), r"^np.exp\(..., out=...\) is not supported"),
        (lambda v, a: np.sqrt(v, dtype=np.float32), r"^np.sqrt\(..., dtype=...\) is not supported"),
    ],
)
def test_other_ufuncs_say_what_to_use(call, message):
    v = Variable(np.ones(3))
    with pytest.raises(TypeError, match=message):
        call(v, np.ones(3))


def test_every_table_entry_is_a_ufunc_and_the_ops_are_the_functions():
    from minigrad.core import _UFUNC_OPS
    from minigrad.functions._ufuncs import UFUNC_OPS

    assert all(isinstance(u, np.ufunc) for u in UFUNC_OPS)
    assert UFUNC_OPS[np.exp] is F.exp and UFUNC_OPS[np.add] is F.add
    assert _UFUNC_OPS == UFUNC_OPS
