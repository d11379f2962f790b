"""minigrad.book.layers: the book's layer protocol, each backward computed by the engine.

Every gradient is checked against a hand-written NumPy formula (the book's math, written
here) or against central differences in float64; forwards against NumPy expressions."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad.book import functions as bf
from minigrad.book import layers as L
from minigrad.book.gradient import numerical_gradient


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_affine_forward_backward_as_the_book_writes_them():
    r = rng()
    W, b = r.standard_normal((12, 5)), r.standard_normal(5)
    x = r.standard_normal((4, 3, 2, 2)).astype(np.float32)  # the book's float32 images
    layer = L.Affine(W, b)
    y = layer.forward(x)
    x2 = x.reshape(4, -1).astype(np.float64)
    np.testing.assert_array_equal(y, np.dot(x2, W) + b)
    assert y.dtype == np.float64  # float32 x float64, as np.dot computes it
    dout = r.standard_normal((4, 5))
    dx = layer.backward(dout)
    assert dx.shape == (4, 3, 2, 2)
    np.testing.assert_allclose(dx, (dout @ W.T).reshape(4, 3, 2, 2), rtol=1e-13)
    np.testing.assert_allclose(layer.dW, x2.T @ dout, rtol=1e-13)
    np.testing.assert_allclose(layer.db, dout.sum(axis=0), rtol=1e-13)


def test_weights_are_read_at_each_forward_so_rebinding_works():
    r = rng(1)
    layer = L.Affine(np.zeros((3, 2)), np.zeros(2))
    W = r.standard_normal((3, 2))
    layer.W = W  # what the book's load_params does
    x = r.standard_normal((2, 3))
    np.testing.assert_array_equal(layer.forward(x), x @ W)
    W *= 2  # an in-place update of the array (params[k] -= ...) reaches it too
    np.testing.assert_array_equal(layer.forward(x), x @ W)


def test_relu_and_sigmoid():
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 1.0]])
    relu = L.Relu()
    np.testing.assert_array_equal(relu.forward(x), np.maximum(x, 0))
    np.testing.assert_array_equal(relu.mask, x <= 0)
    dout = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(relu.backward(dout), np.where(x > 0, dout, 0))
    sig = L.Sigmoid()
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(sig.forward(x), s, rtol=1e-15)
    np.testing.assert_allclose(sig.backward(dout), dout * s * (1 - s), rtol=1e-14)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_returns_the_books_value_and_gradient(one_hot):
    r = rng(2)
    x = r.standard_normal((5, 4)) * 3
    t = np.array([0, 3, 1, 1, 2])
    target = np.eye(4)[t] if one_hot else t
    layer = L.SoftmaxWithLoss()
    loss = layer.forward(x, target)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(y[np.arange(5), t] + 1e-7)), rel=1e-14)
    np.testing.assert_allclose(layer.y, y, rtol=1e-14)
    grad = (y - np.eye(4)[t]) / 5
    np.testing.assert_allclose(layer.backward(), grad, rtol=1e-12, atol=1e-16)
    layer.forward(x, target)
    np.testing.assert_allclose(layer.backward(2.0), 2 * grad, rtol=1e-12, atol=1e-16)


def test_dropout_is_the_books_and_draws_its_mask_from_np_random():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    layer = L.Dropout(0.3)
    np.random.seed(5)  # noqa: NPY002 - the book draws from the global generator
    y = layer.forward(x)
    np.random.seed(5)  # noqa: NPY002 - the book draws from the global generator
    mask = np.random.rand(3, 4) > 0.3  # noqa: NPY002
    np.testing.assert_array_equal(layer.mask, mask)
    np.testing.assert_array_equal(y, x * mask)  # not inverted: no 1 / (1 - p)
    dout = np.ones((3, 4))
    np.testing.assert_array_equal(layer.backward(dout), dout * mask)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), x * 0.7, rtol=1e-15)
    with pytest.raises(ValueError, match=r"Dropout: dropout_ratio must be in \[0, 1\), got 1.5"):
        L.Dropout(1.5)


def _bn_book(x, gamma, beta):
    mu = x.mean(axis=0)
    xc = x - mu
    std = np.sqrt((xc**2).mean(axis=0) + 10e-7)
    return gamma * xc / std + beta, mu, (xc**2).mean(axis=0)


def test_batch_normalization_forward_running_statistics_and_gradients():
    r = rng(3)
    gamma, beta = r.uniform(0.5, 2, 6), r.standard_normal(6)
    x = r.standard_normal((5, 6)) * 2 + 1
    layer = L.BatchNormalization(gamma, beta)
    y = layer.forward(x)
    want, mu, var = _bn_book(x, gamma, beta)
    np.testing.assert_allclose(y, want, rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, 0.1 * mu, rtol=1e-14)
    np.testing.assert_allclose(layer.running_var, 0.1 * var, rtol=1e-14)
    test_y = layer.forward(x, train_flg=False)
    np.testing.assert_allclose(
        test_y, gamma * (x - 0.1 * mu) / np.sqrt(0.1 * var + 10e-7) + beta, rtol=1e-12
    )
    # Gradients against central differences of sum(out * dout).
    dout = r.standard_normal((5, 6))
    layer.forward(x)
    dx = layer.backward(dout)

    def f(_):
        return np.sum(_bn_book(x, gamma, beta)[0] * dout)

    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.dgamma, numerical_gradient(f, gamma), rtol=1e-6)
    np.testing.assert_allclose(layer.dbeta, dout.sum(axis=0), rtol=1e-12)


def test_batch_normalization_of_one_row_gives_beta_as_the_books_does():
    gamma, beta = np.ones(3), np.array([1.0, 2.0, 3.0])
    layer = L.BatchNormalization(gamma, beta)
    np.testing.assert_array_equal(layer.forward(np.array([[5.0, 6.0, 7.0]])), [beta])
    assert layer.backward(np.ones((1, 3))).shape == (1, 3)


def _conv_book(x, W, b, stride, pad):
    from nn.book_style import im2col

    fn, _, fh, fw = W.shape
    n, _, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = im2col(x, fh, fw, stride, pad)
    return (col @ W.reshape(fn, -1).T + b).reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1)])
def test_convolution_against_im2col_and_central_differences(stride, pad):
    r = rng(4)
    x, W, b = r.standard_normal((2, 3, 6, 6)), r.standard_normal((4, 3, 3, 3)), r.standard_normal(4)
    layer = L.Convolution(W, b, stride, pad)
    y = layer.forward(x)
    np.testing.assert_allclose(y, _conv_book(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    dout = r.standard_normal(y.shape)
    dx = layer.backward(dout)

    def f(_):
        return np.sum(_conv_book(x, W, b, stride, pad) * dout)

    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.dW, numerical_gradient(f, W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.db, dout.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_pooling_max_with_the_books_default_stride_of_two_and_zero_padding():
    x = -np.arange(1.0, 33.0).reshape(1, 2, 4, 4)
    pool = L.Pooling(2, 2)
    y = pool.forward(x)
    np.testing.assert_array_equal(y, x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    dx = pool.backward(np.ones(y.shape))
    assert dx.sum() == 8 and dx[0, 0, 0, 0] == 1  # the max of each window: its first element
    padded = L.Pooling(2, 2, stride=2, pad=1)
    # The book's im2col pads with zeros, so the corner windows of a negative image give 0.
    yp = padded.forward(x)
    assert yp.shape == (1, 2, 3, 3) and yp[0, 0, 0, 0] == 0.0


def test_backward_errors_name_the_layer():
    layer = L.Relu()
    with pytest.raises(RuntimeError, match=r"^Relu.backward: no forward to go back through"):
        layer.backward(np.ones(3))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^Relu.backward: dout has shape \(3,\), but the forward"):
        layer.backward(np.ones(3))
    aff = L.Affine(np.ones((4, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"^Affine.forward: x of shape \(2, 3\) has 3 features"):
        aff.forward(np.ones((2, 3)))


def test_functions_are_the_books():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 10.0]])
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(bf.softmax(x), e / e.sum(axis=1, keepdims=True), rtol=1e-15)
    y, t = bf.softmax(x), np.array([2, 0])
    want = -np.sum(np.log(y[[0, 1], t] + 1e-7)) / 2
    assert bf.cross_entropy_error(y, t) == pytest.approx(want, rel=1e-15)
    assert bf.cross_entropy_error(y, np.eye(3)[t]) == pytest.approx(want, rel=1e-15)
    assert bf.cross_entropy_error(y[0], np.eye(3)[2]) == pytest.approx(-np.log(y[0, 2] + 1e-7))
    np.testing.assert_array_equal(bf.step_function(np.array([-1.0, 0.0, 2.0])), [0, 0, 1])
    np.testing.assert_array_equal(bf.relu_grad(np.array([-1.0, 0.0, 2.0])), [0, 1, 1])
    assert bf.sum_squared_error(np.array([1.0, 2.0]), np.array([0.0, 0.0])) == 2.5


def test_numerical_gradient_of_a_quadratic_and_its_errors():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    g = numerical_gradient(lambda v: np.sum(v**2), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-9)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored
    with pytest.raises(TypeError, match=r"numerical_gradient: x must be a floating ndarray"):
        numerical_gradient(lambda v: 0.0, np.array([1, 2]))


def test_the_books_loose_inputs_a_number_for_b_and_labels_of_shape_n_1():
    # ch07/apply_filter.py builds Convolution(w, 0); ch07/gradient_check.py's labels are (1, 1).
    r = rng(6)
    x, W = r.standard_normal((1, 1, 5, 5)), r.standard_normal((1, 1, 3, 3))
    conv = L.Convolution(W, 0)
    np.testing.assert_allclose(conv.forward(x), _conv_book(x, W, np.zeros(1), 1, 0), rtol=1e-12)
    dx = conv.backward(np.ones((1, 1, 3, 3)))
    assert dx.shape == x.shape and conv.db.shape == (1,) and conv.db[0] == 9.0
    loss = L.SoftmaxWithLoss()
    z = np.array([[0.5, 1.0, -1.0]])
    loss.forward(z, np.array([[1]]))
    y = bf.softmax(z)
    np.testing.assert_allclose(loss.backward(), y - np.eye(3)[[1]], rtol=1e-14)
