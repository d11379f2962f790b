"""minigrad.book's networks and the params mechanism every book-style network shares.

MultiLayerNet and MultiLayerNetExtend: weights drawn as the book draws them, gradients by
autograd against the book's central differences (float64), the book's loss value, dropout
masks and batch statistics as the book's; TwoLayerNet, SimpleConvNet, DeepConvNet,
MultiLayerNet(Extend): `params[k] -= ...`, `params[k] = w`, `params[k][...] = w` all reach the
model, or raise naming the key and the shapes; `load_params` of the book's `.pkl` format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from minigrad import nn
from minigrad._pickle import WeightsPickleError, read_weights_pickle
from minigrad.book import MultiLayerNet, MultiLayerNetExtend
from minigrad.book.functions import cross_entropy_error, softmax

TINY_CONV = {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}


def data(n: int = 4, d: int = 6, c: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, c, n).astype(np.uint8)


def test_weights_are_drawn_in_the_books_order_and_scales():
    np.random.seed(1)  # noqa: NPY002 - the book draws from the global generator
    net = MultiLayerNet(6, [5, 4], 3, activation="sigmoid", weight_init_std="xavier")
    np.random.seed(1)  # noqa: NPY002
    W1 = np.sqrt(1 / 6) * np.random.randn(6, 5)  # noqa: NPY002
    W2 = np.sqrt(1 / 5) * np.random.randn(5, 4)  # noqa: NPY002
    W3 = np.sqrt(1 / 4) * np.random.randn(4, 3)  # noqa: NPY002
    for k, w in [("W1", W1), ("W2", W2), ("W3", W3)]:
        np.testing.assert_array_equal(net.params[k], w)
        assert net.params[k].dtype == np.float64
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    np.random.seed(1)  # noqa: NPY002
    std = MultiLayerNet(6, [5], 3, weight_init_std=0.01)
    np.random.seed(1)  # noqa: NPY002
    np.testing.assert_array_equal(std.params["W1"], 0.01 * np.random.randn(6, 5))  # noqa: NPY002
    with pytest.raises(ValueError, match=r"weight_init_std: unknown 'lecun'"):
        MultiLayerNet(6, [5], 3, weight_init_std="lecun")


def test_loss_is_the_books_number_with_weight_decay_and_gradient_matches_it():
    np.random.seed(2)  # noqa: NPY002
    # Sigmoid: central differences across a ReLU's kink would be off (the book's too).
    net = MultiLayerNet(6, [5, 4], 3, activation="sigmoid", weight_decay_lambda=0.1)
    x, t = data()
    y = net.predict(x)
    assert isinstance(y, np.ndarray) and y.shape == (4, 3) and y.dtype == np.float64
    decay = sum(0.5 * 0.1 * np.sum(net.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert net.loss(x, t) == pytest.approx(cross_entropy_error(softmax(y), t) + decay, rel=1e-14)
    grads = net.gradient(x, t)
    numerical = net.numerical_gradient(x, t)
    assert list(grads) == list(numerical) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k in grads:
        # The book's loss adds 1e-7 inside its log; its backward, like autograd, is exact.
        np.testing.assert_allclose(grads[k], numerical[k], rtol=1e-5, atol=1e-7, err_msg=k)
    acc = net.accuracy(x, t)
    assert acc == np.mean(np.argmax(y, axis=1) == t)


def test_extend_dropout_masks_and_batch_norm_are_the_books():
    np.random.seed(3)  # noqa: NPY002
    net = MultiLayerNetExtend(
        6, [5, 4], 3, use_dropout=True, dropout_ration=0.2, use_batchnorm=True
    )
    assert list(net.params) == [
        "W1", "b1", "W2", "b2", "W3", "b3", "gamma1", "beta1", "gamma2", "beta2"
    ]  # fmt: skip
    assert list(net.layers) == [
        "Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
        "Affine2", "BatchNorm2", "Activation_function2", "Dropout2", "Affine3",
    ]  # fmt: skip
    x, t = data(n=8)
    state = np.random.get_state()  # noqa: NPY002
    grads = net.gradient(x, t)
    # By hand: the book's forward in training, masks drawn in the same order.
    np.random.set_state(state)  # noqa: NPY002
    p = {k: v.copy() for k, v in net.params.items()}
    h = x.astype(np.float64)
    for i in (1, 2):
        h = h @ p[f"W{i}"] + p[f"b{i}"]
        xc = h - h.mean(axis=0)
        h = p[f"gamma{i}"] * xc / np.sqrt((xc**2).mean(axis=0) + 10e-7) + p[f"beta{i}"]
        h = np.maximum(h, 0)
        h = h * (np.random.rand(*h.shape) > 0.2)  # noqa: NPY002
    y = h @ p["W3"] + p["b3"]
    e = softmax(y)
    e[np.arange(8), t] -= 1
    np.testing.assert_allclose(grads["b3"], e.sum(axis=0) / 8, rtol=1e-12, atol=1e-15)
    # Test mode: no masks drawn, dropout scales by 1 - 0.2.
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    a, b = net.predict(x), net.predict(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_extend_gradient_check_with_batch_norm():
    np.random.seed(4)  # noqa: NPY002
    net = MultiLayerNetExtend(
        6, [5], 3, activation="sigmoid", use_batchnorm=True, weight_decay_lambda=0.05
    )
    x, t = data(n=5)
    grads, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    assert list(grads) == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    for k in grads:
        np.testing.assert_allclose(grads[k], numerical[k], rtol=1e-5, atol=1e-7, err_msg=k)


def _nets():
    np.random.seed(0)  # noqa: NPY002
    return [
        nn.TwoLayerNet(6, 4, 3),
        nn.SimpleConvNet((1, 6, 6), TINY_CONV, hidden_size=4, output_size=3),
        nn.DeepConvNet(hidden_size=4, output_size=3),
        MultiLayerNet(6, [4], 3),
        MultiLayerNetExtend(6, [4], 3, use_batchnorm=True),
    ]


@pytest.mark.parametrize("net", _nets(), ids=lambda n: type(n).__name__)
def test_one_params_mechanism_every_write_reaches_the_model(net):
    assert net.dtype == np.float64  # the book's dtype unless dtype= says otherwise
    named = dict(net.named_parameters())
    key = "W1"
    p = named[key]
    w = np.full(p.shape, 0.5)
    net.params[key] = w  # the book's load_params
    assert net.params[key] is p.data and np.all(p.data == 0.5)
    net.params[key] -= 0.25  # the book's SGD
    assert np.all(p.data == 0.25)
    net.params[key][...] = 1.0
    assert np.all(p.data == 1.0)
    with pytest.raises(
        ValueError,
        match=rf"params\['W1'\] = \.\.\.: the new array has shape \(1,\), but W1 has shape {re_shape(p.shape)}",
    ):
        net.params[key] = np.ones(1)
    with pytest.raises(KeyError, match="no such parameter"):
        net.params["W99"] = np.ones(1)


def re_shape(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_load_params_reads_the_books_pickle_and_refuses_code(tmp_path):
    np.random.seed(0)  # noqa: NPY002
    net = nn.SimpleConvNet((1, 6, 6), TINY_CONV, hidden_size=4, output_size=3)
    weights = {k: np.random.rand(*v.shape).astype(np.float32) for k, v in net.params.items()}  # noqa: NPY002
    path = tmp_path / "params.pkl"
    with open(path, "wb") as f:
        pickle.dump(weights, f)  # what the book's save_params writes
    net.load_params(str(path))
    for k, w in weights.items():
        np.testing.assert_array_equal(net.params[k], w.astype(np.float64))  # cast, as PyTorch
        assert net.params[k].dtype == np.float64
    # minigrad's own .npz
    npz = net.save_params(str(tmp_path / "p.npz"))
    other = nn.SimpleConvNet((1, 6, 6), TINY_CONV, hidden_size=4, output_size=3)
    other.load_params(npz)
    np.testing.assert_array_equal(other.params["W2"], net.params["W2"])
    # Wrong keys: nothing loaded.
    with open(path, "wb") as f:
        pickle.dump({"W1": weights["W1"]}, f)
    with pytest.raises(ValueError, match=r"load_params: .* missing \['b1', 'W2'"):
        net.load_params(str(path))


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"W": _Boom()}, r"refused to load (posix|nt)\.system"),
        ([np.zeros(2)], r"holds a list, expected a dict"),
        ({"W": np.array(["a"], dtype=object)}, r"entry 'W' is a dtype object"),
        ({1: np.zeros(2)}, r"entry 1 is a dtype float64; only str keys"),
    ],
)
def test_the_weights_unpickler_refuses_anything_but_arrays(tmp_path, obj, message):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(WeightsPickleError, match=message):
        read_weights_pickle(path)
    assert issubclass(WeightsPickleError, ValueError)


def test_deep_conv_net_dropout_is_the_books_non_inverted_one():
    np.random.seed(0)  # noqa: NPY002
    layer = nn.BookDropout(0.5)
    x = np.arange(1.0, 9.0).reshape(2, 4)
    np.random.seed(7)  # noqa: NPY002
    y = layer(x).data
    np.random.seed(7)  # noqa: NPY002
    np.testing.assert_array_equal(y, x * (np.random.rand(2, 4) > 0.5))  # noqa: NPY002
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x * 0.5)
    net = nn.DeepConvNet()
    assert sum(isinstance(la, nn.BookDropout) for la in net.layers) == 2
