"""Layers: values against NumPy, gradients against central differences (float64), dtypes,
shapes and the errors of bad input."""

# ruff: noqa: NPY002 - the book seeds NumPy's global generator; these tests check that
# np.random.seed reproduces what it did.

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import minigrad
from minigrad import Parameter, Variable, gradcheck
from minigrad.nn import (
    GELU,
    Affine,
    Dropout,
    Flatten,
    Linear,
    ReLU,
    Relu,
    Sequential,
    Sigmoid,
    SiLU,
    Tanh,
    init,
)

rng = np.random.default_rng(0)


def test_linear_value_shapes_and_default_dtype():
    layer = Linear(4, 3)
    assert layer.W.shape == (4, 3) and layer.b.shape == (3,)
    assert layer.W.dtype == np.float32 and layer.b.dtype == np.float32
    assert (layer.W.name, layer.b.name) == ("W", "b")
    np.testing.assert_array_equal(layer.b.data, np.zeros(3))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = layer(x)
    assert y.shape == (5, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.data, x @ layer.W.data + layer.b.data, rtol=1e-6)


def test_linear_follows_the_default_dtype():
    minigrad.set_default_dtype(np.float64)
    try:
        assert Linear(2, 2).W.dtype == np.float64
    finally:
        minigrad.set_default_dtype(np.float32)


def test_linear_gradients():
    layer = Linear(4, 3, dtype=np.float64, init="xavier_uniform")
    layer.b.data[...] = rng.standard_normal(3)
    x = Variable(rng.standard_normal((5, 4)))
    assert gradcheck(lambda *_: layer(x), x, layer.W, layer.b)


def test_linear_without_bias():
    layer = Linear(3, 2, bias=False, dtype=np.float64)
    assert layer.b is None
    assert [n for n, _ in layer.named_parameters()] == ["W"]
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(layer(x).data, x @ layer.W.data)
    assert "bias=False" in repr(layer)


def test_linear_init_options():
    np.random.seed(0)
    w = Linear(3, 2, init=0.5, dtype=np.float64).W.data
    np.random.seed(0)
    np.testing.assert_array_equal(w, 0.5 * np.random.randn(3, 2))
    ones = Linear(3, 2, init=lambda shape, dtype: np.ones(shape, dtype))
    np.testing.assert_array_equal(ones.W.data, np.ones((3, 2)))
    assert Linear(3, 2, init="zeros").W.data.sum() == 0
    with pytest.raises(ValueError, match="unknown initializer 'bogus'"):
        Linear(3, 2, init="bogus")
    with pytest.raises(ValueError, match=r"initializer returned shape \(2, 3\), expected \(3, 2\)"):
        Linear(3, 2, init=lambda shape, dtype: np.ones((2, 3)))


def test_linear_bad_sizes():
    with pytest.raises(ValueError, match="Linear: out_features must be positive, got 0"):
        Linear(3, 0)
    with pytest.raises(TypeError, match="Linear: in_features must be an int, got float"):
        Linear(3.0, 2)


def test_linear_wrong_input_width_names_the_shapes():
    layer = Linear(4, 2)
    with pytest.raises(ValueError) as err:
        layer(np.ones((3, 5), np.float32))
    assert str(err.value) == (
        "Linear(in_features=4, out_features=2, bias=True, dtype=float32): expected an input of "
        "shape (N, 4), got (3, 5)"
    )
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, 4\), got \(4,\)"):
        layer(Variable(np.ones(4, np.float32)))


def test_a_replaced_weight_of_another_shape_is_named_with_both_shapes():
    layer = Affine(4, 2)
    layer.W.data = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"Affine: its parameter W has shape \(4, 3\), but the layer was built for \(4, 2\) \(was its .data replaced"):  # fmt: skip
        layer(np.ones((5, 4), np.float32))


@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_dtype", [np.float32, np.float64, np.uint8, np.int64])
@pytest.mark.parametrize("make", [Linear, Affine], ids=["Linear", "Affine"])
def test_data_of_another_dtype_is_computed_in_the_layers_dtype(make, layer_dtype, data_dtype):
    layer = make(4, 3, dtype=layer_dtype)
    x = (rng.random((5, 4)) * 10).astype(data_dtype)
    for given in (x, Variable(x, name="x", requires_grad=False), x.tolist()):
        layer.W.grad = None
        y = layer(given)
        assert y.dtype == layer_dtype
        y.sum().backward()
        assert layer.W.grad.dtype == layer_dtype and layer.b.grad.dtype == layer_dtype
        expected = x.astype(layer_dtype) @ layer.W.data + layer.b.data
        np.testing.assert_array_equal(y.data, expected)


def test_an_input_of_another_dtype_that_needs_its_gradient_warns_once():
    layer = Linear(4, 3, dtype=np.float32)
    x = Variable(rng.random((5, 4)))  # float64, requires grad
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own setting: once per call site
        for _ in range(3):
            layer(x).sum().backward()
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert str(caught[0].message).startswith(
        "Linear: an input of dtype float64 that requires grad, into a layer of dtype float32"
    )
    assert caught[0].filename == __file__  # it points at the caller's line
    assert x.grad.shape == (5, 4)


def test_affine_from_arrays_shares_them_like_the_book():
    W = rng.standard_normal((4, 3))
    b = np.zeros(3)
    layer = Affine(W, b)
    assert layer.W.data is W and layer.b.data is b
    assert layer.W.dtype == np.float64
    x = rng.standard_normal((2, 4))
    W -= 0.5  # the book's in-place update of params['W1']
    np.testing.assert_allclose(layer(x).data, x @ W + b)
    assert (layer.in_features, layer.out_features) == (4, 3)
    p = Parameter(W, name="W1")
    assert Affine(p, b).W is p and p.name == "W1"


def test_affine_flattens_a_tensor_input_and_its_gradient_keeps_the_shape():
    layer = Affine(12, 5, dtype=np.float64)
    x = Variable(rng.standard_normal((2, 3, 2, 2)))
    y = layer(x)
    np.testing.assert_allclose(y.data, x.data.reshape(2, 12) @ layer.W.data + layer.b.data)
    y.sum().backward()
    assert x.grad.shape == (2, 3, 2, 2)
    assert gradcheck(lambda *_: layer(x), x, layer.W, layer.b)


def test_affine_bad_construction():
    with pytest.raises(ValueError, match=r"Affine: W must be 2-D \(in, out\), got shape \(3,\)"):
        Affine(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"b has shape \(2,\), expected \(3,\) for W of shape"):
        Affine(np.ones((2, 3)), np.ones(2))
    with pytest.raises(
        TypeError, match="Affine\\(in_features, out_features\\) or Affine\\(W, b\\)"
    ):
        Affine(3)
    with pytest.raises(TypeError, match="floating"):
        Affine(np.ones((2, 3), dtype=np.int64))


_K = math.sqrt(2 / math.pi)


def _phi(x):
    return np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))(x)


def _pdf(x):
    return np.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)


def _s(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize(
    ("layer", "expected", "derivative"),
    [
        (ReLU(), lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
        (Sigmoid(), lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
        (Tanh(), np.tanh, lambda x: 1 - np.tanh(x) ** 2),
        (GELU(), lambda x: x * _phi(x), lambda x: _phi(x) + x * _pdf(x)),
        (
            GELU("tanh"),
            lambda x: x * (1 + np.tanh(_K * (x + 0.044715 * x**3))) / 2,
            lambda x: (
                (1 + np.tanh(_K * (x + 0.044715 * x**3))) / 2
                + x
                * (1 - np.tanh(_K * (x + 0.044715 * x**3)) ** 2)
                * _K
                * (1 + 0.134145 * x**2)
                / 2
            ),
        ),
        (SiLU(), lambda x: x / (1 + np.exp(-x)), lambda x: _s(x) * (1 + x * (1 - _s(x)))),
    ],
    ids=["relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu"],
)
def test_activations(layer, expected, derivative):
    x = Variable(np.array([[-2.0, -0.5, 0.3], [1.5, 3.0, -1.0]]))
    y = layer(x)
    np.testing.assert_allclose(y.data, expected(x.data), rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, derivative(x.data), rtol=1e-12)
    assert gradcheck(layer, Variable(x.data.copy()))
    y32 = layer(x.data.astype(np.float32))
    assert y32.dtype == np.float32


def test_relu_is_the_books_relu():
    assert Relu is ReLU
    x = Variable(np.array([-1.0, 0.0, 2.0]))
    y = Relu()(x)
    y.backward(np.ones(3))
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])  # 0 at 0


def test_dropout_in_training_and_evaluation():
    layer = Dropout(0.25)
    x = Variable(np.ones((200, 50)))
    np.random.seed(0)
    y = layer(x)
    kept = y.data != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.where(kept, 1 / 0.75, 0.0))
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x.data)
    assert repr(layer) == "Dropout(p=0.25)"


def test_dropout_bad_p():
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), got 1"):
        Dropout(1)
    with pytest.raises(TypeError, match="Dropout: p must be a number, got str"):
        Dropout("0.5")


def test_flatten():
    x = Variable(rng.standard_normal((2, 3, 4)))
    y = Flatten()(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y.data, x.data.reshape(2, 12))


def test_sequential_names_order_and_indexing():
    seq = Sequential(Linear(4, 8, dtype=np.float64), Tanh(), Linear(8, 2, dtype=np.float64))
    assert [n for n, _ in seq.named_parameters()] == ["0.W", "0.b", "2.W", "2.b"]
    assert len(seq) == 3 and isinstance(seq[1], Tanh) and list(seq)[2] is seq[2]
    x = Variable(rng.standard_normal((3, 4)))
    expected = np.tanh(x.data @ seq[0].W.data) @ seq[2].W.data
    np.testing.assert_allclose(seq(x).data, expected)
    assert gradcheck(lambda *_: seq(x), x, seq[0].W, seq[2].W)
    head = seq[:2]
    assert isinstance(head, Sequential) and len(head) == 2 and head[0] is seq[0]
    seq.append(ReLU())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()][-1] == "3"


def test_sequential_from_a_dict_and_bad_items():
    seq = Sequential(OrderedDict(fc=Linear(2, 2), act=ReLU()))
    assert [n for n, _ in seq.named_children()] == ["fc", "act"]
    with pytest.raises(TypeError, match="Sequential: item 1 is a ufunc, not a Module"):
        Sequential(ReLU(), np.tanh)


def test_init_module_is_exported():
    assert init.he_normal((2, 2)).dtype == np.float32


def test_gelu_layer_options():
    assert repr(GELU("tanh")) == "GELU(approximate='tanh')"
    with pytest.raises(ValueError, match=r"^GELU: approximate must be 'none' or 'tanh', got 'x'"):
        GELU("x")
