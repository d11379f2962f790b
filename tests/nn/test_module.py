"""Module: registration by attribute, the tree's names, modes, gradients, state dicts, saving."""

# ruff: noqa: NPY002 - the book seeds NumPy's global generator; these tests check that
# np.random.seed reproduces what it did.

from __future__ import annotations

import copy
import os
from collections import OrderedDict

import numpy as np
import pytest

import minigrad
from minigrad import Parameter, Variable
from minigrad import functions as F
from minigrad.nn import Linear, Module, ReLU, Sequential, TwoLayerNet


class Block(Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = Linear(3, 3, dtype=np.float64)
        self.act = ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Net(Module):
    """Own parameter, nested module, a list, a dict and a shared Parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = Parameter(np.ones(3))
        self.fc1 = Linear(4, 3, dtype=np.float64)
        self.blocks = [Block(), Block()]
        self.heads = OrderedDict(a=Linear(3, 2, dtype=np.float64), b=Linear(3, 2, dtype=np.float64))
        self.tied = self.fc1.W  # reachable twice: listed once, under its first name
        self.history = [1.0, 2.0]  # data, not modules
        self._cache = Linear(2, 2)  # private: not walked

    def forward(self, x):
        h = self.fc1(x) * self.scale
        for blk in self.blocks:
            h = blk(h)
        return self.heads["a"](h) + self.heads["b"](h)


def test_named_parameters_are_dotted_and_each_listed_once():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # A module's own Parameters come first, so the shared W is named by the root's attribute.
    assert names == [
        "scale",
        "tied",
        "fc1.b",
        "blocks.0.fc.W",
        "blocks.0.fc.b",
        "blocks.1.fc.W",
        "blocks.1.fc.b",
        "heads.a.W",
        "heads.a.b",
        "heads.b.W",
        "heads.b.b",
    ]
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert net.fc1.W is dict(net.named_parameters())["tied"]


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == [
        "fc1",
        "blocks.0",
        "blocks.1",
        "heads.a",
        "heads.b",
    ]
    assert list(net.children()) == [m for _, m in net.named_children()]
    assert [n for n, _ in net.named_modules()] == [
        "",
        "fc1",
        "blocks.0",
        "blocks.0.fc",
        "blocks.0.act",
        "blocks.1",
        "blocks.1.fc",
        "blocks.1.act",
        "heads.a",
        "heads.b",
    ]
    assert next(net.modules()) is net
    assert [n for n, _ in net.named_parameters(prefix="net")][:3] == [
        "net.scale",
        "net.tied",
        "net.fc1.b",
    ]


def test_a_shared_module_is_one_child():
    shared = Linear(2, 2)
    seq = Sequential(shared, ReLU(), shared)
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    assert [n for n, _ in seq.named_parameters()] == ["0.W", "0.b"]


def test_parameter_takes_its_attribute_name_unless_named():
    m = Module()
    m.w = Parameter(np.zeros(2))
    m.v = Parameter(np.zeros(2), name="kept")
    assert (m.w.name, m.v.name) == ("w", "kept")
    assert [n for n, _ in m.named_parameters()] == ["w", "v"]


def test_call_runs_forward_and_records_the_module_call():
    net = Net()
    x = np.ones((2, 4))
    y = net(x)
    # the add of the two heads ran in net's own forward; the head's linear inside heads.b
    assert y.creator.scope.module is net and y.creator.scope.parent is None
    head_op = y.creator.inputs[1].creator
    assert head_op.scope.module is net.heads["b"]
    assert head_op.scope.parent.module is net
    assert minigrad.core._local.mode.scope is None


def test_scope_is_restored_when_forward_raises():
    class Bad(Module):
        def forward(self, x):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        Bad()(1.0)
    assert minigrad.core._local.mode.scope is None


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module.forward is not implemented"):
        Module()(1)


def test_train_and_eval_reach_every_module():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_clears_every_parameter():
    net = Net()
    net(np.ones((2, 4))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_zero_grad_sees_modules_added_after_a_first_call():
    m = Module()
    m.layers = [Linear(2, 2)]
    m.zero_grad()  # caches the parameter list
    extra = Linear(2, 2)
    m.layers.append(extra)  # a container changed in place: no __setattr__
    fresh = Parameter(np.ones(2))
    m.bias = fresh
    late = OrderedDict()
    m.more = late
    m.zero_grad()
    late["x"] = Linear(2, 2)
    for p in [extra.W, extra.b, fresh, late["x"].W]:
        p.grad = Variable(np.ones(p.shape, dtype=p.dtype))
    m.zero_grad()
    assert extra.W.grad is None and fresh.grad is None and late["x"].W.grad is None
    m.layers[0] = Linear(2, 2)  # replaced in place, same length
    m.layers[0].W.grad = Variable(np.ones((2, 2), dtype=np.float32))
    m.zero_grad()
    assert m.layers[0].W.grad is None
    assert [n for n, _ in m.named_parameters()] == [
        "bias",
        "layers.0.W",
        "layers.0.b",
        "layers.1.W",
        "layers.1.b",
        "more.x.W",
        "more.x.b",
    ]
    del m.bias
    assert "bias" not in dict(m.named_parameters())


def test_state_dict_holds_copies_in_order():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == [n for n, _ in net.named_parameters()]
    sd["fc1.b"][...] = 7.0
    assert not np.any(net.fc1.b.data == 7.0)


def test_load_state_dict_copies_in_place():
    a, b = Net(), Net()
    arrays = [p.data for p in b.parameters()]
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (name, pa), (_, pb), arr in zip(a.named_parameters(), b.named_parameters(), arrays):
        assert pb.data is arr, name  # the same array objects, now holding a's values
        np.testing.assert_array_equal(pb.data, pa.data)


def test_load_state_dict_names_every_problem_and_loads_nothing():
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    sd["tied"] = np.zeros((5, 3))
    sd["heads.a.b"] = sd["heads.a.b"].astype(np.complex128)  # float32 would be cast
    del sd["scale"]
    sd["extra.W"] = np.zeros(1)
    sd["heads.a.W"] = np.full((3, 2), 9.0)
    with pytest.raises(ValueError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert "missing keys ['scale']" in msg
    assert "unexpected keys ['extra.W']" in msg
    assert "'tied' has shape (5, 3) in the state dict but (4, 3) in the model" in msg
    assert "cannot cast heads.a.b (complex128 into float64) (nothing was loaded)" in msg
    for name, arr in net.state_dict().items():
        np.testing.assert_array_equal(arr, before[name])  # heads.a.W was not loaded either


def test_load_state_dict_casts_another_float_dtype_as_pytorch_does():
    net = Net()  # float64
    sd = {k: v.astype(np.float32) + np.float32(0.25) for k, v in net.state_dict().items()}
    arrays = {name: p.data for name, p in net.named_parameters()}
    net.load_state_dict(sd)
    for name, p in net.named_parameters():
        assert p.data is arrays[name] and p.data.dtype == np.float64
        np.testing.assert_array_equal(p.data, sd[name].astype(np.float64))


def test_load_state_dict_non_strict_reports_the_skipped_keys():
    net = Net()
    sd = {"fc1.b": np.full(3, 2.0), "nope": np.zeros(2)}
    result = net.load_state_dict(sd, strict=False)
    assert result.unexpected_keys == ["nope"]
    assert "scale" in result.missing_keys and "fc1.b" not in result.missing_keys
    np.testing.assert_array_equal(net.fc1.b.data, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"'fc1.b' has shape \(2,\)"):
        net.load_state_dict({"fc1.b": np.zeros(2)}, strict=False)


def test_load_state_dict_bad_types():
    net = Net()
    with pytest.raises(TypeError, match="expected a mapping"):
        net.load_state_dict([("scale", np.ones(3))])
    sd = net.state_dict()
    sd["scale"] = [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="'scale' is a list, expected an ndarray"):
        net.load_state_dict(sd)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_is_bit_exact(tmp_path, dtype):
    np.random.seed(3)
    a = TwoLayerNet(6, 5, 3, weight_init_std=1.0, dtype=dtype)
    path = tmp_path / "w.npz"
    assert a.save(path) == str(path)
    with np.load(path, allow_pickle=False) as z:
        assert z.files == ["W1", "b1", "W2", "b2"]
        assert z["W1"].dtype == dtype
    b = TwoLayerNet(6, 5, 3, dtype=dtype)
    b.load(path)
    for k in a.params:
        assert a.params[k].tobytes() == b.params[k].tobytes()
    assert b.params["W1"] is b.W1.data  # still shared after loading


def test_save_writes_exactly_the_given_name(tmp_path):
    net = Linear(2, 2)
    net.save(tmp_path / "weights")
    assert os.listdir(tmp_path) == ["weights"]
    Linear(2, 2).load(tmp_path / "weights")


def test_save_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="save: the folder .*nowhere' does not exist"):
        Linear(2, 2).save(tmp_path / "nowhere" / "w.npz")


def test_deepcopy_gives_an_independent_model():
    net = TwoLayerNet(4, 3, 2)
    net.zero_grad()  # fills the parameter cache, which is copied too
    twin = copy.deepcopy(net)
    assert twin.params["W1"] is twin.W1.data and twin.layers["Affine1"].W is twin.W1
    assert not any(p is q for p, q in zip(twin.parameters(), net.parameters()))
    net.loss(np.ones((2, 4), np.float32), np.array([0, 1])).backward()
    twin.zero_grad()
    assert all(p.grad is not None for p in net.parameters())


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz' is not a minigrad archive .*: it holds pickled Python objects, which minigrad never loads") as e:  # fmt: skip
        Linear(2, 2).load(path)
    assert "allow_pickle" not in str(e.value)  # NumPy's advice to load it unsafely


def _broken(*args, **kwargs):
    raise OSError("disk full")


@pytest.mark.parametrize("target", ["os.replace", "numpy.lib.format.write_array"])
def test_failed_save_keeps_the_earlier_file_and_leaves_no_temp_file(tmp_path, monkeypatch, target):
    net = Linear(3, 2)
    path = tmp_path / "model.npz"
    net.save(path)
    good = path.read_bytes()
    net.W.data[...] = 5.0
    monkeypatch.setattr(target, _broken)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]


def test_repr_is_nested():
    seq = Sequential(Linear(2, 3), ReLU(), Sequential(Linear(3, 1)))
    assert repr(seq) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True, dtype=float32)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=1, bias=True, dtype=float32)\n"
        "  )\n"
        ")"
    )


def test_draw_graph_runs_one_forward_under_a_fresh_graph(monkeypatch, tmp_path):
    import minigrad.viz

    seen = {}

    def fake_draw_graph(*outputs, path="graph.png", **options):
        seen.update(outputs=outputs, path=path, options=options)
        return path

    monkeypatch.setattr(minigrad.viz, "draw_graph", fake_draw_graph)
    net = TwoLayerNet(4, 3, 2)
    x, t = np.ones((2, 4), np.float32), np.array([0, 1])
    with minigrad.no_grad():
        out = net.draw_graph(x, tmp_path / "g.png", t=t, show_grads=True)
    assert out == str(tmp_path / "g.png")
    (loss,) = seen["outputs"]
    assert seen["options"] == {"show_grads": True}
    assert loss.creator is not None and loss.creator.scope.parent.module is net
    np.testing.assert_allclose(loss.data, net.loss(x, t).data)
    net.draw_graph(x, path=tmp_path / "p.png")
    assert seen["outputs"][0].shape == (2, 2)  # without t: the predictions


def test_module_without_super_init_still_works():
    class NoInit(Module):
        def forward(self, x):
            return F.relu(x)

    m = NoInit()
    assert m.training is True
    m.eval()
    assert m.training is False
    np.testing.assert_array_equal(m(np.array([-1.0, 2.0])).data, [0.0, 2.0])
