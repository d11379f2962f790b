"""User-defined Functions, constant inputs and `needs_input_grad` (design §2)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Function, Variable
from minigrad.functions.linalg import Linear


class Cube(Function):
    """y = x**3, written the way the docs show a custom op: backward on Variables."""

    def forward(self, x):
        return x**3

    def backward(self, gy):
        (x,) = self.inputs
        return gy * 3.0 * x**2


def test_custom_function_forward_and_backward():
    x = Variable(np.array([1.0, -2.0, 0.5]))
    y = Cube()(x)
    assert isinstance(y, Variable)
    np.testing.assert_array_equal(y.data, [1.0, -8.0, 0.125])
    assert y.creator.name == "cube" and y.creator.inputs[0] is x
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0, 0.75])
    assert x.grad.dtype == np.float64


def test_custom_function_in_a_larger_graph_matches_numerical_grad():
    x = Variable(np.array([0.3, -0.7]))
    w = Variable(np.array([1.5, 2.0]))
    f = lambda a, b: (F.tanh(Cube()(a) * b) + a).sum()
    f(x, w).backward()
    nx, nw = mg.numerical_grad(f, x.data.copy(), w.data.copy())
    np.testing.assert_allclose(x.grad.data, nx, rtol=1e-7)
    np.testing.assert_allclose(w.grad.data, nw, rtol=1e-7)


def test_custom_function_default_name_is_snake_case():
    class SoftCubeRoot(Function):
        def forward(self, x):
            return np.cbrt(x)

    class Named(Function):
        name = "my_op"

    assert SoftCubeRoot.name == "soft_cube_root"
    assert Named.name == "my_op"


class _Wrong(Function):
    """Its backward returns a gradient of the wrong shape."""

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return gy.sum()


def test_custom_backward_with_wrong_shape_names_op_and_shapes():
    x = Variable(np.ones((2, 3)))
    y = _Wrong()(x).sum()
    with pytest.raises(RuntimeError, match=r"_wrong.*\(\).*\(2, 3\)"):
        y.backward()


class _TooMany(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy, gy


def test_custom_backward_with_wrong_number_of_grads_raises():
    y = _TooMany()(Variable(np.ones(2))).sum()
    with pytest.raises(RuntimeError, match=r"2 gradients for 1 inputs"):
        y.backward()


def test_function_without_forward_or_backward_raises():
    class NoForward(Function):
        pass

    with pytest.raises(NotImplementedError, match="NoForward.forward"):
        NoForward()(Variable(np.ones(1)))

    class NoBackward(Function):
        def forward(self, x):
            return x * 2

    y = NoBackward()(Variable(np.ones(1)))
    with pytest.raises(NotImplementedError, match="NoBackward.backward"):
        y.backward()


# --------------------------------------------------------------------------- constants


class Product3(Function):
    """y = a * b * c; its backward computes only the gradients `needs_input_grad` asks for."""

    computed: list[int] = []
    needs: list[tuple[bool, ...]] = []

    def forward(self, a, b, c):
        return a * b * c

    def backward(self, gy):
        a, b, c = self.inputs
        need = self.needs_input_grad
        type(self).needs.append(need)
        grads = [None, None, None]
        for i, other in enumerate(((b, c), (a, c), (a, b))):
            if need[i]:
                type(self).computed.append(i)
                grads[i] = gy * other[0] * other[1]
        return tuple(grads)


@pytest.fixture
def product3():
    Product3.computed = []
    Product3.needs = []
    return Product3


def test_constant_inputs_get_no_grad_and_it_is_never_computed(product3):
    x = Variable(np.array([1.0, 2.0]))
    arr = np.array([3.0, 4.0])
    c = Variable(np.array([5.0, 6.0]), requires_grad=False)
    y = product3()(x, arr, c)
    assert y.creator.needs_input_grad == (True, False, False)
    y.sum().backward()
    assert product3.needs == [(True, False, False)]
    assert product3.computed == [0]
    np.testing.assert_array_equal(x.grad.data, [15.0, 24.0])
    assert c.grad is None


def test_input_computed_from_constants_only_is_a_constant(product3):
    x = Variable(np.array([1.0, 2.0]))
    c = Variable(np.array([5.0, 6.0]), requires_grad=False)
    c2 = F.exp(c) * 2.0  # no input requires grad: nothing is recorded
    assert c2.creator is None and not c2.requires_grad
    y = product3()(c2, x, np.ones(2))
    y.sum().backward()
    assert product3.computed == [1]
    np.testing.assert_allclose(x.grad.data, 2 * np.exp([5.0, 6.0]))


def test_every_input_needing_grad_gets_computed(product3):
    a, b, c = (Variable(np.array([v])) for v in (2.0, 3.0, 4.0))
    product3()(a, b, c).backward()
    assert product3.needs == [(True, True, True)]
    assert sorted(product3.computed) == [0, 1, 2]
    assert (a.grad.item(), b.grad.item(), c.grad.item()) == (12.0, 8.0, 6.0)


def test_only_recorded_when_some_input_needs_grad(product3):
    y = product3()(np.ones(2), Variable(np.ones(2), requires_grad=False), 2.0)
    assert y.creator is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


@pytest.fixture
def linear_backward_results(monkeypatch):
    """Record what every Linear.backward returns."""
    results = []
    original = Linear.backward

    def spy(self, gy):
        out = original(self, gy)
        results.append(out)
        return out

    monkeypatch.setattr(Linear, "backward", spy)
    return results


def test_linear_with_constant_input_never_computes_its_gradient(linear_backward_results):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    W = Variable(rng.standard_normal((3, 2)))
    b = Variable(rng.standard_normal(2))
    y = F.linear(x, W, b)
    fn = y.creator
    assert fn.needs_input_grad == (False, True, True)
    gy = rng.standard_normal((4, 2))
    y.backward(gy)
    # needs_input_grad survives the release of the saved arrays.
    assert fn.needs_input_grad == (False, True, True)
    ((gx, gW, gb),) = linear_backward_results
    assert gx is None  # the data batch's gradient, gy @ W.T, was never computed
    np.testing.assert_allclose(W.grad.data, x.T @ gy)
    np.testing.assert_allclose(b.grad.data, gy.sum(axis=0))


def test_linear_with_constant_variable_input(linear_backward_results):
    x = Variable(np.ones((2, 3)), requires_grad=False)
    W = Variable(np.full((3, 2), 0.5))
    y = F.linear(x, W)
    assert y.creator.needs_input_grad == (False, True)
    y.sum().backward()
    ((gx, gW),) = linear_backward_results
    assert gx is None and x.grad is None
    np.testing.assert_array_equal(W.grad.data, np.full((3, 2), 2.0))


def test_linear_computes_the_input_gradient_when_it_is_needed(linear_backward_results):
    x = Variable(np.ones((2, 3)))
    W = Variable(np.arange(6.0).reshape(3, 2))
    F.linear(x, W).sum().backward()
    ((gx, gW),) = linear_backward_results
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 2)) @ W.data.T)
