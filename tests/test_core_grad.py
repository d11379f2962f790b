"""`minigrad.grad`, higher-order derivatives, hooks and `retain_grad` (docs/architecture.md, "The engine")."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Function, Variable

# --------------------------------------------------------------------------- grad()


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x = Variable(np.array([1.0, 2.0]))
    w = Variable(np.array([3.0, -1.0]))
    y = (x * w).sum()
    gs = mg.grad(y, [x, w])
    assert isinstance(gs, tuple) and len(gs) == 2
    np.testing.assert_array_equal(gs[0].data, [3.0, -1.0])
    np.testing.assert_array_equal(gs[1].data, [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_grad_does_not_change_an_existing_grad():
    x = Variable(np.array([1.0, 2.0]))
    (x * 5.0).sum().backward()
    (g,) = mg.grad((x * x).sum(), x)
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])


def test_grad_gives_none_for_unused_inputs():
    x = Variable(np.array([1.0, 2.0]))
    unused = Variable(np.array([7.0]))
    gx, gu = mg.grad((x * x).sum(), [x, unused])
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])
    assert gu is None
    with pytest.raises(RuntimeError, match=r"inputs\[1\]"):
        mg.grad((x * x).sum(), [x, unused], allow_unused=False)


def test_grad_of_an_intermediate_variable():
    x = Variable(np.array([1.0, 2.0]))
    h = x * 3.0
    y = (h * h).sum()
    gh, gx = mg.grad(y, [h, x])
    np.testing.assert_array_equal(gh.data, [6.0, 12.0])
    np.testing.assert_array_equal(gx.data, [18.0, 36.0])
    assert h.grad is None and x.grad is None


def test_grad_with_grad_outputs_and_several_outputs():
    x = Variable(np.array([1.0, 2.0]))
    y1 = x * 2.0
    y2 = x * x
    (g,) = mg.grad([y1, y2], [x], grad_outputs=[np.array([1.0, 10.0]), np.array([1.0, 1.0])])
    np.testing.assert_array_equal(g.data, [2.0 + 2.0, 20.0 + 4.0])


def test_grad_releases_the_graph_unless_retained():
    x = Variable(np.array([2.0]))
    y = F.exp(x) * x
    mg.grad(y, x, retain_graph=True)
    (g,) = mg.grad(y, x)
    np.testing.assert_allclose(g.data, np.exp(2.0) * 3.0)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        mg.grad(y, x)


def test_grad_rejects_bad_inputs():
    x = Variable(np.array([2.0]))
    y = x * x
    with pytest.raises(TypeError, match=r"inputs\[0\].*ndarray"):
        mg.grad(y, [np.array([2.0])])
    c = Variable(np.array([1.0]), requires_grad=False)
    with pytest.raises(RuntimeError, match=r"inputs\[0\] does not require grad$"):
        mg.grad(y, [c])
    n = Variable(np.array([1, 2]))
    with pytest.raises(
        RuntimeError, match=r"inputs\[1\] does not require grad: it has dtype int64.*astype"
    ):
        mg.grad(y, [x, n])


# --------------------------------------------------------------------------- higher order


def test_second_derivative_of_x_cubed_is_6x():
    x = Variable(np.array([1.0, 2.0, -3.0]))
    y = (x**3).sum()
    (g,) = mg.grad(y, x, create_graph=True)
    np.testing.assert_array_equal(g.data, 3 * x.data**2)
    assert g.creator is not None and g.requires_grad
    (g2,) = mg.grad(g.sum(), x)
    np.testing.assert_array_equal(g2.data, 6 * x.data)


def test_third_derivative_through_backward_with_create_graph():
    x = Variable(np.array([2.0]))
    y = x**4
    y.backward(create_graph=True)
    g1 = x.grad
    np.testing.assert_array_equal(g1.data, [32.0])  # 4 x^3
    x.zero_grad()
    g1.backward(create_graph=True)
    g2 = x.grad
    np.testing.assert_array_equal(g2.data, [48.0])  # 12 x^2
    x.zero_grad()
    g2.backward()
    np.testing.assert_array_equal(x.grad.data, [48.0])  # 24 x


def test_second_derivative_keeps_float32():
    x = Variable(np.array([1.5, -0.5], dtype=np.float32))
    (g,) = mg.grad((F.tanh(x) * x).sum(), x, create_graph=True)
    (g2,) = mg.grad(g.sum(), x)
    assert g.dtype == np.float32 and g2.dtype == np.float32
    t = np.tanh(x.data.astype(np.float64))
    expect = 2 * (1 - t**2) - 2 * x.data * t * (1 - t**2)
    np.testing.assert_allclose(g2.data, expect, rtol=1e-5)


def test_newtons_method_converges():
    # f(x) = x^4 - 2 x^2 has a minimum at x = 1; Newton's step is x -= f'(x) / f''(x).
    x = Variable(np.array([2.0]))
    for _ in range(10):
        y = x**4 - 2.0 * x**2
        (g,) = mg.grad(y, x, create_graph=True)
        (g2,) = mg.grad(g, x)
        x = Variable(x.data - g.data / g2.data)
    np.testing.assert_allclose(x.data, [1.0], rtol=1e-12)


def test_custom_function_second_derivative():
    class Square(Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            (x,) = self.inputs
            return gy * 2.0 * x

    x = Variable(np.array([3.0, -1.0]))
    (g,) = mg.grad(Square()(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [6.0, -2.0])
    (g2,) = mg.grad(g.sum(), x)
    np.testing.assert_array_equal(g2.data, [2.0, 2.0])


# --------------------------------------------------------------------------- hooks


def test_hook_sees_the_complete_grad_once():
    x = Variable(np.array([1.0, 2.0]))
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    (x * 3.0 + x * x).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 7.0])
    np.testing.assert_array_equal(x.grad.data, [5.0, 7.0])


def test_hook_on_intermediate_can_replace_the_grad():
    x = Variable(np.array([1.0, 2.0]))
    h = x * 2.0
    seen = []

    def hook(g):
        seen.append(g.data.copy())
        return g * 10.0

    h.register_hook(hook)
    (h * h).sum().backward()
    np.testing.assert_array_equal(seen[0], [4.0, 8.0])
    np.testing.assert_array_equal(x.grad.data, [80.0, 160.0])
    assert h.grad is None


def test_hook_on_leaf_can_replace_the_grad():
    x = Variable(np.array([1.0, 2.0]))
    x.register_hook(lambda g: Variable(np.array([-1.0, -1.0])))
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, -1.0])


def test_hook_handle_remove():
    x = Variable(np.array([1.0, 2.0]))
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2.0).sum().backward()
    handle.remove()
    handle.remove()  # a second remove does nothing
    (x * 2.0).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0])


def test_hook_returning_wrong_shape_raises():
    x = Variable(np.array([1.0, 2.0]))
    x.register_hook(lambda g: Variable(np.ones(3)))
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        (x * 2.0).sum().backward()


def test_register_hook_bad_input():
    with pytest.raises(TypeError, match="callable.*int"):
        Variable(np.ones(2)).register_hook(3)
    with pytest.raises(RuntimeError, match="does not require grad"):
        Variable(np.ones(2), requires_grad=False).register_hook(lambda g: None)


def test_hooks_in_grad_and_create_graph():
    x = Variable(np.array([1.0, 2.0]))
    h = x * x
    h.register_hook(lambda g: g * 2.0)
    (g,) = mg.grad(h.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [4.0, 8.0])
    (g2,) = mg.grad(g.sum(), x)
    np.testing.assert_array_equal(g2.data, [4.0, 4.0])


# --------------------------------------------------------------------------- retain_grad


def test_retain_grad_keeps_an_intermediate_grad():
    x = Variable(np.array([1.0, 2.0]))
    h = x * 2.0
    h.retain_grad()
    k = h * 3.0
    (k * k).sum().backward()
    np.testing.assert_array_equal(h.grad.data, 18.0 * h.data)
    assert k.grad is None
    np.testing.assert_array_equal(x.grad.data, 36.0 * h.data)


def test_retain_grad_accumulates_across_backward_calls():
    x = Variable(np.array([1.0]))
    h = x * 2.0
    h.retain_grad()
    y = h * 3.0
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(h.grad.data, [6.0])
    np.testing.assert_array_equal(x.grad.data, [12.0])


def test_create_graph_keeps_the_graph_so_a_second_backward_goes_through_it():
    # PyTorch's rule: retain_graph defaults to create_graph.
    x = Variable(np.array([1.5, -0.5]))
    y = (x * x * x).sum()
    y.backward(create_graph=True)
    gx = x.grad  # 3 x**2, recorded
    assert gx.creator is not None and not y.creator.released
    x.zero_grad()
    gx.sum().backward()  # through the first gradient's graph, which holds y's graph
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


def test_grad_with_create_graph_keeps_the_graph_by_default():
    x = Variable(np.array([2.0]))
    y = (x**3).sum()
    (g,) = mg.grad(y, x, create_graph=True)
    (gg,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, [12.0])
    (g2,) = mg.grad(y, x)  # y's graph is still there
    np.testing.assert_allclose(g2.data, [12.0])
