"""Loss modules: values against NumPy, gradients, what SoftmaxWithLoss keeps, bad input."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from minigrad import Variable, gradcheck
from minigrad.nn import MSELoss, SoftmaxCrossEntropy, SoftmaxWithLoss

rng = np.random.default_rng(1)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_with_loss_value_and_gradient():
    x = Variable(rng.standard_normal((4, 3)))
    t = np.array([0, 2, 1, 2])
    layer = SoftmaxWithLoss()
    loss = layer(x, t)
    p = softmax(x.data)
    assert loss.shape == () and loss.dtype == np.float64
    assert loss.item() == pytest.approx(-np.log(p[np.arange(4), t]).mean(), rel=1e-12)
    loss.backward()
    onehot = np.eye(3)[t]
    np.testing.assert_allclose(x.grad.data, (p - onehot) / 4, rtol=1e-12)
    assert gradcheck(lambda v: layer(v, t), Variable(x.data.copy()))


def test_one_hot_and_index_targets_agree():
    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = np.array([3, 0, 1, 1, 2])
    a = SoftmaxWithLoss()(x, t).item()
    b = SoftmaxWithLoss()(x, np.eye(4, dtype=np.float32)[t]).item()
    assert a == pytest.approx(b, rel=1e-6)


def test_it_keeps_the_books_attributes_but_not_the_graph():
    layer = SoftmaxWithLoss()
    assert layer.loss is None and layer.y is None and layer.t is None
    x = Variable(rng.standard_normal((2, 3)))
    t = np.array([1, 0])
    loss = layer(x, t)
    assert layer.loss == loss.item() and isinstance(layer.loss, np.float64)
    assert layer.t is t
    np.testing.assert_allclose(layer.y, softmax(x.data), rtol=1e-12)
    np.testing.assert_allclose(layer.y.sum(axis=1), 1.0)
    loss.backward()
    np.testing.assert_allclose(layer.y, softmax(x.data), rtol=1e-12)  # backward reuses no copy
    ref = weakref.ref(loss)
    del loss
    gc.collect()
    assert ref() is None


def test_softmax_cross_entropy_is_an_alias():
    assert SoftmaxCrossEntropy is SoftmaxWithLoss


def test_softmax_with_loss_bad_targets():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        SoftmaxWithLoss()(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"targets of shape \(3,\) do not fit logits of shape"):
        SoftmaxWithLoss()(x, np.array([0, 1, 2]))


def test_mse_loss():
    x = Variable(rng.standard_normal((3, 2)))
    t = rng.standard_normal((3, 2))
    loss = MSELoss()(x, t)
    assert loss.item() == pytest.approx(np.mean((x.data - t) ** 2), rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (x.data - t) / 6, rtol=1e-12)
    assert gradcheck(lambda v: MSELoss()(v, t), Variable(x.data.copy()))
    with pytest.raises(ValueError, match=r"shapes \(3, 2\) and \(2, 3\) differ"):
        MSELoss()(x, t.T)
