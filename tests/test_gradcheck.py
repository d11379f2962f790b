"""minigrad.gradcheck: numerical_grad, gradcheck and gradgradcheck."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Function, Variable
from minigrad.gradcheck import GradcheckError

# --------------------------------------------------------------------------- numerical_grad


def test_numerical_grad_of_a_quadratic_is_exact():
    x = np.array([1.0, -2.0, 3.0])
    (g,) = mg.numerical_grad(lambda a: (a * a).sum(), x)
    assert g.dtype == np.float64 and g.shape == (3,)
    # Central differences are exact on quadratics; what is left is f's rounding error
    # (~1e-16 |f|) divided by eps (1e-6), hence rtol 1e-7 in these tests.
    np.testing.assert_allclose(g, [2.0, -4.0, 6.0], rtol=1e-7)


def test_numerical_grad_of_a_product_sums_non_scalar_outputs():
    a = np.array([1.0, 2.0])
    b = np.array([3.0, 4.0])
    ga, gb = mg.numerical_grad(lambda u, v: u * v, a, b)
    np.testing.assert_allclose(ga, [3.0, 4.0], rtol=1e-7)
    np.testing.assert_allclose(gb, [1.0, 2.0], rtol=1e-7)


def test_numerical_grad_of_exp_and_on_a_matrix():
    (g,) = mg.numerical_grad(F.exp, np.array([0.0, 1.0]))
    np.testing.assert_allclose(g, np.exp([0.0, 1.0]), rtol=1e-7)
    w = np.arange(6.0).reshape(2, 3)
    x = np.array([[1.0, 2.0]])
    (gw,) = mg.numerical_grad(lambda m: x @ m, w)
    np.testing.assert_allclose(gw, np.array([[1.0] * 3, [2.0] * 3]), rtol=1e-7)


def test_numerical_grad_restores_the_inputs():
    x = Variable(np.array([0.1, 0.2, 0.3]))
    before = x.data.copy()
    mg.numerical_grad(lambda a: F.tanh(a), x)
    np.testing.assert_array_equal(x.data, before)


def test_numerical_grad_rejects_integer_inputs():
    with pytest.raises(TypeError, match="int64"):
        mg.numerical_grad(lambda a: a, Variable(np.array([1, 2])))
    with pytest.raises(TypeError, match="str"):
        mg.numerical_grad(lambda a: a, "abc")


# --------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize(
    ("f", "shapes"),
    [
        (lambda a, b: a * b, [(2, 3), (3,)]),
        (lambda a, b: a / b + a, [(2, 1), (1, 3)]),
        (lambda a: F.tanh(a).sum(axis=0), [(3, 2)]),
        (lambda a, b: F.exp(a @ b), [(2, 3), (3, 2)]),
        (lambda a: (a**3, F.sigmoid(a)), [(4,)]),
    ],
)
def test_gradcheck_passes_on_correct_ops(f, shapes):
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(0.5, 1.5, s) for s in shapes]
    assert mg.gradcheck(f, *inputs) is True


def test_gradcheck_with_a_constant_input():
    x = np.array([0.5, 1.5])
    c = Variable(np.array([2.0, 3.0]), requires_grad=False)
    assert mg.gradcheck(lambda a, k: a * k, x, c) is True


class WrongMul(Function):
    """y = a * b, with a wrong gradient for b (1.5 a instead of a)."""

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return gy * b, gy * a * 1.5


def test_gradcheck_names_input_and_largest_mismatch():
    a = np.array([1.0, 2.0])
    b = np.array([3.0, -4.0])
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda u, v: WrongMul()(u, v), a, b)
    msg = str(info.value)
    assert "input 1" in msg
    # the worst element is index 1: analytic 3.0, numerical 2.0
    assert "index (1,)" in msg and "largest mismatch 1" in msg
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_error_is_an_assertion_error():
    with pytest.raises(AssertionError):
        mg.gradcheck(lambda u, v: WrongMul()(u, v), np.ones(2), np.ones(2))


def test_gradcheck_rejects_float32_variables():
    x = Variable(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"input 0.*float32"):
        mg.gradcheck(F.exp, x)


def test_gradcheck_rejects_non_arrays():
    with pytest.raises(TypeError, match=r"input 0.*str"):
        mg.gradcheck(F.exp, "x")


# --------------------------------------------------------------------------- gradgradcheck


@pytest.mark.parametrize(
    ("f", "shapes"),
    [
        (lambda a, b: F.tanh(a * b) * a, [(2,), (2,)]),
        (lambda a: F.exp(a).sum() * a, [(3,)]),
        (lambda a, b: (a @ b) ** 2, [(2, 3), (3, 2)]),
    ],
)
def test_gradgradcheck_passes_on_correct_ops(f, shapes):
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(-1.0, 1.0, s) for s in shapes]
    assert mg.gradgradcheck(f, *inputs) is True


class ConstSquare(Function):
    """y = x**2 whose backward builds 2x from `.data`: right once, not differentiable."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        (x,) = self.inputs
        return gy * Variable(2.0 * x.data, requires_grad=False)


class Square(Function):
    """y = x**2 with a backward recorded on Variables (differentiable)."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        (x,) = self.inputs
        return gy * 2.0 * x


def test_gradgradcheck_fails_on_a_backward_that_is_not_differentiable():
    x = np.array([1.0, 2.0])
    assert mg.gradcheck(lambda a: ConstSquare()(a), x) is True
    with pytest.raises(GradcheckError, match="input 0"):
        mg.gradgradcheck(lambda a: ConstSquare()(a), x)


def test_gradgradcheck_passes_on_a_differentiable_custom_backward():
    x = np.array([1.0, 2.0])
    assert mg.gradgradcheck(lambda a: Square()(a) * a, x) is True
