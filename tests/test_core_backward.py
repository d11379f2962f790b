"""The backward engine: long chains, freeing the graph, retain_graph, accumulation and the
seed gradient (docs/architecture.md, "The engine")."""

import gc
import weakref

import numpy as np
import pytest

from minigrad import F, Function, Variable


def _var(*values: float) -> Variable:
    return Variable(np.array(values, dtype=np.float64))


# --------------------------------------------------------------------------- long chains


def test_chain_of_100000_ops_backward_without_recursion():
    x = _var(1.0, 2.0)
    y = x * 1.0
    first = weakref.ref(y.creator)
    for _ in range(49_999):
        y = y + 0.0
        y = y * 1.0
    y = y + 0.0
    s = y.sum()
    s.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])
    # Dropping the output must free the chain (iteratively: no deep recursion in teardown).
    del y, s
    assert first() is None


def test_chain_gradient_value_through_many_ops():
    x = _var(0.5)
    y = x
    for _ in range(1000):
        y = y * 1.001
    y.backward()
    np.testing.assert_allclose(x.grad.data, [1.001**1000], rtol=1e-12)


# --------------------------------------------------------------------------- freeing


def _build(x: Variable) -> tuple[Variable, list[weakref.ref]]:
    """A small graph with a diamond; weakrefs to every intermediate Variable and Function."""
    refs = []
    a = F.tanh(x * 2.0)
    b = F.exp(a) + a * a
    c = (b / 3.0).sum()
    for v in (a, b, c):
        refs.append(weakref.ref(v))
        refs.append(weakref.ref(v.creator))
    return c, refs


def test_graph_freed_by_refcount_alone_after_backward():
    x = _var(0.1, -0.4, 0.9)
    gc.collect()
    gc.disable()
    try:
        out, refs = _build(x)
        out.backward()
        assert all(r() is not None for r in refs[-2:])
        del out
        alive = [r() for r in refs if r() is not None]
        assert alive == []
        assert x.grad is not None and x.grad.shape == (3,)
    finally:
        gc.enable()


def test_graph_freed_by_refcount_alone_without_backward():
    x = _var(0.1, -0.4, 0.9)
    gc.collect()
    gc.disable()
    try:
        out, refs = _build(x)
        del out
        assert [r() for r in refs if r() is not None] == []
    finally:
        gc.enable()


def test_graph_freed_by_refcount_after_retain_graph_backward():
    x = _var(0.1, -0.4, 0.9)
    gc.collect()
    gc.disable()
    try:
        out, refs = _build(x)
        out.backward(retain_graph=True)
        del out
        assert [r() for r in refs if r() is not None] == []
    finally:
        gc.enable()


# --------------------------------------------------------------------------- retain_graph


def test_second_backward_through_released_graph_raises():
    x = _var(1.0, 2.0)
    y = (F.exp(x) * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates():
    x = _var(1.0, 2.0)
    y = (F.exp(x) * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.data.copy()
    np.testing.assert_allclose(once, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * once)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_graph_stays_inspectable_after_backward_and_saved_arrays_are_freed():
    x = _var(-1.0, 2.0)
    a = F.abs(x)
    y = (a * 3.0).sum()
    y.backward()
    mul = y.creator.inputs[0].creator
    abs_fn = mul.inputs[0].creator
    assert (y.creator.name, mul.name, abs_fn.name) == ("sum", "mul", "abs")
    assert abs_fn.inputs[0] is x
    assert mul.inputs[0] is a
    assert abs_fn.released and mul.released
    # abs saved its sign for backward: gone now, like everything else a forward stored.
    assert abs_fn.__dict__ == {}
    assert mul.__dict__ == {}


def test_retain_graph_keeps_saved_arrays():
    x = _var(-1.0, 2.0)
    y = F.abs(x).sum()
    y.backward(retain_graph=True)
    abs_fn = y.creator.inputs[0].creator
    assert not abs_fn.released
    assert abs_fn.__dict__ != {}  # abs saved the sign of x for its backward
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [-2.0, 2.0])
    assert abs_fn.released and abs_fn.__dict__ == {}


# --------------------------------------------------------------------------- accumulation


def test_leaf_grads_accumulate_across_backward_calls():
    x = _var(1.0, 2.0, 3.0)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 7.0, 9.0])
    assert x.grad.requires_grad is False and x.grad.creator is None


def test_accumulation_does_not_mutate_the_previous_grad_array():
    x = _var(1.0, 2.0)
    (x * 2.0).sum().backward()
    old = x.grad.data
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(old, [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.data, [7.0, 7.0])


@pytest.mark.parametrize("method", ["zero_grad", "cleargrad"])
def test_zero_grad_forgets_the_gradient(method):
    x = _var(1.0, 2.0)
    (x * 4.0).sum().backward()
    getattr(x, method)()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_non_leaf_grads_are_dropped():
    x = _var(1.0, 2.0)
    h = x * 2.0
    y = (h * h).sum()
    y.backward()
    assert h.grad is None and y.grad is None
    np.testing.assert_array_equal(x.grad.data, [8.0, 16.0])


def test_constant_variable_gets_no_grad():
    x = _var(1.0, 2.0)
    c = Variable(np.array([3.0, 4.0]), requires_grad=False)
    (x * c + c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


# --------------------------------------------------------------------------- the seed


def test_non_scalar_backward_without_grad_names_the_shape():
    y = Variable(np.ones((3, 2))) * 2.0
    with pytest.raises(RuntimeError, match=r"\(3, 2\).*grad="):
        y.backward()


def test_backward_with_explicit_grad_array():
    x = Variable(np.arange(6.0).reshape(3, 2))
    y = x * x
    g = np.arange(6.0).reshape(3, 2) + 1
    y.backward(g)
    np.testing.assert_array_equal(x.grad.data, 2 * x.data * g)
    np.testing.assert_array_equal(g, np.arange(6.0).reshape(3, 2) + 1)


def test_backward_with_explicit_grad_variable_and_scalar():
    x = _var(1.0, 2.0)
    (x * 3.0).backward(Variable(np.array([1.0, 10.0])))
    np.testing.assert_array_equal(x.grad.data, [3.0, 30.0])
    z = _var(2.0)
    (z * z).backward(0.5)
    np.testing.assert_array_equal(z.grad.data, [2.0])


def test_backward_with_wrong_grad_shape_raises():
    y = Variable(np.ones((3, 2))) * 2.0
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        y.backward(np.ones((2, 3)))


def test_backward_on_output_without_grad_raises():
    y = Variable(np.ones(2), requires_grad=False) * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_backward_on_an_integer_result_says_integers_need_no_grad_and_how_to_make_floats():
    x = Variable(np.array([1, 2, 3]))
    assert not x.requires_grad
    y = (x * x).sum()
    with pytest.raises(RuntimeError) as e:
        y.backward()
    msg = str(e.value)
    assert "dtype int64" in msg
    assert "integer (or boolean) data" in msg and "does not require grad by default" in msg
    assert "astype(np.float32)" in msg
    # The fix: float data requires grad.
    xf = Variable(x.data.astype(np.float32))
    (xf * xf).sum().backward()
    np.testing.assert_array_equal(xf.grad.data, [2.0, 4.0, 6.0])


def test_backward_on_a_float_result_of_integers_mentions_integer_inputs():
    y = Variable(np.array([1, 2])) / 2
    assert y.dtype.kind == "f"
    with pytest.raises(
        RuntimeError, match=r"no input requires grad.*Integer.*astype\(np.float32\)"
    ):
        y.sum().backward()


def test_an_integer_variable_cannot_be_asked_to_require_grad_and_the_error_says_why():
    with pytest.raises(TypeError, match=r"dtype int64; make it floating first.*astype"):
        Variable(np.array([1, 2]), requires_grad=True)


def test_backward_of_a_leaf_gives_the_seed():
    x = _var(4.0)
    x.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0])


def test_backward_does_not_mutate_the_given_grad_in_a_diamond():
    x = _var(1.0, 2.0)
    a = x + 0.0
    y = a + a  # add hands its gradient on unchanged: the same array reaches `a` twice
    g = np.array([1.0, 1.0])
    y.backward(g)
    np.testing.assert_array_equal(g, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


# --------------------------------------------------------------------------- what .grad holds


def test_a_leaf_grad_has_the_leaf_dtype_when_float64_data_meets_a_float32_weight():
    # NumPy's promotion makes the product float64; the float32 leaf's grad stays float32.
    W = Variable(np.ones((3, 2), dtype=np.float32))
    x = np.arange(6.0).reshape(2, 3)  # float64
    y = F.matmul(x, W)
    assert y.dtype == np.float64
    y.sum().backward()
    assert W.grad.dtype == np.float32 and W.grad.shape == W.shape
    np.testing.assert_array_equal(W.grad.data, x.sum(axis=0)[:, None] * np.ones((1, 2)))


def test_a_leaf_grad_never_shares_memory_with_the_seed_or_another_leaf():
    a = Variable(np.ones(4))
    b = Variable(np.ones(4))
    c = Variable(np.ones((2, 2)))
    seed = np.arange(4.0)
    # add hands its incoming gradient, the seed itself, to both inputs; the reshape a view.
    y = a + b + F.reshape(c, (4,))
    y.backward(seed)
    arrays = [a.grad.data, b.grad.data, c.grad.data, seed]
    for i, p in enumerate(arrays):
        for q in arrays[i + 1 :]:
            assert not np.shares_memory(p, q)
    a.grad.data[...] = -1
    np.testing.assert_array_equal(b.grad.data, seed)
    np.testing.assert_array_equal(seed, np.arange(4.0))


def test_a_leaf_grad_is_writeable_after_a_broadcast_backward():
    x = Variable(np.array(2.0))
    y = F.broadcast_to(x, (3,)).sum()  # sum's backward broadcasts: a read-only view
    y.backward()
    assert x.grad.data.flags.writeable
    x.grad.data[...] = 0


def test_backward_never_writes_into_the_arrays_it_was_given():
    x = Variable(np.array([1.0, 2.0]))
    seed = np.array([1.0, 1.0])
    y = x * 2.0 + x * 3.0 + x  # three contributions: the second sum is made in place
    y.backward(seed)
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])


def test_an_integer_leaf_in_a_recorded_op_is_warned_about_not_left_none_in_silence():
    apple = Variable(np.array(100), name="apple")  # int64: it cannot hold a gradient
    tax = Variable(1.1)
    with pytest.warns(
        UserWarning,
        match=r"mul: input 0 'apple' is a Variable of dtype int64.*cannot hold a gradient.*\.grad None",
    ) as record:
        price = apple * tax
    assert record[0].filename == __file__  # points at the user's line
    price.backward()
    assert apple.grad is None and float(tax.grad) == 100.0
    with pytest.warns(UserWarning, match="input 1"):
        _ = tax * np.array(2) * Variable(np.array([3]))


def test_integer_labels_given_as_a_variable_are_not_warned_about(recwarn):
    x = Variable(np.ones((2, 3)))
    t = Variable(np.array([0, 2]), name="t")
    F.softmax_cross_entropy(x, t).backward()
    assert not [w for w in recwarn.list if "cannot hold a gradient" in str(w.message)]


def test_a_gradient_a_builtin_backward_made_is_handed_to_the_leaf_without_a_copy():
    made = {}

    class Twice(Function):
        backward_on_arrays = True
        saves_attrs = False

        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            made["gx"] = gy * 2.0  # a new array: the pass owns it
            return made["gx"]

    class Same(Function):
        backward_on_arrays = True
        saves_attrs = False

        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            return gy  # passed on: it may be shared, so the leaf gets a copy

    x = Variable(np.array([1.0, 2.0]))
    Twice()(x).backward(np.ones(2))
    assert x.grad.data is made["gx"]
    seed = np.ones(2)
    z = Variable(np.array([1.0, 2.0]))
    Same()(z).backward(seed)
    assert z.grad.data is not seed and not np.shares_memory(z.grad.data, seed)


def test_a_sum_into_a_new_array_does_not_change_what_the_other_consumer_was_given():
    # x feeds two muls; the first contribution is a new array the pass owns, and the second
    # is added into it: the gradient add passed on to both branches must stay as it was.
    x = Variable(np.array([1.0, 2.0]))
    h = x * 3.0 + x * 5.0
    h.retain_grad()
    y = h + h
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad.data, [16.0, 16.0])
    np.testing.assert_array_equal(h.grad.data, [2.0, 2.0])
