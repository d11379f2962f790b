"""Version counters: in-place changes made through minigrad after a forward pass are caught by
the backward that would read them (docs/concepts.md, "Versions"; design section 2b)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Function, Parameter, Variable, nn, optim

# --------------------------------------------------------------------------- the cases


def test_an_optimizer_step_between_forward_and_backward_raises():
    W = Parameter(np.ones((2, 2)), dtype=np.float64)
    x = Variable(np.ones((1, 2)))
    y = ((x @ W) * (x @ W)).sum()
    opt = optim.SGD([W], lr=0.5)
    W.grad = Variable(np.ones((2, 2)))
    opt.step()
    with pytest.raises(RuntimeError) as e:
        y.backward()
    msg = str(e.value)
    # The op, the Variable (unnamed: its shape), both versions, and the fix.
    assert "input 1 of op matmul" in msg
    assert "a Variable of shape (2, 2)" in msg
    assert "at version 1, the forward saw version 0" in msg
    assert "modified by an in-place operation" in msg
    assert "Call backward before the update" in msg
    assert "compute the forward again" in msg
    assert x.grad is None  # nothing was delivered


def test_a_write_into_data_is_not_tracked_by_default():
    # As PyTorch's .data: the backward reads the new value (2 * [100, 2] = [200, 4]).
    a = Variable(np.array([1.0, 2.0]))
    y = a * a
    a.data[0] = 100.0
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [200.0, 4.0])
    assert a.version == 0


def test_detect_anomaly_catches_a_write_into_data_with_the_same_message():
    with mg.detect_anomaly():
        a = Variable(np.array([1.0, 2.0]), name="a")
        y = a * a
        a.data[0] = 100.0
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
    msg = str(e.value)
    assert "Variable 'a' of shape (2,), input 0 of op mul" in msg
    assert "modified by an in-place operation" in msg
    assert "at the same version 0" in msg and ".data" in msg
    assert "Call backward before the update" in msg
    assert "test_core_versions.py" in msg  # where the op was called
    assert a.grad is None


# --------------------------------------------------------------------------- the counter


def test_a_new_variable_is_at_version_0_and_version_is_read_only():
    p = Parameter(np.zeros(3))
    y = p * 2.0
    assert p.version == 0 and p._version == 0 and y.version == 0
    with pytest.raises(AttributeError):
        p.version = 3  # type: ignore[misc]


def test_increment_version_counts_and_refuses_non_leaves_and_non_variables():
    p = Parameter(np.zeros(3), name="p")
    q = Variable(np.zeros(2), requires_grad=False)
    mg.increment_version(p, q)
    mg.increment_version(p)
    assert (p.version, q.version) == (2, 1)
    y = p * 2.0
    with pytest.raises(RuntimeError, match=r"a Variable of shape \(3,\) is the output of op mul"):
        mg.increment_version(y)
    with pytest.raises(TypeError, match="increment_version: expected a Variable, got ndarray"):
        mg.increment_version(np.zeros(3))


def test_increment_version_after_a_hand_written_update_is_caught():
    w = Parameter(np.array([1.0, 2.0]), name="w")
    y = (w * w).sum()
    w.data -= 0.1  # a hand-written update...
    mg.increment_version(w)  # ...announced
    with pytest.raises(RuntimeError, match=r"Variable 'w' of shape \(2,\), input 0 of op mul"):
        y.backward()


# --------------------------------------------------------------------------- what bumps it


def _params(n=2):
    ps = [Parameter(np.arange(1.0, 4.0), name=f"p{i}") for i in range(n)]
    for p in ps:
        p.grad = Variable(np.ones(3))
    return ps


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: optim.AdaGrad(ps, lr=0.1),
        lambda ps: optim.RMSprop(ps, lr=0.1),
        lambda ps: optim.Adam(ps, lr=0.1),
        lambda ps: optim.AdamW(ps, lr=0.1),
    ],
    ids=["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw"],
)
def test_every_optimizer_step_bumps_the_parameters_it_updates(make):
    p, skipped = _params()
    skipped.grad = None
    opt = make([p, skipped])
    opt.step()
    opt.step()
    assert (p.version, skipped.version) == (2, 0)


def test_optimizer_update_bumps_parameters_given_in_a_dict():
    p = _params(1)[0]
    opt = optim.SGD(lr=0.1)
    opt.update({"p": p}, {"p": np.ones(3)})
    assert p.version == 1


def _net():
    np.random.seed(0)  # noqa: NPY002 - TwoLayerNet draws from the global generator
    return nn.TwoLayerNet(4, 5, 3)


def _book_edits():
    """Each way the book's code changes a TwoLayerNet's parameters through `params`."""

    def minus(net):
        net.params["W1"] -= 0.1 * np.ones((4, 5))

    def assign(net):
        net.params["W1"] = np.zeros((4, 5))

    def update(net):
        net.params.update({"W1": np.zeros((4, 5))})

    def replace_all(net):
        net.params = {k: np.zeros_like(v) for k, v in net.params.items()}

    def optimizer(net):
        optim.SGD(lr=0.1).update(net.params, {"W1": np.ones((4, 5))})

    return [minus, assign, update, replace_all, optimizer]


@pytest.mark.parametrize("edit", _book_edits(), ids=lambda f: f.__name__)
def test_the_books_params_edits_bump_the_parameter_once(edit):
    net = _net()
    edit(net)
    assert net.W1.version == 1


def test_the_books_params_write_through_ellipsis_is_untracked_as_data_is():
    net = _net()
    net.params["W1"][...] = 0.0  # the array itself: a write into .data
    assert net.W1.version == 0


def test_load_state_dict_load_and_torch_state_bump_every_parameter(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    params = list(model.parameters())
    model.load_state_dict(model.state_dict())
    assert [p.version for p in params] == [1] * 4
    model.load(model.save(tmp_path / "m.npz"))
    assert [p.version for p in params] == [2] * 4
    nn.load_torch_state_dict(model, nn.to_torch_state_dict(model))
    assert [p.version for p in params] == [3] * 4


def test_a_load_between_forward_and_backward_raises_naming_the_parameter():
    layer = nn.Linear(3, 2)
    loss = layer(np.ones((4, 3), np.float32)).sum()
    layer.load_state_dict(layer.state_dict())
    with pytest.raises(RuntimeError, match=r"Variable 'W' of shape \(3, 2\), input 1 of op linear"):
        loss.backward()


# --------------------------------------------------------------------------- which op, which input


def test_the_error_names_the_right_input_of_a_three_input_op():
    x = Variable(np.ones((2, 3)), name="x")
    W = Parameter(np.ones((3, 4)), name="W", dtype=np.float64)
    b = Parameter(np.zeros(4), name="b", dtype=np.float64)
    y = F.linear(x, W, b).sum()
    mg.increment_version(b)
    mg.increment_version(b)
    with pytest.raises(RuntimeError, match=r"'b' of shape \(4,\), input 2 of op linear.*version 2"):
        y.backward()


def test_a_leaf_that_needs_no_grad_is_noted_too():
    w = Parameter(np.array([1.0, 2.0]), dtype=np.float64)
    c = Variable(np.array([3.0, 4.0]), name="c", requires_grad=False)
    y = (w * c).sum()
    mg.increment_version(c)
    with pytest.raises(RuntimeError, match=r"'c' of shape \(2,\), input 1 of op mul"):
        y.backward()


def test_a_custom_function_on_variables_is_checked_too():
    class Square(Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            (x,) = self.saved_inputs
            return 2 * x * gy

    w = Parameter(np.array([1.0, 2.0]), name="w", dtype=np.float64)
    y = Square()(w).sum()
    mg.increment_version(w)
    with pytest.raises(
        RuntimeError, match=r"input 0 of op square.*version 1, the forward saw version 0"
    ):
        y.backward()


# --------------------------------------------------------------------------- retain_graph, create_graph, grad()


def test_retain_graph_backward_again_is_fine_until_an_update():
    W = Parameter(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W", dtype=np.float64)
    x = Variable(np.array([[1.0, -1.0]]), name="x")
    y = ((x @ W) ** 2).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)  # no change: no error
    np.testing.assert_allclose(x.grad.data, 2 * (2 * (x.data @ W.data)) @ W.data.T)
    optim.SGD([W], lr=0.1).step()
    with pytest.raises(RuntimeError, match=r"'W' of shape \(2, 2\), input 1 of op matmul"):
        y.backward()


def test_create_graph_records_versions_for_the_gradient_graph():
    w = Parameter(np.array([0.5, -1.5]), name="w", dtype=np.float64)
    y = (w**3).sum()
    (g,) = mg.grad(y, w, create_graph=True)  # 3 w^2, recorded
    (h,) = mg.grad(g.sum(), w, retain_graph=True)  # 6 w: fine before any update
    np.testing.assert_allclose(h.data, 6 * w.data)
    mg.increment_version(w)
    with pytest.raises(
        RuntimeError, match=r"'w' of shape \(2,\).*version 1, the forward saw version 0"
    ):
        g.sum().backward()


def test_grad_raises_as_backward_does():
    w = Parameter(np.array([1.0, 2.0]), name="w", dtype=np.float64)
    x = Variable(np.array([3.0, 4.0]), name="x")
    y = (w * x).sum()
    mg.increment_version(w)
    with pytest.raises(RuntimeError, match=r"'w' of shape \(2,\), input 0 of op mul"):
        mg.grad(y, x)


# --------------------------------------------------------------------------- no false positives


def test_training_loop_with_step_after_backward_matches_hand_computed_sgd():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64), nn.ReLU(), nn.Linear(4, 2, dtype=np.float64)
    )
    opt = optim.SGD(model.parameters(), lr=0.1)
    for step in range(5):
        before = [p.data.copy() for p in model.parameters()]
        opt.zero_grad()
        loss = F.softmax_cross_entropy(model(x), t)
        loss.backward()
        grads = [p.grad.data.copy() for p in model.parameters()]
        opt.step()
        for p, b, g in zip(model.parameters(), before, grads):
            np.testing.assert_allclose(p.data, b - 0.1 * g)
            assert p.version == step + 1


def test_the_books_training_loop_runs_and_frees_kept_losses():
    net = _net()
    x, t = np.random.default_rng(1).random((10, 4)), np.arange(10) % 3
    losses = []
    for _ in range(3):
        grad = net.gradient(x, t)
        for k in ("W1", "b1", "W2", "b2"):
            net.params[k] -= 0.1 * grad[k]
        losses.append(net.loss(x, t))
    assert net.W1.version == 3
    assert losses[0].creator is not None and "freed" in losses[0].creator.label()
    assert float(losses[2]) < float(losses[0])
    # The last loss, computed after the last update, still backpropagates.
    losses[2].backward()
    assert net.W1.grad is not None


def test_batch_norm_in_training_updates_its_statistics_without_false_positives():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    x = Variable(np.random.default_rng(2).standard_normal((6, 3)))
    opt = optim.SGD(bn.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        y = bn(x)
        bn(x * 2.0)  # a second training forward updates the running statistics in place
        (y * y).sum().backward()
        opt.step()
    assert bn.gamma.version == 3 and not np.allclose(bn.running_mean, 0)


def test_batch_norm_eval_gradients_ignore_later_updates_of_the_running_statistics():
    rng = np.random.default_rng(3)
    xd = rng.standard_normal((5, 3))

    def grads(update_between):
        bn = nn.BatchNorm1d(3, dtype=np.float64)
        bn.running_mean[:] = [0.5, -1.0, 2.0]
        bn.running_var[:] = [1.0, 4.0, 0.25]
        x = Variable(xd.copy())
        bn.eval()
        y = (bn(x) ** 2).sum()
        if update_between:
            bn.train()
            bn(Variable(rng.standard_normal((5, 3)) + 7.0))  # moves the running statistics
            bn.load_state_dict({"running_var": np.full(3, 9.0)}, strict=False)
        y.backward()
        return x.grad.data, bn.gamma.grad.data, bn.beta.grad.data

    for a, b in zip(grads(False), grads(True)):
        np.testing.assert_allclose(a, b)
    # By hand: y = gamma * (x - mean) / sqrt(var + eps) + beta with gamma 1, beta 0.
    xhat = (xd - [0.5, -1.0, 2.0]) / np.sqrt(np.array([1.0, 4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(grads(True)[1], (2 * xhat * xhat).sum(axis=0))


def test_detect_anomaly_passes_a_normal_training_step():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = np.ones((2, 3), np.float32)
    with mg.detect_anomaly():
        for _ in range(2):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
    assert all(p.version == 2 for p in model.parameters())


# --------------------------------------------------------------------------- anomaly mode's checksums


def test_detect_anomaly_catches_a_write_into_a_saved_output():
    with mg.detect_anomaly():
        x = Variable(np.array([0.0, 1.0]), name="x")
        y = F.exp(x)  # exp's backward reads its output
        y.name = "y"
        y.data[1] = 5.0
        with pytest.raises(RuntimeError, match=r"'y' of shape \(2,\), output 0 of op exp"):
            y.sum().backward()


def test_detect_anomaly_catches_a_replaced_data_array():
    with mg.detect_anomaly():
        w = Parameter(np.array([1.0, 2.0]), name="w", dtype=np.float64)
        y = (w * w).sum()
    w.data = np.array([3.0, 4.0])
    # Checked at backward even outside the block: the op kept its checksums.
    with pytest.raises(RuntimeError, match=r"'w' of shape \(2,\), input 0 of op mul.*\.data"):
        y.backward()


def test_detect_anomaly_catches_a_write_into_one_output_of_a_two_output_op():
    class Split(Function):
        def forward(self, x):
            return x * 2.0, x * 3.0

        def backward(self, g0, g1):
            return g0 * 2.0 + g1 * 3.0

    with mg.detect_anomaly():
        x = Variable(np.array([1.0, 2.0]))
        a, b = Split()(x)
        b.data[0] = 0.0
        with pytest.raises(RuntimeError, match=r"output 1 of op split"):
            (a + b).sum().backward()


# --------------------------------------------------------------------------- cost


def _tracked_per_op(build, n=500):
    """Objects the cyclic collector tracks per recorded op: when made, after a collection."""
    gc.collect()
    gc.disable()
    try:
        base = len(gc.get_objects())
        keep = build(n)
        made = len(gc.get_objects())
        gc.collect()
        after = len(gc.get_objects())
    finally:
        gc.enable()
    del keep
    return (made - base) / n, (after - base) / n


def test_noting_versions_adds_no_object_for_the_collector():
    # Design section 7: at most 4 tracked objects per op (5 when made: the Function, its
    # output, the weak reference, the inputs tuple and the saved arrays' tuple, which a
    # collection untracks). A version is an int (untracked), on interior ops and on leaf ops.
    a = np.ones(8)

    def chain(n):
        y = Variable(np.ones(8))
        for _ in range(n):
            y = y * a
        return y

    def on_a_leaf(n):
        x = Variable(np.ones(8))
        return [x * a for _ in range(n)]  # each op's input 0 is the leaf x

    made, after = _tracked_per_op(chain)
    assert made <= 5.01 and after <= 4.01
    made, after = _tracked_per_op(on_a_leaf)
    assert made <= 6.01 and after <= 5.01  # one more: the list holding the outputs
    assert type(on_a_leaf(1)[0].creator._versions) is int
    assert chain(3).creator._versions is None
