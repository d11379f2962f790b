"""add, sub, mul, div, neg, pow: values, gradients on broadcast shapes drawn by hypothesis,
second derivatives, the operator forms with numbers and ndarrays on either side, dtypes, errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import F, Variable

from .check import broadcast_pairs, check_op, few_examples, grads_of

seeds = st.integers(0, 2**16)


def away_from_zero(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values with |x| in [0.5, 2] and random signs: safe denominators."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# ------------------------------------------------------------------ broadcast shapes, hypothesis


@few_examples
@given(shapes=broadcast_pairs, seed=seeds)
def test_add_broadcasts(shapes, seed):
    check_op(F.add, np.add, *shapes.input_shapes, seed=seed, gradgrad=True)


@few_examples
@given(shapes=broadcast_pairs, seed=seeds)
def test_sub_broadcasts(shapes, seed):
    check_op(F.sub, np.subtract, *shapes.input_shapes, seed=seed, gradgrad=True)


@few_examples
@given(shapes=broadcast_pairs, seed=seeds)
def test_mul_broadcasts(shapes, seed):
    check_op(F.mul, np.multiply, *shapes.input_shapes, seed=seed, gradgrad=True)


@few_examples
@given(shapes=broadcast_pairs, seed=seeds)
def test_div_broadcasts(shapes, seed):
    s0, s1 = shapes.input_shapes
    den = away_from_zero(s1, seed)
    check_op(F.div, np.divide, s0, den, seed=seed, gradgrad=True)


@few_examples
@given(shapes=broadcast_pairs, seed=seeds)
def test_pow_broadcasts_with_positive_bases(shapes, seed):
    s0, s1 = shapes.input_shapes
    rng = np.random.default_rng(seed)
    base, exponent = rng.uniform(0.5, 2.0, size=s0), rng.uniform(-2.0, 2.0, size=s1)
    check_op(F.pow, np.power, base, exponent, seed=seed, gradgrad=True)


# ------------------------------------------------------------------ fixed tables


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_neg(shape):
    check_op(F.neg, np.negative, shape, gradgrad=True)
    check_op(lambda x: -x, np.negative, shape)


@pytest.mark.parametrize(
    ("op", "np_op"),
    [
        (lambda a, b: a + b, np.add),
        (lambda a, b: a - b, np.subtract),
        (lambda a, b: a * b, np.multiply),
    ],
)
@pytest.mark.parametrize(("s0", "s1"), [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 2))])
def test_operators_match_the_functions(op, np_op, s0, s1):
    check_op(op, np_op, s0, s1)


def test_true_division_operator():
    check_op(lambda a, b: a / b, np.divide, (2, 3), away_from_zero((3,), 1))


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, -1.5, 0, 1])
def test_pow_with_a_number_exponent(exponent):
    check_op(lambda x: x**exponent, lambda x: x**exponent, (2, 3), low=0.5, high=2.0, gradgrad=True)
    check_op(lambda x: F.pow(x, exponent), lambda x: x**exponent, (4,), low=0.5, high=2.0)


def test_pow_with_a_constant_array_exponent():
    e = np.array([2.0, 0.5, -1.0])
    # The exponent takes the base's dtype, as a float64 constant would promote a float32 base.
    y = check_op(
        lambda x: x ** e.astype(x.dtype), lambda x: x**e, (2, 3), low=0.5, high=2.0, gradgrad=True
    )
    assert y.creator.needs_input_grad == (True, False)


def test_pow_integer_exponent_of_negative_bases():
    (g,) = grads_of(lambda x: x**3, np.array([-2.0, -1.0, 0.0, 1.5]))
    np.testing.assert_allclose(g, 3 * np.array([-2.0, -1.0, 0.0, 1.5]) ** 2)


def test_pow_exponent_gradient_is_y_log_base():
    gb, ge = grads_of(F.pow, np.array([2.0, 3.0]), np.array([3.0, 0.5]))
    np.testing.assert_allclose(gb, [3 * 2.0**2, 0.5 * 3.0**-0.5])
    np.testing.assert_allclose(ge, [8 * np.log(2.0), np.sqrt(3.0) * np.log(3.0)])


# ------------------------------------------------------------------ numbers and ndarrays, both sides


@pytest.mark.parametrize(
    ("expr", "value", "grad"),
    [
        (lambda v: 2 - v, [1.0, 0.0, -2.0], [-1.0, -1.0, -1.0]),
        (lambda v: 2 / v, [2.0, 1.0, 0.5], [-2.0, -0.5, -0.125]),
        (lambda v: 2**v, [2.0, 4.0, 16.0], [2 * np.log(2), 4 * np.log(2), 16 * np.log(2)]),
        (lambda v: 3 + v, [4.0, 5.0, 7.0], [1.0, 1.0, 1.0]),
        (lambda v: 3 * v, [3.0, 6.0, 12.0], [3.0, 3.0, 3.0]),
        (lambda v: v - 1, [0.0, 1.0, 3.0], [1.0, 1.0, 1.0]),
        (lambda v: v / 4, [0.25, 0.5, 1.0], [0.25, 0.25, 0.25]),
        (lambda v: v**2, [1.0, 4.0, 16.0], [2.0, 4.0, 8.0]),
        (lambda v: -v, [-1.0, -2.0, -4.0], [-1.0, -1.0, -1.0]),
        (lambda v: +v, [1.0, 2.0, 4.0], [1.0, 1.0, 1.0]),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reflected_and_scalar_operators(expr, value, grad, dtype):
    v = Variable(np.array([1.0, 2.0, 4.0], dtype=dtype))
    y = expr(v)
    assert isinstance(y, Variable)
    assert y.dtype == dtype, "a Python number must not change the dtype"
    np.testing.assert_allclose(y.data, value, rtol=1e-6)
    y.backward(np.ones(3))
    assert v.grad.dtype == dtype
    np.testing.assert_allclose(v.grad.data, grad, rtol=1e-6)


@pytest.mark.parametrize(
    ("expr", "np_expr"),
    [
        (lambda a, v: a * v, lambda a, x: a * x),
        (lambda a, v: a + v, lambda a, x: a + x),
        (lambda a, v: a - v, lambda a, x: a - x),
        (lambda a, v: a / v, lambda a, x: a / x),
        (lambda a, v: a**v, lambda a, x: a**x),
        (lambda a, v: v - a, lambda a, x: x - a),
        (lambda a, v: v / a, lambda a, x: x / a),
    ],
)
def test_ndarray_on_either_side_gives_a_variable(expr, np_expr):
    a = np.array([[1.5], [2.0]])
    x = np.array([0.5, 1.0, 3.0])
    v = Variable(x.copy())
    y = expr(a, v)
    assert isinstance(y, Variable), "the ndarray must hand over to the Variable"
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.data, np_expr(a, x))
    # The ndarray is a constant: only the Variable gets a gradient.
    assert y.creator.needs_input_grad.count(True) == 1
    mg.gradcheck(lambda v: expr(a, v), x.copy())


def test_ones_times_variable_is_a_variable():
    v = Variable(np.array([1.0, 2.0, 3.0]))
    y = np.ones(3) * v
    assert type(y) is Variable
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    "expr",
    [
        lambda v: v + 1,
        lambda v: 1.5 * v,
        lambda v: v / 3,
        lambda v: 2.0 - v,
        lambda v: v**2,
        lambda v: 2.0**v,
        lambda v: 1 / v,
        lambda v: v * np.float32(2.0),
        lambda v: v * np.float64(2.0),
        lambda v: np.float64(2.0) - v,
        lambda v: v ** np.int64(2),
    ],
)
def test_numbers_never_upcast_float32(expr):
    v = Variable(np.array([[1.0, 2.0]], dtype=np.float32))
    y = expr(v)
    assert y.dtype == np.float32
    (g,) = mg.grad(y.sum(), [v])
    assert g.dtype == np.float32


def test_float32_variable_with_float32_array_stays_float32():
    v = Variable(np.ones((2, 2), dtype=np.float32))
    for y in (
        v * np.ones(2, np.float32),
        np.ones(2, np.float32) - v,
        v / np.full(2, 2, np.float32),
    ):
        assert y.dtype == np.float32


def test_integer_data_flows_without_grad():
    v = Variable(np.arange(3))
    y = v * 2 + 1
    assert y.dtype.kind == "i"
    np.testing.assert_array_equal(y.data, [1, 3, 5])
    assert not y.requires_grad


def test_constant_input_gets_no_gradient():
    v = Variable(np.array([1.0, 2.0]))
    c = Variable(np.array([3.0, 4.0]), requires_grad=False)
    y = F.mul(v, c)
    assert y.creator.needs_input_grad == (True, False)
    y.sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(v.grad.data, [3.0, 4.0])


def test_shared_input_gradients_sum():
    (g,) = grads_of(lambda x: x * x + x / x, np.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(g, [2.0, -4.0, 6.0])


def test_broadcast_gradient_is_summed_to_the_input_shape():
    gb, gx = grads_of(F.add, np.zeros((1, 3)), np.zeros((4, 2, 1)))
    np.testing.assert_array_equal(gb, np.full((1, 3), 8.0))
    np.testing.assert_array_equal(gx, np.full((4, 2, 1), 3.0))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("op", "name"), [(F.add, "add"), (F.sub, "sub"), (F.mul, "mul"), (F.div, "div"), (F.pow, "pow")]
)
def test_shapes_that_do_not_broadcast(op, name):
    x = Variable(np.ones((3, 4)))
    with pytest.raises(
        ValueError, match=rf"^{name}: shapes \(3, 4\) and \(2,\) cannot be broadcast"
    ):
        op(x, np.ones(2))


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        (lambda v: v + "a", "add"),
        (lambda v: v - None, "sub"),
        (lambda v: v * {}, "mul"),
        (lambda v: v / object(), "div"),
        (lambda v: v ** "2", "pow"),
        (lambda v: F.neg("x"), "neg"),
    ],
)
def test_operands_of_the_wrong_type(expr, name):
    v = Variable(np.ones(2))
    with pytest.raises(
        TypeError, match=rf"^{name}: expected a Variable, an ndarray or a number, got"
    ):
        expr(v)
