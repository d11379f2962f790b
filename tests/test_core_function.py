"""User-defined Functions, constant inputs and `needs_input_grad` (docs/architecture.md, "The engine")."""

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


def test_custom_backward_with_wrong_shape_gives_no_broadcast_hint_when_none_applies():
    x = Variable(np.ones((2, 3)))
    with pytest.raises(RuntimeError) as e:
        _Wrong()(x).sum().backward()
    assert "sum_to" not in str(e.value)


class _AddUnreduced(Function):
    """x + b with b broadcast, whose backward forgets to reduce b's gradient."""

    def forward(self, x, b):
        return x + b

    def backward(self, gy):
        return gy, gy


def test_unreduced_gradient_of_a_broadcast_input_suggests_sum_to():
    x = Variable(np.ones((4, 3)))
    b = Variable(np.zeros(3), name="b")
    with pytest.raises(RuntimeError) as e:
        _AddUnreduced()(x, b).sum().backward()
    msg = str(e.value)
    assert (
        "_add_unreduced.backward returned a gradient of shape (4, 3) for input 1 of shape (3,)"
        in msg
    )
    assert "broadcast to (4, 3)" in msg
    assert "F.sum_to(gx, (3,))" in msg and "_both.sum_to" in msg

    class _AddReduced(_AddUnreduced):
        def backward(self, gy):
            return gy, F.sum_to(gy, (3,))

    # The fix the message gives works.
    _AddReduced()(x, b).sum().backward()
    np.testing.assert_array_equal(b.grad.data, [4.0, 4.0, 4.0])


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


# --------------------------------------------------------------------------- call paths
# Function.__call__ hands one, two and three inputs to spelled-out paths and anything else to
# a general one; each must record the same node.


class Weighted(Function):
    """y = sum_i (i + 1) * x_i for any number of inputs."""

    def forward(self, *xs):
        out = np.zeros_like(xs[0])
        for i, x in enumerate(xs):
            out = out + (i + 1) * x
        return out

    def backward(self, gy):
        return tuple(
            gy * float(i + 1) if need else None for i, need in enumerate(self.needs_input_grad)
        )


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_any_number_of_inputs_records_the_node_and_its_gradients(n):
    xs = [Variable(np.array([1.0, 2.0]) * (i + 1)) for i in range(n)]
    # The second input is a constant array when there is one: it needs no grad.
    args = [x.data if i == 1 else x for i, x in enumerate(xs)]
    y = Weighted()(*args)
    f = y.creator
    assert len(f.inputs) == n and all(a is b for a, b in zip(f.inputs, args))
    assert f.needs_input_grad == tuple(i != 1 for i in range(n))
    assert f.generation == 0
    np.testing.assert_array_equal(y.data, sum((i + 1) * x.data for i, x in enumerate(xs)))
    y.backward(np.ones(2))
    for i, x in enumerate(xs):
        if i == 1:
            assert x.grad is None
        else:
            np.testing.assert_array_equal(x.grad.data, [i + 1.0, i + 1.0])


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_generation_and_order_follow_every_parent(n):
    # Each input comes from a chain of a different length: the node's generation is one more
    # than the deepest, and backward reaches every leaf once.
    leaves = [Variable(np.array([1.0])) for _ in range(n)]
    inputs = []
    for depth, leaf in enumerate(leaves):
        v = leaf
        for _ in range(depth):
            v = v * 1.0
        inputs.append(v)
    y = Weighted()(*inputs)
    assert y.creator.generation == max(n - 1, 0)
    y.backward(np.ones(1))
    assert [leaf.grad.item() for leaf in leaves] == [i + 1.0 for i in range(n)]


def test_outputs_are_weak_references_to_the_output_variables():
    x = Variable(np.array([1.0, 2.0]))
    y = x * 2.0
    (ref,) = y.creator.outputs
    assert ref() is y
    y0, y1 = _Pair()(x)
    assert [r() for r in y0.creator.outputs] == [y0, y1]
    f = y.creator
    del y
    assert f.outputs[0]() is None  # only weakly held: the output is gone


class _Pair(Function):
    def forward(self, x):
        return x.copy(), x * 3

    def backward(self, g0, g1):
        return g0 + 3 * g1


@pytest.mark.parametrize("value", [2.5, np.float64(3.0)])
def test_forward_returning_a_python_number_gives_a_0d_variable(value):
    class Const(Function):
        def forward(self, x, y=None):
            return value

        def backward(self, gy):
            return tuple(x * 0.0 for x in self.inputs)

    x = Variable(np.array([1.0]))
    for args in [(x,), (x, x)]:
        y = Const()(*args)
        assert y.shape == () and y.item() == value and y.creator is not None
        y.backward()
        assert x.grad is not None
        x.zero_grad()


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_anomaly_checked_whatever_the_number_of_inputs(n):
    class Bad(Function):
        def forward(self, *xs):
            return np.full_like(xs[0], np.nan)

    xs = [Variable(np.ones(2)) for _ in range(n)]
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError, match=r"bad produced NaN"):
        Bad()(*xs)


# --------------------------------------------------------------------------- the op dialect


class Scaled(Function):
    """A user op with a setting from its constructor and a value saved in forward."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        self.square = x * x
        return self.factor * self.square

    def backward(self, gy):
        (x,) = self.saved_inputs
        return gy * 2.0 * self.factor * x

    def label(self):
        return f"scaled {self.factor}"


def test_release_drops_what_forward_saved_and_keeps_the_settings():
    x = Variable(np.array([1.0, 2.0]))
    y = Scaled(3.0)(x)
    f = y.creator
    assert f.square is not None
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad.data, [6.0, 12.0])
    assert f.released and f.saved_inputs == () and f.saved_outputs == ()
    assert not hasattr(f, "square")
    assert f.factor == 3.0 and f.label() == "scaled 3.0"  # the graph can still be drawn


def test_a_user_backward_gets_variables_and_saved_values_of_the_same_kind():
    seen = {}

    class Probe(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            seen["gy"] = type(gy)
            seen["x"] = type(self.saved_inputs[0])
            seen["y"] = type(self.saved_outputs[0])
            return gy * 2.0

    x = Variable(np.array([1.0]))
    Probe()(x).sum().backward()
    assert seen == {"gy": Variable, "x": Variable, "y": Variable}
    np.testing.assert_array_equal(x.grad.data, [2.0])


def test_a_builtin_backward_gets_arrays_unless_the_backward_is_recorded():
    from minigrad.functions.elementwise import Tanh

    seen = []
    original = Tanh.backward

    def spy(self, gy):
        seen.append((type(gy), type(self.saved_outputs[0])))
        return original(self, gy)

    Tanh.backward = spy
    try:
        x = Variable(np.array([0.5]))
        F.tanh(x).sum().backward()
        F.tanh(x).sum().backward(create_graph=True)
    finally:
        Tanh.backward = original
    assert seen == [(np.ndarray, np.ndarray), (Variable, Variable)]


def test_mT_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"mT.*\(3,\)"):
        _ = Variable(np.ones(3)).mT
    v = Variable(np.ones((2, 3, 4)))
    assert v.mT.shape == (2, 4, 3)
