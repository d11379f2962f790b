"""nn.LayerNorm: parameters (PyTorch's names), values, dtype, hand-over to PyTorch, bad input.
(The batch norm layers are tested in test_conv_layers.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def test_layer_norm_parameters_and_value():
    ln = nn.LayerNorm(4)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert ln.weight.dtype == np.float32 and ln.weight.shape == (4,)
    np.testing.assert_array_equal(ln.weight.data, 1)
    np.testing.assert_array_equal(ln.bias.data, 0)
    ln.weight.data[...] = [1, 2, 3, 4]
    ln.bias.data[...] = 0.5
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    y = ln(x)
    assert y.dtype == np.float32 and y.shape == (2, 3, 4)
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y.data, xhat * [1, 2, 3, 4] + 0.5, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(ln.bias.grad.data, 6)
    np.testing.assert_allclose(ln.weight.grad.data, xhat.sum(axis=(0, 1)), atol=1e-5)


def test_layer_norm_options():
    assert list(nn.LayerNorm(3, elementwise_affine=False).named_parameters()) == []
    ln = nn.LayerNorm((2, 3), bias=False, dtype=np.float64, eps=1e-3)
    assert [n for n, _ in ln.named_parameters()] == ["weight"] and ln.weight.shape == (2, 3)
    x = np.arange(12.0).reshape(2, 2, 3)
    xhat = (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-3)
    np.testing.assert_allclose(ln(x).data, xhat)
    assert repr(nn.LayerNorm(3)) == "LayerNorm((3,), eps=1e-05, elementwise_affine=True)"


def test_layer_norm_state_dict_matches_pytorch():
    rng = np.random.default_rng(0)
    ln = nn.LayerNorm(5, dtype=np.float64)
    ln.weight.data[...] = rng.standard_normal(5)
    ln.bias.data[...] = rng.standard_normal(5)
    sd = nn.to_torch_state_dict(ln)
    assert list(sd) == ["weight", "bias"]
    np.testing.assert_array_equal(sd["weight"], ln.weight.data)
    other = nn.LayerNorm(5, dtype=np.float64)
    nn.load_torch_state_dict(other, sd)
    np.testing.assert_array_equal(other.bias.data, ln.bias.data)
    torch = pytest.importorskip("torch")
    t = torch.nn.LayerNorm(5, dtype=torch.float64)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    x = rng.standard_normal((3, 5))
    np.testing.assert_allclose(ln(x).data, t(torch.from_numpy(x)).detach().numpy(), atol=1e-12)


def test_layer_norm_bad_input():
    with pytest.raises(
        ValueError,
        match=r"^LayerNorm\(\(4,\), .*\): expected an input of shape \(\.\.\., 4\), got \(2, 3\)",
    ):
        nn.LayerNorm(4)(np.ones((2, 3), np.float32))
    with pytest.raises(
        ValueError, match=r"expected an input of shape \(\.\.\., 2, 3\), got \(3,\)"
    ):
        nn.LayerNorm((2, 3))(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"^LayerNorm: normalized_shape must be positive, got 0"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match=r"^LayerNorm: eps must be positive"):
        nn.LayerNorm(3, eps=0)
    with pytest.raises(TypeError, match=r"^LayerNorm: normalized_shape must be an int"):
        nn.LayerNorm(3.5)


def test_layer_norm_is_the_same_in_training_and_evaluation():
    ln = nn.LayerNorm(3)
    x = mg.Variable(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32))
    a = ln(x).data
    ln.eval()
    np.testing.assert_array_equal(ln(x).data, a)
