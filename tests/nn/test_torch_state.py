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
