"""TwoLayerNet.params (a ParamDict): the book's dict of arrays, in step with the model, and
the graphs it frees when the parameters change."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import Variable, no_grad, optim
from minigrad.nn import TwoLayerNet
from minigrad.nn.params import FreedGraph, ParamDict


def blobs(n: int = 300, d: int = 20, c: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Separable blobs with one-hot labels, a stand-in for MNIST."""
    r = np.random.default_rng(0)
    centers = r.standard_normal((c, d)) * 3
    labels = r.integers(0, c, n)
    return centers[labels] + r.standard_normal((n, d)), np.eye(c)[labels]


def book_loop(net: TwoLayerNet, x: np.ndarray, t: np.ndarray, update, steps: int = 100) -> list:
    """The book's loop on `net`, with the update written by `update(params, key, g)`."""
    np.random.seed(0)  # noqa: NPY002
    losses = []
    for _ in range(steps):
        batch = np.random.choice(len(x), 50)  # noqa: NPY002
        grad = net.gradient(x[batch], t[batch])
        for key in ("W1", "b1", "W2", "b2"):
            update(net.params, key, grad[key])
        losses.append(net.loss(x[batch], t[batch]))
    return losses


def in_place(params, key, g):
    params[key] -= 0.1 * g


def rebound(params, key, g):
    params[key] = params[key] - 0.1 * g


def test_params_is_the_books_dict_of_the_models_arrays():
    net = TwoLayerNet(4, 3, 2)
    assert isinstance(net.params, dict) and isinstance(net.params, ParamDict)
    assert list(net.params) == list(net.params.keys()) == ["W1", "b1", "W2", "b2"]
    for key, p in zip(net.params, net.parameters()):
        assert net.params[key] is p.data and net.params.get(key) is p.data
    assert [v is p.data for v, p in zip(net.params.values(), net.parameters())] == [True] * 4
    assert dict(net.params)["W1"] is net.W1.data and {**net.params}["b2"] is net.b2.data
    assert net.params.get("W3") is None and "W1" in net.params and len(net.params) == 4


@pytest.mark.parametrize("update", [in_place, rebound], ids=["-=", "= ... -"])
def test_both_ways_of_writing_the_update_train_the_model(update):
    x, t = blobs()
    np.random.seed(1)  # noqa: NPY002
    net = TwoLayerNet(20, 10, 3)
    book_loop(net, x, t, update)
    assert net.accuracy(x, t) > 0.95  # before: 0.115 with `params[k] = params[k] - ...`
    assert net.params["W1"] is net.W1.data


def test_the_two_ways_give_the_same_weights():
    x, t = blobs()
    nets = []
    for update in (in_place, rebound):
        np.random.seed(1)  # noqa: NPY002
        nets.append(TwoLayerNet(20, 10, 3))
        book_loop(nets[-1], x, t, update, steps=20)
    for key in nets[0].params:
        np.testing.assert_array_equal(nets[0].params[key], nets[1].params[key])


def test_assigning_copies_in_place_casting_to_the_models_dtype():
    net = TwoLayerNet(4, 3, 2, dtype=np.float32)
    W1 = net.W1.data
    net.params["W1"] = np.arange(12.0).reshape(4, 3)  # float64 into float32
    assert net.W1.data is W1 and W1.dtype == np.float32 and W1[3, 2] == 11
    net.params["b1"] = [1, 2, 3]  # a list, ints
    np.testing.assert_array_equal(net.b1.data, [1, 2, 3])
    net.params["b2"] = Variable(np.ones(2))
    np.testing.assert_array_equal(net.b2.data, [1, 1])


def test_assignment_errors_name_the_key_and_the_shapes():
    net = TwoLayerNet(4, 3, 2)
    before = net.params["W1"].copy()
    with pytest.raises(ValueError, match=r"params\['W1'\] = \.\.\.: the new array has shape \(3, 4\), but W1 has shape \(4, 3\); nothing was assigned"):  # fmt: skip
        net.params["W1"] = np.zeros((3, 4))
    with pytest.raises(KeyError, match=r"params\['W3'\] = \.\.\.: no such parameter \(the keys are W1, b1, W2, b2\)"):  # fmt: skip
        net.params["W3"] = np.zeros((4, 3))
    with pytest.raises(TypeError, match=r"cannot store an array of dtype complex128 in W1 \(float64\)"):  # fmt: skip
        net.params["W1"] = np.zeros((4, 3), complex)
    with pytest.raises(TypeError, match="parameters cannot be removed"):
        del net.params["W1"]
    with pytest.raises(TypeError, match="parameters cannot be removed"):
        net.params.pop("b1")
    with pytest.raises(KeyError, match="keys cannot be added"):
        net.params.setdefault("W9", 0)
    np.testing.assert_array_equal(net.params["W1"], before)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]


def test_update_and_rebinding_params_load_all_or_nothing():
    net = TwoLayerNet(4, 3, 2)
    src = TwoLayerNet(4, 3, 2, weight_init_std=1.0)
    arrays = {k: v.copy() for k, v in src.params.items()}
    with pytest.raises(ValueError, match="b2"):
        net.params.update({**arrays, "b2": np.zeros(5)})
    assert not np.array_equal(net.params["W1"], arrays["W1"])  # nothing was copied
    net.params = arrays  # the book's `network.params = loaded` habit
    for key in arrays:
        np.testing.assert_array_equal(net.params[key], arrays[key])
    with pytest.raises(ValueError, match="expected a dict with the keys W1, b1, W2, b2"):
        net.params = {"W1": arrays["W1"]}
    net.params |= {"b1": np.full(3, 7.0)}
    assert (net.b1.data == 7).all()


def test_a_replaced_parameter_array_is_what_params_gives():
    net = TwoLayerNet(4, 3, 2)
    net.W2.data = np.ones((3, 2))
    assert net.params["W2"] is net.W2.data
    assert dict(net.params)["W2"] is net.W2.data
    assert list(net.params.items())[2][1] is net.W2.data


def test_a_kept_loss_keeps_its_value_and_frees_its_graph_when_the_params_change():
    x, t = blobs(n=50)
    net = TwoLayerNet(20, 10, 3)
    loss = net.loss(x, t)
    old_graph = weakref.ref(loss.creator)
    value = float(loss)
    net.params["W1"] -= 0.1  # the book's update: the parameters changed
    gc.collect()
    assert old_graph() is None  # the graph, and the batch it held, are gone
    assert isinstance(loss.creator, FreedGraph)
    assert float(loss) == value and loss.item() == value and f"{loss:.4f}" == f"{value:.4f}"
    assert round(loss, 3) == round(value, 3) and np.asarray([loss, loss]).tolist() == [value] * 2
    with pytest.raises(RuntimeError, match=r"computed before its parameters changed \(params\['W1'\] was updated\), so its graph was freed"):  # fmt: skip
        loss.backward()
    with pytest.raises(RuntimeError, match="computed before its parameters changed"):
        (loss * 2.0).backward()
    with pytest.raises(RuntimeError, match="computed before its parameters changed"):
        mg.grad(loss, [net.W1])
    with pytest.raises(RuntimeError, match="computed before its parameters changed"):
        loss.backward(create_graph=True)
    assert all(p.grad is None for p in net.parameters())  # nothing half-done


def test_the_idiomatic_loop_keeps_its_graphs_and_stays_small():
    x, t = blobs(n=50)
    net = TwoLayerNet(20, 10, 3)
    opt = optim.SGD(net.parameters(), lr=0.1)
    for _ in range(300):
        loss = net.loss(x, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert loss.creator.name == "softmax_cross_entropy"  # an optimizer step frees nothing
    assert len(net._handed_out) < 70  # dead references are dropped as it goes


def test_only_the_outputs_handed_out_are_tracked():
    x, t = blobs(n=10)
    net = TwoLayerNet(20, 10, 3)
    net.loss(x, t)  # predict inside loss: not tracked
    net(x, t)  # loss inside __call__: not tracked
    net.accuracy(x, t)  # no graph
    assert len(net._handed_out) == 2


def test_load_state_dict_frees_graphs_too():
    x, t = blobs(n=50)
    net = TwoLayerNet(20, 10, 3)
    loss = net(x, t)
    net.load_state_dict(net.state_dict())
    assert isinstance(loss.creator, FreedGraph)


def test_a_freed_loss_draws_as_a_freed_graph():
    pytest.importorskip("graphviz")
    from minigrad.viz import to_dot

    x, t = blobs(n=5)
    net = TwoLayerNet(20, 10, 3)
    loss = net.loss(x, t)
    net.params["b2"] -= 0.0
    assert "graph freed: parameters changed" in to_dot(loss).source


def test_copies_and_pickles_keep_params_in_step_with_their_model():
    net = TwoLayerNet(4, 3, 2)
    net.loss(np.ones((1, 4)), np.array([1]))
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert other.params["W1"] is other.W1.data and other.params["W1"] is not net.W1.data
        assert len(other._handed_out) == 0
        other.params["W1"] = np.zeros((4, 3))
        assert not other.W1.data.any() and net.W1.data.any()


def test_an_optimizers_book_update_frees_graphs_too():
    x, t = blobs(n=50)
    net = TwoLayerNet(20, 10, 3)
    loss = net.loss(x, t)
    optim.SGD(lr=0.1).update(net.params, net.gradient(x, t))
    assert isinstance(loss.creator, FreedGraph)


def test_an_update_under_no_grad_frees_graphs_as_well():
    x, t = blobs(n=10)
    net = TwoLayerNet(20, 10, 3)
    loss = net.loss(x, t)
    with no_grad():
        net.params["W2"] -= 0.1
    with pytest.raises(RuntimeError, match="computed before its parameters changed"):
        loss.backward()
