"""Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, the book's Convolution and Pooling; BatchNorm1d/2d, the
book's BatchNormalization; Dropout's book keyword; buffers in state_dict, save and load."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, nn


def test_conv2d_layer():
    layer = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    assert layer.W.shape == (8, 3, 3, 3) and layer.b.shape == (8,)
    assert layer.W.dtype == np.float32
    # He: std sqrt(2 / fan_in) with fan_in = 3 * 3 * 3.
    assert np.std(nn.Conv2d(64, 64, 3).W.data) == pytest.approx(np.sqrt(2 / 576), rel=0.1)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 8, 5, 5)
    np.testing.assert_allclose(y.data, F.conv2d(x, layer.W, layer.b, 2, 1).data)
    assert [k for k, _ in layer.named_parameters()] == ["W", "b"]
    assert nn.Conv2d(3, 8, (3, 1), bias=False).b is None
    assert (
        repr(layer) == "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=True)"
    )
    with pytest.raises(ValueError, match=r"^Conv2d: stride must be positive, got 0"):
        nn.Conv2d(3, 8, 3, stride=0)
    with pytest.raises(ValueError, match=r"^Conv2d: out_channels must be positive, got 0"):
        nn.Conv2d(3, 0, 3)
    with pytest.raises(ValueError, match=r"^conv2d: x has 4 channels"):
        layer(np.ones((1, 4, 9, 9), np.float32))


def test_conv_transpose2d_layer():
    np.random.seed(0)  # noqa: NPY002
    layer = nn.ConvTranspose2d(3, 8, 3, stride=2, padding=1, output_padding=1)
    assert layer.weight.shape == (3, 8, 3, 3) and layer.bias.shape == (8,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert [k for k, _ in layer.named_parameters()] == ["weight", "bias"]
    # PyTorch's draw: uniform in +-1/sqrt(fan_in), fan_in = out_channels * KH * KW = 72.
    big = nn.ConvTranspose2d(64, 32, 3, dtype=np.float64)
    bound = 1 / np.sqrt(32 * 9)
    assert np.abs(big.weight.data).max() <= bound and np.abs(big.bias.data).max() <= bound
    assert np.std(big.weight.data) == pytest.approx(bound / np.sqrt(3), rel=0.05)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 8, 8, 10) and y.dtype == np.float32
    np.testing.assert_array_equal(
        y.data, F.conv_transpose2d(x, layer.weight, layer.bias, 2, 1, 1).data
    )
    # It undoes the shape change of the Conv2d with the same settings.
    assert nn.Conv2d(8, 3, 3, stride=2, padding=1)(y).shape == x.shape
    assert nn.ConvTranspose2d(3, 8, (3, 1), bias=False).bias is None
    assert repr(layer) == (
        "ConvTranspose2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
        "output_padding=(1, 1), bias=True)"
    )
    y.sum().backward()
    assert layer.weight.grad.shape == (3, 8, 3, 3) and layer.bias.grad.dtype == np.float32


def test_conv_transpose2d_layer_errors():
    with pytest.raises(
        ValueError,
        match=r"^ConvTranspose2d: output_padding \(2, 2\) must be smaller than the "
        r"stride \(2, 2\)",
    ):
        nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d: stride must be positive, got 0"):
        nn.ConvTranspose2d(3, 8, 3, stride=0)
    with pytest.raises(TypeError, match=r"^ConvTranspose2d: in_channels must be an int, got float"):
        nn.ConvTranspose2d(3.0, 8, 3)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d: kernel_size must be positive, got 0"):
        nn.ConvTranspose2d(3, 8, 0)
    with pytest.raises(ValueError, match=r"^conv_transpose2d: x has 4 channels"):
        nn.ConvTranspose2d(3, 8, 3)(np.ones((1, 4, 5, 5), np.float32))


def test_conv_transpose2d_layer_against_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(
        3, 5, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dtype=torch.float64
    )
    ours = nn.ConvTranspose2d(
        3, 5, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dtype=np.float64
    )
    nn.load_torch_state_dict(ours, theirs.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4))
    want = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(x).data, want, rtol=1e-6, atol=1e-6)
    # The same parameter names, shapes and spread of values.
    assert [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()] == [
        (k, v.shape) for k, v in nn.to_torch_state_dict(ours).items()
    ]


def test_pooling_layers():
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, F.max_pool2d(x, 2).data)
    np.testing.assert_array_equal(nn.AvgPool2d(2, 1)(x).data, F.avg_pool2d(x, 2, 1).data)
    # The book's Pooling: stride 1 by default.
    assert nn.Pooling(2, 2)(x).shape == (1, 2, 3, 3)
    assert nn.Pooling(2, 2, stride=2)(x).shape == (1, 2, 2, 2)


def test_books_convolution_layer_shares_its_arrays():
    W = np.ones((2, 1, 3, 3))
    b = np.zeros(2)
    conv = nn.Convolution(W, b, stride=1, pad=1)
    assert conv.W.data is W
    x = np.ones((1, 1, 4, 4))
    conv(x).sum().backward()
    assert conv.dW.shape == (2, 1, 3, 3) and conv.db.tolist() == [16.0, 16.0]
    W *= 2
    assert conv(x).data[0, 0, 1, 1] == 18.0
    with pytest.raises(ValueError, match=r"^Convolution: expected W \(FN, C, FH, FW\)"):
        nn.Convolution(np.ones((2, 3)), np.zeros(2))


def test_batch_norm_layers_train_and_eval():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3)
    assert [k for k, _ in bn.named_parameters()] == ["gamma", "beta"]
    assert list(bn.state_dict()) == ["gamma", "beta", "running_mean", "running_var"]
    x = (rng.standard_normal((8, 3, 4, 4)) * 2 + 5).astype(np.float32)
    y = bn(x)
    np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    bn.eval()
    mean = bn.running_mean.copy()
    y = bn(x)
    np.testing.assert_array_equal(bn.running_mean, mean)
    expected = (x - mean.reshape(1, 3, 1, 1)) / np.sqrt(bn.running_var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-5)
    assert list(p for p in bn.parameters()) == [bn.gamma, bn.beta]


def test_batch_norm_layer_errors_leave_the_running_statistics():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(
        ValueError,
        match=r"^BatchNorm2d\(3\): expected an input of shape \(N, 3, H, W\), got \(2, 4, 5, 5\)",
    ):
        bn(np.ones((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 3, 5\)"):
        bn(np.ones((2, 3, 5), np.float32))
    b1 = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"a batch of one"):
        b1(np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"^BatchNorm1d\(4\): expected an input of shape \(N, 4\)"):
        b1(np.ones((3, 5), np.float32))
    assert not b1.running_mean.any() and (b1.running_var == 1).all()
    b1.eval()
    assert b1(np.ones((1, 4), np.float32)).shape == (1, 4)


def test_books_batch_normalization():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2, 3, 3))
    gamma, beta = np.ones(18), np.zeros(18)
    bn = nn.BatchNormalization(gamma, beta, momentum=0.9)
    assert bn.gamma.data is gamma
    y = bn(x)
    flat = x.reshape(6, -1)
    expected = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 10e-7)
    np.testing.assert_allclose(y.data, expected.reshape(x.shape), atol=1e-10)
    # The book's convention: r = momentum * r + (1 - momentum) * stat, biased var, from zeros.
    np.testing.assert_allclose(bn.running_mean, 0.1 * flat.mean(0))
    np.testing.assert_allclose(bn.running_var, 0.1 * flat.var(0))
    y = bn(x, train_flg=False)
    expected = (flat - bn.running_mean) / np.sqrt(bn.running_var + 10e-7)
    np.testing.assert_allclose(y.data, expected.reshape(x.shape), atol=1e-10)
    with pytest.raises(ValueError, match=r"^BatchNormalization\(18\): expected an input"):
        bn(np.ones((2, 3, 3, 3)))


def test_dropout_takes_the_books_keyword():
    layer = nn.Dropout(dropout_ratio=0.25)
    assert layer.p == 0.25
    assert nn.Dropout(0.3).p == 0.3
    layer.eval()
    x = mg.Variable(np.ones(4))
    assert layer(x) is x


def test_train_eval_reach_every_layer_and_buffers_are_saved(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )
    x = np.random.default_rng(0).random((4, 1, 4, 4), dtype=np.float32)
    model(x)
    model.eval()
    assert all(not m.training for m in model.modules())
    sd = model.state_dict()
    assert "1.running_mean" in sd and "1.running_var" in sd
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var"]
    assert len(list(model.parameters())) == 6
    path = model.save(tmp_path / "m.npz")
    other = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )
    buf = other[1].running_mean
    other.load(path)
    assert other[1].running_mean is buf
    np.testing.assert_array_equal(buf, model[1].running_mean)
    other.eval()
    np.testing.assert_allclose(other(x).data, model(x).data)
    bad = dict(sd)
    bad["1.running_var"] = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"'1.running_var' has shape \(3,\)"):
        other.load_state_dict(bad)
    with pytest.raises(TypeError, match=r"^register_buffer: 'r' must be an ndarray, got list"):
        nn.Module().register_buffer("r", [1])
