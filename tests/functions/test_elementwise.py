"""exp, log, sqrt, abs, tanh, sin, cos, clip, where, maximum, minimum: values, gradients
(first and second order, and sin's fourth), the fixed derivatives at kinks, dtypes, errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Variable

from .check import check_op, grads_of

SHAPES = [(), (4,), (2, 3, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("fn", "np_fn", "low", "high"),
    [
        (F.exp, np.exp, -2.0, 2.0),
        (F.log, np.log, 0.5, 3.0),
        (F.sqrt, np.sqrt, 0.5, 3.0),
        (F.abs, np.abs, -2.0, 2.0),
        (F.tanh, np.tanh, -2.0, 2.0),
        (F.sin, np.sin, -4.0, 4.0),
        (F.cos, np.cos, -4.0, 4.0),
    ],
    ids=["exp", "log", "sqrt", "abs", "tanh", "sin", "cos"],
)
def test_unary(fn, np_fn, low, high, shape):
    check_op(fn, np_fn, shape, low=low, high=high, gradgrad=True)


@pytest.mark.parametrize(
    ("method", "np_fn", "low"),
    [
        ("exp", np.exp, -1.0),
        ("log", np.log, 0.5),
        ("sqrt", np.sqrt, 0.5),
        ("abs", np.abs, -1.0),
        ("tanh", np.tanh, -1.0),
        ("sin", np.sin, -1.0),
        ("cos", np.cos, -1.0),
    ],
)
def test_method_forms(method, np_fn, low):
    check_op(lambda x: getattr(x, method)(), np_fn, (3, 2), low=low)


@pytest.mark.parametrize(("fn", "np_fn"), [(F.sin, np.sin), (F.cos, np.cos)], ids=["sin", "cos"])
def test_sin_cos_broadcast_with_other_ops(fn, np_fn):
    check_op(lambda x, w: fn(x * w), lambda x, w: np_fn(x * w), (2, 1, 3), (4, 1), gradgrad=True)


def test_the_fourth_derivative_of_sin_is_sin():
    # DeZero's higher-order example: differentiate sin four times, each derivative recorded.
    x = np.linspace(-3.0, 3.0, 7)
    v = Variable(x.copy())
    y = F.sin(v)
    derivatives = []
    for _ in range(4):
        (y,) = mg.grad(y.sum(), [v], create_graph=True)
        derivatives.append(y.data)
    np.testing.assert_allclose(derivatives[0], np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(derivatives[1], -np.sin(x), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(derivatives[2], -np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(derivatives[3], np.sin(x), rtol=1e-14, atol=1e-15)


def test_the_fourth_derivative_of_sin_by_backward_as_dezero_writes_it():
    x = Variable(np.array(1.0))
    y = F.sin(x)
    y.backward(create_graph=True)
    for _ in range(3):
        gx = x.grad
        x.zero_grad()
        gx.backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, np.sin(1.0), rtol=1e-15)


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_reject_integer_data(name):
    with pytest.raises(TypeError, match=rf"^{name}: expected floating-point data, got int64"):
        getattr(F, name)(np.arange(3))


def test_abs_gradient_at_zero_is_zero():
    (g,) = grads_of(F.abs, np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_tanh_saturates_without_nan():
    (g,) = grads_of(F.tanh, np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("lo", "hi"), [(-0.5, 0.5), (None, 0.3), (-0.3, None)])
def test_clip(lo, hi, shape):
    check_op(lambda x: F.clip(x, lo, hi), lambda x: np.clip(x, lo, hi), shape, gradgrad=True)


def test_clip_passes_the_gradient_at_the_bounds():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    (g,) = grads_of(lambda v: v.clip(-0.5, 0.5), x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("lo", "hi", "message"),
    [
        (None, None, r"^clip: at least one of lo and hi must be given"),
        (1.0, -1.0, r"^clip: lo \(1.0\) is greater than hi \(-1.0\)"),
    ],
)
def test_clip_bad_bounds(lo, hi, message):
    with pytest.raises(ValueError, match=message):
        F.clip(Variable(np.ones(3)), lo, hi)


@pytest.mark.parametrize(
    ("cond_shape", "s0", "s1"),
    [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)), ((2, 3), (), (2, 1))],
)
def test_where(cond_shape, s0, s1):
    cond = np.random.default_rng(5).random(cond_shape) > 0.5
    check_op(
        lambda a, b: F.where(cond, a, b), lambda a, b: np.where(cond, a, b), s0, s1, gradgrad=True
    )


def test_where_routes_the_gradient_by_the_condition():
    cond = np.array([True, False, True])
    g0, g1 = grads_of(lambda a, b: F.where(cond, a, b), np.zeros(3), np.zeros(1))
    np.testing.assert_array_equal(g0, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(g1, [1.0])


def test_where_with_a_number():
    v = Variable(np.array([-1.0, 2.0], dtype=np.float32))
    y = F.where(v.data > 0, v, 0.0)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [0.0, 2.0])


def test_where_errors():
    with pytest.raises(TypeError, match=r"^where: cond must be a boolean array, got dtype float64"):
        F.where(np.ones(3), Variable(np.ones(3)), 0.0)
    with pytest.raises(
        ValueError, match=r"^where: shapes \(3,\), \(2,\) and \(3,\) cannot be broadcast together"
    ):
        F.where(np.ones(3, dtype=bool), Variable(np.ones(2)), np.ones(3))


@pytest.mark.parametrize(("s0", "s1"), [((3,), (3,)), ((2, 1), (1, 3)), ((2, 3, 4), ())])
@pytest.mark.parametrize(
    ("fn", "np_fn"), [(F.maximum, np.maximum), (F.minimum, np.minimum)], ids=["maximum", "minimum"]
)
def test_maximum_minimum(fn, np_fn, s0, s1):
    check_op(fn, np_fn, s0, s1, seed=3, gradgrad=True)


@pytest.mark.parametrize(
    ("fn", "g0", "g1"),
    [(F.maximum, [0.0, 0.5, 1.0], 1.5), (F.minimum, [1.0, 0.5, 0.0], 1.5)],
    ids=["maximum", "minimum"],
)
def test_maximum_minimum_split_ties_evenly(fn, g0, g1):
    gx0, gx1 = grads_of(fn, np.array([1.0, 2.0, 3.0]), np.array(2.0))
    np.testing.assert_array_equal(gx0, g0)
    np.testing.assert_array_equal(gx1, g1)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_shape_error(name):
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(3,\) and \(2,\) cannot be broadcast"):
        getattr(F, name)(Variable(np.ones(3)), np.ones(2))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "tanh"])
def test_unary_wrong_type(name):
    with pytest.raises(
        TypeError, match=rf"^{name}: expected a Variable, an ndarray or a number, got str"
    ):
        getattr(F, name)("1.0")
