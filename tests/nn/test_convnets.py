"""SimpleConvNet and DeepConvNet: the book's interface, gradients against the book's
hand-written backward (float64, 1e-10) and against numerical ones, modes, saving."""

# ruff: noqa: NPY002 - the book seeds NumPy's global generator; these tests rely on it
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from .book_style import book_gradient, deep_conv_net, simple_conv_net

TINY = {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}


def batch(n, shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)), rng.integers(0, classes, n)


@pytest.mark.parametrize(
    ("conv_param", "input_dim"),
    [
        ({"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}, (1, 28, 28)),
        ({"filter_num": 4, "filter_size": 3, "pad": 2, "stride": 2}, (3, 11, 9)),
    ],
)
def test_gradient_equals_the_books_hand_written_backward(conv_param, input_dim):
    np.random.seed(1)
    net = nn.SimpleConvNet(
        input_dim, conv_param, hidden_size=20, weight_init_std=0.1, dtype=np.float64
    )
    x, t = batch(8, input_dim, 10)
    params = {k: v.copy() for k, v in net.params.items()}
    layers = simple_conv_net(params, conv_param["stride"], conv_param["pad"])
    loss, expected = book_gradient(layers, x, t)
    grads = net.gradient(x, t)
    assert list(grads) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert float(net.lastLayer.loss) == pytest.approx(loss, abs=1e-12)
    for k, g in expected.items():
        assert grads[k].shape == g.shape
        np.testing.assert_allclose(grads[k], g, rtol=0, atol=1e-10, err_msg=k)


def test_simple_conv_net_interface_and_numerical_gradient():
    np.random.seed(0)
    net = nn.SimpleConvNet(
        (1, 6, 6), TINY, hidden_size=4, output_size=3, weight_init_std=0.3, dtype=np.float64
    )
    assert [k for k, _ in net.named_parameters()] == list(net.params)
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    assert net.last_layer is net.lastLayer
    assert net.params["W1"].shape == (3, 1, 3, 3) and net.params["W2"].shape == (27, 4)
    x, t = batch(3, (1, 6, 6), 3)
    g, ng = net.gradient(x, t), net.numerical_gradient(x, t)
    for k in g:
        np.testing.assert_allclose(g[k], ng[k], atol=1e-6, err_msg=k)
    # The book's params dict is the model's memory.
    before = net.predict(x).data.copy()
    net.params["b3"] += 1.0
    np.testing.assert_allclose(net.predict(x).data, before + 1.0)
    assert net.layers["Conv1"].dW is not None


def test_same_seed_same_weights_as_the_books_draws():
    np.random.seed(3)
    net = nn.SimpleConvNet(dtype=np.float64)
    np.random.seed(3)
    W1 = 0.01 * np.random.randn(30, 1, 5, 5)
    W2 = 0.01 * np.random.randn(30 * 12 * 12, 100)
    np.testing.assert_array_equal(net.params["W1"], W1)
    np.testing.assert_array_equal(net.params["W2"], W2)
    assert net.params["W1"].dtype == np.float64
    assert nn.SimpleConvNet().params["W1"].dtype == np.float64  # the book's dtype by default
    assert nn.SimpleConvNet(dtype=None).params["W1"].dtype == np.float32


def test_deep_conv_net_shapes_modes_and_gradient():
    np.random.seed(0)
    net = nn.DeepConvNet(dtype=np.float64)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes["W4"] == (32, 32, 3, 3) and shapes["W7"] == (1024, 50)
    assert list(shapes) == [f"{p}{i}" for i in range(1, 9) for p in "Wb"]
    assert len(net.layers) == 20
    np.testing.assert_allclose(np.std(net.params["W1"]), np.sqrt(2 / 9), rtol=0.3)
    x, t = batch(2, (1, 28, 28), 10)
    # Training mode: dropout is random; evaluation: deterministic.
    a, b = net.predict(x).data, net.predict(x).data
    assert not np.allclose(a, b)
    e1, e2 = net.predict(x, train_flg=False).data, net.predict(x, train_flg=False).data
    np.testing.assert_array_equal(e1, e2)
    assert net.training
    net.eval()
    np.testing.assert_array_equal(net.predict(x).data, e1)
    # In evaluation mode, the gradient equals the book's layers' hand-written backward.
    loss, expected = book_gradient(deep_conv_net(net.params, [1, 1, 1, 2, 1, 1]), x, t)
    grads = net.gradient(x, t)
    assert float(net.lastLayer.loss) == pytest.approx(loss, abs=1e-12)
    for k, g in expected.items():
        np.testing.assert_allclose(grads[k], g, rtol=0, atol=1e-10, err_msg=k)


def test_accuracy_in_batches_and_evaluation_mode():
    np.random.seed(0)
    net = nn.DeepConvNet(dtype=np.float32)
    x, t = batch(7, (1, 28, 28), 10)
    x = x.astype(np.float32)
    with mg.no_grad():
        net.eval()
        pred = np.argmax(net.predict(x).data, axis=1)
        net.train()
    expected = float(np.mean(pred == t))
    assert net.accuracy(x, t, batch_size=3) == pytest.approx(expected)
    assert net.accuracy(x, np.eye(10)[t]) == pytest.approx(expected)
    assert net.training  # accuracy restored the mode
    with pytest.raises(ValueError, match=r"^accuracy: 7 images and 6 labels"):
        net.accuracy(x, t[:6])


def test_save_params_and_load_params(tmp_path):
    np.random.seed(0)
    net = nn.SimpleConvNet((1, 6, 6), TINY, hidden_size=4, output_size=3)
    path = net.save_params(str(tmp_path / "params.npz"))
    other = nn.SimpleConvNet((1, 6, 6), TINY, hidden_size=4, output_size=3)
    W1 = other.params["W1"]
    other.load_params(path)
    assert other.params["W1"] is W1
    for k in net.params:
        np.testing.assert_array_equal(other.params[k], net.params[k])


def test_bad_settings():
    with pytest.raises(ValueError, match=r"^SimpleConvNet: conv_param lacks \['pad'\]"):
        nn.SimpleConvNet(conv_param={"filter_num": 3, "filter_size": 3, "stride": 1})
    with pytest.raises(ValueError, match=r"^SimpleConvNet: input_dim \(1, 4, 4\) is too small"):
        nn.SimpleConvNet((1, 4, 4), {"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 1})
    with pytest.raises(ValueError, match=r"conv_param\['stride'\] must be an int >= 1, got 0"):
        nn.DeepConvNet(conv_param_1={"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 0})
    net = nn.SimpleConvNet()
    with pytest.raises(ValueError, match=r"conv2d: x has 3 channels .* but W expects 1"):
        net.predict(np.ones((2, 3, 28, 28), np.float32))
