"""TwoLayerNet against the book's hand-written backpropagation, its numerical gradient, the
book's training loop; MLP."""

# ruff: noqa: NPY002 - the book seeds NumPy's global generator; these tests check that
# np.random.seed reproduces what it did.

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import Variable
from minigrad.nn import MLP, Affine, Linear, Module, ReLU, SoftmaxWithLoss, Tanh, TwoLayerNet

# --------------------------------------------------------------------------- the book's layers
# Written here from the seed's description (chapter 5), with its known defects fixed.


def book_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)


class BookAffine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class BookRelu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class BookSoftmaxWithLoss:
    def forward(self, x, t):
        self.t, self.y = t, book_softmax(x)
        n = x.shape[0]
        idx = t.argmax(axis=1) if t.ndim == 2 else t
        return -np.log(self.y[np.arange(n), idx]).sum() / n

    def backward(self):
        n = self.t.shape[0]
        if self.t.ndim == 2:
            return (self.y - self.t) / n
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


def book_gradient(params, x, t):
    layers = [BookAffine(params["W1"], params["b1"]), BookRelu()]
    layers.append(BookAffine(params["W2"], params["b2"]))
    last = BookSoftmaxWithLoss()
    h = x
    for layer in layers:
        h = layer.forward(h)
    loss = last.forward(h, t)
    dout = last.backward()
    for layer in reversed(layers):
        dout = layer.backward(dout)
    grads = {"W1": layers[0].dW, "b1": layers[0].db, "W2": layers[2].dW, "b2": layers[2].db}
    return loss, grads


def make_data(n=8, d=6, c=3, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, d)), r.integers(0, c, n)


# --------------------------------------------------------------------------- TwoLayerNet


def test_construction_follows_the_book():
    np.random.seed(5)
    net = TwoLayerNet(6, 4, 3)
    np.random.seed(5)
    W1 = 0.01 * np.random.randn(6, 4)
    W2 = 0.01 * np.random.randn(4, 3)
    assert net.W1.dtype == np.float64  # the book's dtype, TwoLayerNet's default
    np.testing.assert_array_equal(net.params["W1"], W1)
    np.testing.assert_array_equal(net.params["W2"], W2)
    assert not net.params["b1"].any() and net.params["b2"].shape == (3,)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert [n for n, _ in net.named_parameters()] == ["W1", "b1", "W2", "b2"]
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    assert isinstance(net.layers["Affine1"], Affine) and isinstance(net.layers["Relu1"], ReLU)
    assert isinstance(net.lastLayer, SoftmaxWithLoss)
    assert isinstance(net.layers, OrderedDict) and isinstance(net, Module)
    assert TwoLayerNet(2, 2, 2, dtype=np.float32).W2.dtype == np.float32
    assert TwoLayerNet(2, 2, 2, dtype=None).W2.dtype == mg.get_default_dtype()


def test_params_are_the_very_arrays_of_the_model():
    net = TwoLayerNet(6, 4, 3, dtype=np.float64)
    for key, p in zip(["W1", "b1", "W2", "b2"], net.parameters()):
        assert net.params[key] is p.data
    assert net.layers["Affine1"].W is net.W1 and net.layers["Affine2"].b is net.b2
    x, _ = make_data()
    net.params["W1"][...] = np.random.default_rng(1).standard_normal((6, 4))  # load
    before = net.predict(x).data.copy()
    net.params["b2"] -= 1.0  # the book's update
    np.testing.assert_allclose(net.predict(x).data, before - 1.0)


@pytest.mark.parametrize("one_hot", [False, True])
def test_gradient_equals_the_books_backpropagation(one_hot):
    np.random.seed(0)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, dtype=np.float64)
    net.params["b1"][...] = np.random.default_rng(2).standard_normal(5) * 0.1
    x, t = make_data()
    if one_hot:
        t = np.eye(3)[t]
    grads = net.gradient(x, t)
    loss, expected = book_gradient(net.params, x, t)
    assert list(grads) == ["W1", "b1", "W2", "b2"]
    assert net.loss(x, t).item() == pytest.approx(loss, abs=1e-12)
    for key in expected:
        assert grads[key].dtype == np.float64 and grads[key].shape == net.params[key].shape
        np.testing.assert_allclose(grads[key], expected[key], rtol=0, atol=1e-10, err_msg=key)


def test_gradient_clears_old_gradients_first():
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, dtype=np.float64)
    x, t = make_data()
    first = {k: v.copy() for k, v in net.gradient(x, t).items()}
    second = net.gradient(x, t)
    for k in first:
        np.testing.assert_array_equal(second[k], first[k])


def test_gradient_agrees_with_numerical_gradient():
    np.random.seed(3)
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, dtype=np.float64)
    x, t = make_data(n=5, d=4)
    # No hidden pre-activation near ReLU's kink, where central differences are wrong.
    assert np.abs(x @ net.params["W1"]).min() > 1e-3
    numeric = net.numerical_gradient(x, t)
    analytic = net.gradient(x, t)
    for key in analytic:
        assert numeric[key].dtype == np.float64
        np.testing.assert_allclose(analytic[key], numeric[key], rtol=0, atol=1e-6, err_msg=key)


def test_numerical_gradient_works_in_the_params_dtype_and_restores_them():
    net = TwoLayerNet(3, 2, 2, dtype=np.float32)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.warns(UserWarning, match=r"parameters are float32.*dtype=np.float64"):
        g = net.numerical_gradient(*make_data(n=4, d=3, c=2))
    assert all(v.dtype == np.float32 for v in g.values())
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])


def test_the_books_training_loop_runs_unchanged():
    # Synthetic stand-in for MNIST: 3 separable blobs, one-hot labels like the book's script.
    r = np.random.default_rng(0)
    centers = r.standard_normal((3, 20)) * 3
    labels = r.integers(0, 3, 600)
    x_train = centers[labels] + r.standard_normal((600, 20))
    t_train = np.eye(3)[labels]
    np.random.seed(0)

    # ---- the seed's loop, as written there (minus its per-iteration print)
    iters_num = 300
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    train_loss_list = []
    net = TwoLayerNet(20, 10, 3)
    for _i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]
        grad = net.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= learning_rate * grad[key]
        loss = net.loss(x_batch, t_batch)
        train_loss_list.append(loss)
    # ----

    losses = [float(v.data) for v in train_loss_list]
    assert losses[0] == pytest.approx(np.log(3), abs=0.05)  # tiny weights: uniform guesses
    assert np.mean(losses[-20:]) < 0.1
    assert net.accuracy(x_train, t_train) > 0.95


def test_predict_loss_forward_and_accuracy():
    net = TwoLayerNet(6, 5, 3, weight_init_std=1.0, dtype=np.float64)
    x, t = make_data()
    logits = net.predict(x)
    assert isinstance(logits, Variable) and logits.shape == (8, 3)
    np.testing.assert_array_equal(net(x).data, logits.data)
    assert net(x, t).item() == net.loss(x, t).item()
    expected = np.mean(logits.data.argmax(axis=1) == t)
    acc = net.accuracy(x, t)
    assert isinstance(acc, float) and acc == expected
    assert net.accuracy(x, np.eye(3)[t]) == expected
    assert net.loss(x, np.eye(3)[t]).item() == pytest.approx(net.loss(x, t).item(), abs=1e-12)


def test_accuracy_records_no_graph():
    net = TwoLayerNet(6, 5, 3)
    x, t = make_data()
    net.accuracy(x.astype(np.float32), t)
    # Nothing was recorded, so no gradient can appear; a forward afterwards still records.
    assert all(p.grad is None for p in net.parameters())
    assert net.loss(x.astype(np.float32), t).creator is not None


def test_accuracy_bad_input():
    net = TwoLayerNet(6, 5, 3)
    x, t = make_data()
    with pytest.raises(ValueError, match="8 predictions and 7 labels"):
        net.accuracy(x, t[:7])


def test_bad_construction():
    with pytest.raises(ValueError, match="TwoLayerNet: hidden_size must be a positive int, got 0"):
        TwoLayerNet(4, 0, 2)
    with pytest.raises(TypeError, match="TwoLayerNet: dtype must be floating, got int32"):
        TwoLayerNet(4, 3, 2, dtype=np.int32)


def test_weight_init_std_may_name_an_initializer():
    net = TwoLayerNet(400, 300, 2, weight_init_std="he_normal", dtype=np.float64)
    assert net.params["W1"].std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)


def test_repr():
    assert repr(TwoLayerNet(4, 3, 2, dtype=np.float32)) == (
        "TwoLayerNet(\n"
        "  input_size=4, hidden_size=3, output_size=2, dtype=float32\n"
        "  (layers.Affine1): Affine(in_features=4, out_features=3, bias=True, dtype=float32)\n"
        "  (layers.Relu1): ReLU()\n"
        "  (layers.Affine2): Affine(in_features=3, out_features=2, bias=True, dtype=float32)\n"
        "  (lastLayer): SoftmaxWithLoss()\n"
        ")"
    )


# --------------------------------------------------------------------------- MLP


def test_mlp_structure():
    net = MLP([6, 5, 4, 3])
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.W",
        "fc1.b",
        "fc2.W",
        "fc2.b",
        "fc3.W",
        "fc3.b",
    ]
    assert [n for n, _ in net.named_children()] == [
        "fc1",
        "act1",
        "fc2",
        "act2",
        "fc3",
        "lastLayer",
    ]
    assert isinstance(net.fc2, Linear) and isinstance(net.act1, ReLU)
    assert net.fc3.W.shape == (4, 3) and net.fc3.W.dtype == np.float32
    x, t = make_data()
    assert net.predict(x.astype(np.float32)).shape == (8, 3)


def test_mlp_gradient_agrees_with_numerical_gradient():
    np.random.seed(1)
    net = MLP([6, 5, 4, 3], activation="tanh", dtype=np.float64)
    x, t = make_data()
    numeric = net.numerical_gradient(x, t, h=1e-5)
    analytic = net.gradient(x, t)
    assert list(analytic) == [n for n, _ in net.named_parameters()]
    for key in analytic:
        np.testing.assert_allclose(analytic[key], numeric[key], rtol=0, atol=1e-8, err_msg=key)


def test_mlp_activation_choices():
    assert isinstance(MLP([2, 3, 2], activation="sigmoid").act1, Module)
    assert isinstance(MLP([2, 3, 2], activation=Tanh).act1, Tanh)
    with pytest.raises(ValueError, match="MLP: unknown activation 'gelu'"):
        MLP([2, 3, 2], activation="gelu")
    with pytest.raises(TypeError, match="MLP: activation\\(\\) returned a str, not a Module"):
        MLP([2, 3, 2], activation=lambda: "relu")
    with pytest.raises(
        TypeError, match="MLP: activation must be a name or a Module class, got int"
    ):
        MLP([2, 3, 2], activation=3)
    with pytest.raises(ValueError, match="MLP: sizes needs at least an input and an output size"):
        MLP([4])


def test_mlp_trains_with_an_optimizer():
    from minigrad import optim

    np.random.seed(0)
    r = np.random.default_rng(0)
    x = r.standard_normal((64, 5))
    t = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    net = MLP([5, 16, 2], dtype=np.float64)
    opt = optim.Adam(net.parameters(), lr=0.05)
    first = net.loss(x, t).item()
    for _ in range(100):
        loss = net.loss(x, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert net.loss(x, t).item() < 0.1 * first
    assert net.accuracy(x, t) > 0.95
