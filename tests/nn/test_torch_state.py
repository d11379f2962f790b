"""to_torch_state_dict / load_torch_state_dict: PyTorch's names and layouts checked against
fixed expectations (no torch needed), the round trip, every error leaving the module
unchanged; and, where PyTorch is installed, the same outputs as PyTorch's equivalent models."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def seq() -> nn.Sequential:
    np.random.seed(0)  # noqa: NPY002
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2, bias=False))


def test_names_and_layouts_are_pytorchs():
    model = seq()
    sd = nn.to_torch_state_dict(model)
    assert list(sd) == ["0.weight", "0.bias", "3.weight"]
    assert sd["0.weight"].shape == (8, 4) and sd["3.weight"].shape == (2, 8)
    np.testing.assert_array_equal(sd["0.weight"], model[0].W.data.T)
    np.testing.assert_array_equal(sd["0.bias"], model[0].b.data)
    assert all(a.flags.c_contiguous and a.dtype == np.float32 for a in sd.values())
    sd["0.bias"][:] = 5  # a copy: the model keeps its weights
    assert not np.any(model[0].b.data == 5)

    mlp = nn.MLP([6, 5, 3])
    assert list(nn.to_torch_state_dict(mlp)) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    net = nn.TwoLayerNet(6, 5, 3)
    sd = nn.to_torch_state_dict(net)
    assert list(sd) == [
        "layers.Affine1.weight",
        "layers.Affine1.bias",
        "layers.Affine2.weight",
        "layers.Affine2.bias",
    ]
    np.testing.assert_array_equal(sd["layers.Affine2.weight"], net.params["W2"].T)


def test_round_trip_gives_the_same_outputs():
    a, b = (
        seq(),
        nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2, bias=False)),
    )
    result = nn.load_torch_state_dict(b, nn.to_torch_state_dict(a))
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    np.testing.assert_array_equal(a.eval()(x).data, b.eval()(x).data)
    net, net2 = nn.TwoLayerNet(6, 5, 3), nn.TwoLayerNet(6, 5, 3)
    net.b1.data[:] = 1.5
    nn.load_torch_state_dict(net2, nn.to_torch_state_dict(net))
    assert net2.params["b1"] is net2.b1.data and np.all(net2.params["b1"] == 1.5)  # in place


def conv_seq() -> nn.Sequential:
    np.random.seed(1)  # noqa: NPY002
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2, padding=1), nn.Conv2d(4, 5, (2, 1), bias=False), nn.AvgPool2d(2, padding=1),
        nn.Flatten(), nn.Linear(5 * 2 * 2, 6), nn.BatchNorm1d(6),
    )  # fmt: skip
    rng = np.random.default_rng(1)
    for bn in (model[1], model[8]):
        bn.gamma.data[:] = rng.uniform(0.5, 2, bn.num_features)
        bn.beta.data[:] = rng.normal(size=bn.num_features)
        bn.running_mean[:] = rng.normal(size=bn.num_features)
        bn.running_var[:] = rng.uniform(0.5, 2, bn.num_features)
    return model


def test_conv_and_batch_norm_names_and_layouts():
    model = conv_seq()
    sd = nn.to_torch_state_dict(model)
    assert list(sd) == [
        "0.weight", "0.bias",
        "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "4.weight",
        "7.weight", "7.bias",
        "8.weight", "8.bias", "8.running_mean", "8.running_var", "8.num_batches_tracked",
    ]  # fmt: skip
    # Conv weights keep their (OC, C, KH, KW) layout; buffers are copies.
    np.testing.assert_array_equal(sd["4.weight"], model[4].W.data)
    assert sd["4.weight"].shape == (5, 4, 2, 1)
    np.testing.assert_array_equal(sd["1.weight"], model[1].gamma.data)
    np.testing.assert_array_equal(sd["8.running_var"], model[8].running_var)
    assert sd["1.num_batches_tracked"].shape == () and sd["1.num_batches_tracked"].dtype == np.int64
    sd["1.running_mean"][:] = 7
    assert not np.any(model[1].running_mean == 7)

    # The buffers come back in place; num_batches_tracked is read (shape checked) and dropped.
    other = nn.Sequential(*[m for m in conv_seq()])
    for bn in (other[1], other[8]):
        bn.running_mean[:] = 0
    held = other[1].running_mean
    sd = nn.to_torch_state_dict(model)
    sd["1.num_batches_tracked"] = np.array(123)
    nn.load_torch_state_dict(other, sd)
    assert other[1].running_mean is held
    np.testing.assert_array_equal(held, model[1].running_mean)
    x = np.random.default_rng(2).normal(size=(3, 3, 7, 5)).astype(np.float32)
    np.testing.assert_array_equal(other.eval()(x).data, model.eval()(x).data)
    with pytest.raises(
        ValueError, match=r"'8.num_batches_tracked' has shape \(1,\), expected \(\)"
    ):
        nn.load_torch_state_dict(other, {**sd, "8.num_batches_tracked": np.zeros(1, np.int64)})


def test_conv_transpose_keeps_pytorchs_names_and_layout():
    np.random.seed(0)  # noqa: NPY002
    model = nn.Sequential(
        nn.ConvTranspose2d(4, 3, (3, 2), stride=2),
        nn.ReLU(),
        nn.ConvTranspose2d(3, 2, 1, bias=False),
    )
    sd = nn.to_torch_state_dict(model)
    assert {k: v.shape for k, v in sd.items()} == {
        "0.weight": (4, 3, 3, 2),
        "0.bias": (3,),
        "2.weight": (3, 2, 1, 1),
    }
    np.testing.assert_array_equal(sd["0.weight"], model[0].weight.data)
    other = nn.Sequential(
        nn.ConvTranspose2d(4, 3, (3, 2), stride=2),
        nn.ReLU(),
        nn.ConvTranspose2d(3, 2, 1, bias=False),
    )
    held = other[0].weight.data
    nn.load_torch_state_dict(other, sd)
    assert other[0].weight.data is held
    np.testing.assert_array_equal(held, model[0].weight.data)
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 4, 3, 2\), expected \(4, 3"):
        nn.load_torch_state_dict(other, {**sd, "0.weight": np.zeros((3, 4, 3, 2))})


def test_the_books_conv_nets_are_named_by_their_layers():
    np.random.seed(0)  # noqa: NPY002
    sd = nn.to_torch_state_dict(nn.SimpleConvNet())
    assert list(sd)[:3] == ["layers.Conv1.weight", "layers.Conv1.bias", "layers.Affine1.weight"]
    assert sd["layers.Conv1.weight"].shape == (30, 1, 5, 5)
    assert sd["layers.Affine1.weight"].shape == (100, 4320)
    sd = nn.to_torch_state_dict(nn.DeepConvNet())
    assert list(sd)[::4] == [
        "layers.0.weight",
        "layers.5.weight",
        "layers.10.weight",
        "layers.15.weight",
    ]
    gamma, beta = np.ones(12, np.float32), np.zeros(12, np.float32)
    sd = nn.to_torch_state_dict(nn.BatchNormalization(gamma, beta))
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


class FakeTensor:
    """What load_torch_state_dict needs of a tensor: detach, cpu, numpy (float64 here)."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float64)
        self.calls = []

    def detach(self):
        self.calls.append("detach")
        return self

    def cpu(self):
        self.calls.append("cpu")
        return self

    def numpy(self):
        self.calls.append("numpy")
        return self.a


def test_tensor_likes_are_read_through_numpy_and_cast():
    model = seq()
    w = FakeTensor(np.arange(32).reshape(8, 4))
    sd = {
        "0.weight": w,
        "0.bias": FakeTensor(np.ones(8)),
        "3.weight": mg.Variable(np.zeros((2, 8))),
    }
    nn.load_torch_state_dict(model, sd)
    assert w.calls == ["detach", "cpu", "numpy"]
    assert model[0].W.dtype == np.float32
    np.testing.assert_array_equal(model[0].W.data, np.arange(32).reshape(8, 4).T)


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


def test_errors_name_the_problem_and_load_nothing():
    model = seq()
    before = _weights(model)
    good = nn.to_torch_state_dict(seq())
    bad_shape = dict(good, **{"0.weight": np.zeros((4, 8), np.float32)})
    with pytest.raises(
        ValueError, match=r"'0.weight' has shape \(4, 8\), expected \(8, 4\).*nothing was loaded"
    ):
        nn.load_torch_state_dict(model, bad_shape)
    with pytest.raises(
        ValueError, match=r"missing keys \['3.weight'\]; unexpected keys \['3.bias'\]"
    ):
        nn.load_torch_state_dict(
            model, {**{k: v for k, v in good.items() if k != "3.weight"}, "3.bias": np.zeros(2)}
        )
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)
    partial = {"0.bias": np.full(8, 2.0, np.float32), "extra": np.zeros(1)}
    result = nn.load_torch_state_dict(model, partial, strict=False)
    assert result.missing_keys == ["0.weight", "3.weight"] and result.unexpected_keys == ["extra"]
    assert np.all(model[0].b.data == 2)
    with pytest.raises(TypeError, match="expected a mapping"):
        nn.load_torch_state_dict(model, [("0.bias", np.zeros(8))])
    with pytest.raises(TypeError, match="'0.bias' is a list"):
        nn.load_torch_state_dict(model, {**good, "0.bias": [0.0] * 8})
    with pytest.raises(TypeError, match="expected a Module"):
        nn.to_torch_state_dict({"W": np.zeros(2)})


class Scale(nn.Module):
    """A layer with a parameter and no PyTorch counterpart."""

    def __init__(self):
        super().__init__()
        self.s = mg.Parameter(np.ones(3, np.float32))

    def forward(self, x):
        return x * self.s


def test_a_layer_without_pytorch_counterpart_is_an_error():
    model = nn.Sequential(nn.Linear(2, 3), Scale())
    for fn in (nn.to_torch_state_dict, lambda m: nn.load_torch_state_dict(m, {})):
        with pytest.raises(
            ValueError,
            match=r"module '1' \(Scale\) has no PyTorch counterpart \(parameters \['1.s'\]\)",
        ):
            fn(model)


# --------------------------------------------------------------------------- against PyTorch


def _torch():
    # PyTorch is a local oracle only, never installed in CI: these tests skip without it.
    return pytest.importorskip("torch")


def test_pytorch_sequential_gives_the_same_outputs():
    torch = _torch()
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.Sigmoid())
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Sigmoid()
    )
    x = np.random.default_rng(0).random((6, 4), dtype=np.float32)
    nn.load_torch_state_dict(ours, theirs.state_dict())
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x).data, want, rtol=1e-5, atol=1e-6)
    # And back: minigrad's weights into PyTorch.
    fresh = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Sigmoid()
    )
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(ours).items()})
    with torch.no_grad():
        np.testing.assert_allclose(fresh(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-6)


def test_pytorch_equivalents_of_mlp_and_two_layer_net():
    torch = _torch()
    tnn = torch.nn
    x = np.random.default_rng(1).random((5, 6), dtype=np.float32)
    mlp = nn.MLP([6, 5, 3])
    theirs = tnn.Sequential(
        OrderedDict(fc1=tnn.Linear(6, 5), act1=tnn.ReLU(), fc2=tnn.Linear(5, 3))
    )
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(mlp).items()})
    with torch.no_grad():
        np.testing.assert_allclose(
            theirs(torch.from_numpy(x)).numpy(), mlp.predict(x).data, rtol=1e-5, atol=1e-6
        )

    class TorchTwoLayerNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.layers = tnn.Sequential(
                OrderedDict(Affine1=tnn.Linear(6, 5), Relu1=tnn.ReLU(), Affine2=tnn.Linear(5, 3))
            )

        def forward(self, x):
            return self.layers(x)

    theirs = TorchTwoLayerNet()
    net = nn.TwoLayerNet(6, 5, 3)
    nn.load_torch_state_dict(net, theirs.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(
            net.predict(x).data, theirs(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6
        )


def _torch_conv_seq(tnn):
    """PyTorch's equivalent of conv_seq()."""
    return tnn.Sequential(
        tnn.Conv2d(3, 4, 3, stride=2, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
        tnn.MaxPool2d(2, padding=1), tnn.Conv2d(4, 5, (2, 1), bias=False),
        tnn.AvgPool2d(2, padding=1), tnn.Flatten(), tnn.Linear(5 * 2 * 2, 6), tnn.BatchNorm1d(6),
    )  # fmt: skip


def _run_torch(torch, model, x):
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy()


def _into_torch(torch, model, sd):
    model.load_state_dict({k: torch.as_tensor(v) for k, v in sd.items()})
    return model


def test_pytorch_conv_and_batch_norm_layers_give_the_same_outputs():
    torch = _torch()
    torch.manual_seed(0)
    theirs = _torch_conv_seq(torch.nn)
    with torch.no_grad():
        for bn in (theirs[1], theirs[8]):
            bn.weight.uniform_(0.5, 2)
            bn.bias.normal_()
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
            bn.num_batches_tracked.fill_(5)
    x = np.random.default_rng(3).normal(size=(4, 3, 7, 5)).astype(np.float32)
    ours = conv_seq()
    nn.load_torch_state_dict(ours, theirs.state_dict())
    np.testing.assert_allclose(
        ours.eval()(x).data, _run_torch(torch, theirs, x), rtol=1e-5, atol=1e-5
    )
    # And back, from minigrad's own weights.
    mine = conv_seq()
    fresh = _into_torch(torch, _torch_conv_seq(torch.nn), nn.to_torch_state_dict(mine))
    np.testing.assert_allclose(
        _run_torch(torch, fresh, x), mine.eval()(x).data, rtol=1e-5, atol=1e-5
    )


def test_pytorch_equivalents_of_the_books_conv_nets():
    torch = _torch()
    tnn = torch.nn
    x = np.random.default_rng(4).random((3, 1, 28, 28), dtype=np.float32)

    class TorchSimpleConvNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.layers = tnn.Sequential(
                OrderedDict(
                    Conv1=tnn.Conv2d(1, 30, 5), Relu1=tnn.ReLU(), Pool1=tnn.MaxPool2d(2, 2),
                    Flatten=tnn.Flatten(), Affine1=tnn.Linear(4320, 100), Relu2=tnn.ReLU(),
                    Affine2=tnn.Linear(100, 10),
                )
            )  # fmt: skip

        def forward(self, x):
            return self.layers(x)

    np.random.seed(0)  # noqa: NPY002
    simple = nn.SimpleConvNet(weight_init_std=0.1)
    theirs = _into_torch(torch, TorchSimpleConvNet(), nn.to_torch_state_dict(simple))
    want = simple.predict(x).data
    np.testing.assert_allclose(_run_torch(torch, theirs, x), want, rtol=1e-5, atol=1e-6)

    class BooksDropoutInEvaluation(tnn.Module):
        # The book's dropout is not inverted: in evaluation it scales by 1 - 0.5.
        def forward(self, x):
            return x * 0.5

    class TorchDeepConvNet(tnn.Module):
        def __init__(self):
            super().__init__()
            convs = [(1, 16, 1), (16, 16, 1), (16, 32, 1), (32, 32, 2), (32, 64, 1), (64, 64, 1)]
            layers = []
            for i, (c_in, c_out, pad) in enumerate(convs):
                layers += [tnn.Conv2d(c_in, c_out, 3, padding=pad), tnn.ReLU()]
                if i % 2 == 1:
                    layers.append(tnn.MaxPool2d(2, 2))
            layers += [tnn.Linear(64 * 4 * 4, 50), tnn.ReLU(), BooksDropoutInEvaluation()]
            layers += [tnn.Linear(50, 10), BooksDropoutInEvaluation()]
            # Indexed as minigrad's list (its Affine flattens by itself).
            self.layers = tnn.ModuleList(layers)

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = layer(x.flatten(1) if i == 15 else x)
            return x

    np.random.seed(1)  # noqa: NPY002
    deep = nn.DeepConvNet()
    theirs = TorchDeepConvNet()
    nn.load_torch_state_dict(deep, theirs.state_dict())  # PyTorch's weights into minigrad
    want = _run_torch(torch, theirs, x)
    np.testing.assert_allclose(deep.predict(x, train_flg=False).data, want, rtol=1e-5, atol=1e-6)


def test_the_books_batch_normalization_is_batch_norm_1d_on_the_flattened_input():
    torch = _torch()
    rng = np.random.default_rng(5)
    gamma, beta = rng.uniform(0.5, 2, 12).astype(np.float32), rng.normal(size=12).astype(np.float32)
    ours = nn.BatchNormalization(gamma, beta)
    ours.running_mean[:] = rng.normal(size=12)
    ours.running_var[:] = rng.uniform(0.5, 2, 12)
    theirs = _into_torch(torch, torch.nn.BatchNorm1d(12, eps=1e-6), nn.to_torch_state_dict(ours))
    x = rng.normal(size=(5, 3, 2, 2)).astype(np.float32)
    want = _run_torch(torch, theirs, x.reshape(5, 12)).reshape(x.shape)
    np.testing.assert_allclose(ours.eval()(x).data, want, rtol=1e-5, atol=1e-6)
