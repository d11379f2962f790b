"""Module boxes: one cluster per module call, nested as called, labelled with the module's
attribute name; parameters named by their module path; collapsed module calls. First with
duck-typed modules (tests/viz/fakes.py), then with the real minigrad.nn models."""

from __future__ import annotations

import numpy as np

from minigrad import Parameter, Variable, nn
from minigrad.nn.module import runs_as_call
from minigrad.viz import to_dot

from .dotparse import Dot, parse
from .fakes import Lin, Mod, Net, Stack


def dot_of(*outputs: Variable, **options: object) -> Dot:
    return parse(to_dot(*outputs, **options).source)


def batch(n: int = 4, features: int = 6) -> tuple[Variable, np.ndarray]:
    rng = np.random.default_rng(0)
    x = Variable(rng.random((n, features), dtype=np.float32), name="x", requires_grad=False)
    return x, rng.integers(0, 3, n)


def cluster_by_label(d: Dot, text: str) -> str:
    found = [c.name for c in d.clusters.values() if c.text == text]
    assert len(found) == 1, f"{len(found)} boxes labelled {text!r}"
    return found[0]


def test_one_nested_box_per_module_call():
    net = Net()
    x, t = batch()
    loss = net(x, t)
    d = dot_of(loss)
    assert sorted(c.text for c in d.clusters.values()) == ["Net", "act", "fc1", "fc2"]
    top = cluster_by_label(d, "Net")
    assert d.clusters[top].parent is None
    for name in ("fc1", "act", "fc2"):
        assert d.clusters[cluster_by_label(d, name)].parent == top
    # each op sits in the box of the call that ran it
    ops = {n.text: n.cluster for n in d.of_kind("f")}
    assert ops["relu"] == cluster_by_label(d, "act")
    assert ops["softmax_cross_entropy"] == top
    linears = sorted(n.cluster for n in d.of_kind("f") if n.text == "linear")
    assert linears == sorted([cluster_by_label(d, "fc1"), cluster_by_label(d, "fc2")])


def test_parameters_show_their_module_path_inside_their_box():
    net = Net()
    x, t = batch()
    d = dot_of(net(x, t))
    for path, shape, box in [
        ("fc1.W", "(6, 5)", "fc1"),
        ("fc1.b", "(5,)", "fc1"),
        ("fc2.W", "(5, 3)", "fc2"),
        ("fc2.b", "(3,)", "fc2"),
    ]:
        node = d.by_text(f"{path} | {shape} float32")
        assert node.cluster == cluster_by_label(d, box)
    # inputs and constants come from outside every module
    assert d.by_text("x | (4, 6) float32").cluster is None
    assert d.by_text("(4,) int64").cluster is None


def test_three_levels_nest_three_boxes_deep():
    class Wrapper(Mod):
        def __init__(self) -> None:
            self.net = Net()

        def forward(self, x, t):
            return self.net(x, t) * 2.0

    model = Wrapper()
    x, t = batch()
    d = dot_of(model(x, t))
    top = cluster_by_label(d, "Wrapper")
    assert d.clusters[cluster_by_label(d, "net")].parent == top
    assert d.clusters[cluster_by_label(d, "fc1")].parent == cluster_by_label(d, "net")
    assert d.by_text("mul 2.0").cluster == top
    # parameter paths start at the outermost module
    assert d.by_text("net.fc1.W | (6, 5) float32").cluster == cluster_by_label(d, "fc1")


def test_a_grandchild_called_directly_is_named_by_its_path():
    class Outer(Mod):
        def __init__(self) -> None:
            self.inner = Net()

        def forward(self, x):
            return self.inner.fc1(x)  # skips inner's own call

    d = dot_of(Outer()(batch()[0]))
    assert sorted(c.text for c in d.clusters.values()) == ["Outer", "inner.fc1"]
    assert d.clusters[cluster_by_label(d, "inner.fc1")].parent == cluster_by_label(d, "Outer")


def test_a_module_call_inside_its_own_call_is_one_box():
    class Scoped(Net):
        @runs_as_call  # like TwoLayerNet.loss, a method that records its call
        def loss(self, x, t):
            return self(x, t)

    x, t = batch()
    d = dot_of(Scoped().loss(x, t))
    assert sorted(c.text for c in d.clusters.values()) == ["Scoped", "act", "fc1", "fc2"]
    top = cluster_by_label(d, "Scoped")
    assert d.clusters[cluster_by_label(d, "fc1")].parent == top
    assert d.by_text("softmax_cross_entropy").cluster == top
    d = dot_of(Scoped().loss(x, t), collapse_modules=True)
    assert [m.lines[:2] for m in d.of_kind("m")] == [["Scoped", "4 ops"]]


def test_a_module_called_twice_gives_two_boxes():
    lin = Lin(3, 3)
    x = Variable(np.ones((2, 3), np.float32), name="x")
    y = lin(lin(x))
    d = dot_of(y)
    assert [c.text for c in d.clusters.values()] == ["Lin", "Lin"]
    assert [c.parent for c in d.clusters.values()] == [None, None]
    # the shared parameters are drawn once, outside both calls' boxes
    w = d.by_text("W | (3, 3) float32")
    assert w.cluster is None
    assert len([t for t, h in d.edges if t == w.name]) == 2


def test_modules_in_a_list_are_named_by_index():
    net = Stack()
    x = Variable(np.ones((2, 4), np.float32), name="x")
    d = dot_of(net(x))
    assert sorted(c.text for c in d.clusters.values()) == ["Stack", "blocks.0", "blocks.1"]
    assert d.by_text("blocks.1.W | (4, 4) float32").cluster == cluster_by_label(d, "blocks.1")
    # tanh runs in Stack's forward, outside the blocks
    assert {n.cluster for n in d.of_kind("f") if n.text == "tanh"} == {cluster_by_label(d, "Stack")}


def test_a_parameter_without_a_module_path_keeps_its_name():
    lin = Lin(3, 2)
    x = Variable(np.ones((1, 3), np.float32))
    d = dot_of(lin(x))
    # called at the top level: Lin owns W directly, so its own name is shown
    assert d.by_text("W | (3, 2) float32")


def test_cluster_modules_false_draws_no_box():
    net = Net()
    x, t = batch()
    d = dot_of(net(x, t), cluster_modules=False)
    assert d.clusters == {}
    assert all(n.cluster is None for n in d.nodes.values())
    assert d.by_text("fc2.W | (5, 3) float32")
    assert len(d.of_kind("f")) == 4


def test_collapse_modules_draws_each_outer_call_as_one_node():
    net = Net()
    x, t = batch()
    loss = net(x, t)
    loss.name = "loss"
    d = dot_of(loss, collapse_modules=True)
    (m,) = d.of_kind("m")
    assert m.lines == ["Net", "4 ops", "fc1.W, fc1.b, fc2.W, fc2.b"]
    assert d.of_kind("f") == []
    assert sorted(n.text for n in d.of_kind("d")) == [
        "(4,) int64",
        "loss | scalar float32",
        "x | (4, 6) float32",
    ]
    x_node, loss_node = d.by_text("x | (4, 6) float32"), d.by_text("loss | scalar float32")
    assert sorted(d.edges) == sorted(
        [(x_node.name, m.name), (d.by_text("(4,) int64").name, m.name), (m.name, loss_node.name)]
    )
    assert d.clusters == {}


def test_collapse_modules_at_depth_two_keeps_the_outer_box():
    net = Net()
    x, t = batch()
    d = dot_of(net(x, t), collapse_modules=2)
    assert [c.text for c in d.clusters.values()] == ["Net"]
    assert sorted(m.lines[0] for m in d.of_kind("m")) == ["act", "fc1", "fc2"]
    fc1 = next(m for m in d.of_kind("m") if m.lines[0] == "fc1")
    assert fc1.lines == ["fc1", "Lin, 1 op", "fc1.W, fc1.b"]
    assert d.texts("f") == ["softmax_cross_entropy"]
    # the data between the collapsed calls stays visible: fc1 -> h -> act -> ... -> fc2 -> logits
    assert len(d.of_kind("d")) == 6
    assert len(d.edges) == 9


def test_collapsed_call_takes_a_repeated_input_once():
    lin = Lin(3, 3)
    x = Variable(np.ones((2, 3), np.float32), name="x")

    class Twice(Lin):
        def forward(self, x):
            return super().forward(x) + super().forward(x)

    tw = Twice(3, 3)
    d = dot_of(tw(x), collapse_modules=True)
    (m,) = d.of_kind("m")
    assert m.lines[:2] == ["Twice", "3 ops"]
    assert d.edges.count((d.by_text("x | (2, 3) float32").name, m.name)) == 1
    del lin


def test_shared_parameter_across_boxes_sits_in_their_common_parent():
    class Tied(Stack):
        def __init__(self) -> None:
            super().__init__()
            self.blocks[1].W = self.blocks[0].W

    net = Tied()
    x = Variable(np.ones((2, 4), np.float32), name="x")
    d = dot_of(net(x))
    w = d.by_text("blocks.0.W | (4, 4) float32")
    assert w.cluster == cluster_by_label(d, "Tied")


def test_a_shared_parameter_of_an_unboxed_op_goes_to_the_top_level():
    lin = Lin(2, 2)
    x = Variable(np.ones((1, 2), np.float32), name="x")
    y = lin(x) * lin.W.sum()
    d = dot_of(y)
    assert d.by_text("W | (2, 2) float32").cluster is None
    assert d.by_text("b | (2,) float32").cluster == cluster_by_label(d, "Lin")


# --------------------------------------------------------------------------- minigrad.nn


def mnist_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((100, 784), dtype=np.float32), rng.integers(0, 10, 100)


def test_two_layer_net_called_as_a_module():
    net = nn.TwoLayerNet(784, 50, 10, dtype=np.float32)
    x, t = mnist_batch()
    loss = net(x, t)
    d = dot_of(loss)
    children = [name for name, _ in net.named_children()]
    assert sorted(c.text for c in d.clusters.values()) == sorted(["TwoLayerNet", *children])
    top = cluster_by_label(d, "TwoLayerNet")
    assert all(c.parent == top for c in d.clusters.values() if c.name != top)
    names = {n.lines[0]: n for n in d.of_kind("d") if n.attrs.get("fillcolor") == "#fde2b5"}
    assert sorted(names) == ["W1", "W2", "b1", "b2"]
    assert names["W1"].text == "W1 | (784, 50) float32"
    affine1 = next(name for name in children if name.endswith("Affine1"))
    assert names["W1"].cluster == cluster_by_label(d, affine1)
    assert d.by_text("(100, 784) float32").attrs["style"] == "filled,dashed"
    assert d.texts("f") == ["linear", "linear", "relu", "softmax_cross_entropy"]


def test_two_layer_net_loss_names_its_parameters():
    net = nn.TwoLayerNet(784, 50, 10)
    x, t = mnist_batch()
    d = dot_of(net.loss(x, t))
    names = sorted(n.lines[0] for n in d.of_kind("d") if n.attrs.get("fillcolor") == "#fde2b5")
    assert names == ["W1", "W2", "b1", "b2"]
    assert len(d.clusters) >= 4  # one per layer call at least


def test_nn_linear_parameters_get_dotted_paths():
    class Net2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.fc2 = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())

    net = Net2()
    d = dot_of(net(np.ones((5, 4), np.float32)))
    for path, shape in [("fc1.W", "(4, 3)"), ("fc1.b", "(3,)"), ("fc2.W", "(3, 2)")]:
        assert d.by_text(f"{path} | {shape} float32").cluster == cluster_by_label(
            d, path.split(".")[0]
        )
    assert isinstance(net.fc1.W, Parameter)


def test_every_box_has_its_label_in_the_same_place_and_the_legend_names_boxes():
    net = nn.MLP([6, 5, 3])
    x, t = batch()
    for rankdir in ("TB", "LR", "BT"):
        d = parse(to_dot(net(x, t), rankdir=rankdir, legend=True).source)
        assert len(d.clusters) == 5  # the model, fc1, act1, fc2, lastLayer
        for c in d.clusters.values():  # top left, whether the box holds the loss or not
            assert (c.attrs["labelloc"], c.attrs["labeljust"]) == ("t", "l"), c.text
        for role in ("parameter", "input", "array constant", "intermediate", "output"):
            assert f">{role}</font>" in d.graph_attrs
        assert ">module box</font>" in d.graph_attrs and ">module call</font>" not in d.graph_attrs
    d = parse(to_dot(net(x, t), collapse_modules=True, legend=True).source)
    assert ">module call</font>" in d.graph_attrs and ">op</font>" not in d.graph_attrs
