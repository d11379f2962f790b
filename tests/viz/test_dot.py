"""to_dot on graphs without modules: node and edge counts, labels, roles, scalar folding,
gradients, second-order graphs, errors, and a 100,000-op chain without recursion."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Parameter, Variable
from minigrad.viz import to_dot

from .dotparse import Dot, parse


def dot_of(*outputs: Variable, **options: object) -> Dot:
    return parse(to_dot(*outputs, **options).source)


def vec(name: str | None = None, n: int = 3, dtype: type = np.float32) -> Variable:
    return Variable(np.arange(1, n + 1, dtype=dtype), name=name)


# --------------------------------------------------------------------------- structure


def test_chain_counts_nodes_and_edges():
    x = vec("x")
    y = x.tanh().exp()
    d = dot_of(y)
    assert len(d.of_kind("d")) == 3  # x, tanh(x), y
    assert d.texts("f") == ["exp", "tanh"]
    assert len(d.edges) == 4
    assert d.clusters == {}


def test_diamond_draws_each_node_once():
    x = vec("x")
    h = x.tanh()
    h.name = "h"
    y = h.exp() + h * 3.0
    d = dot_of(y)
    assert d.texts("f") == ["add", "exp", "mul 3.0", "tanh"]
    assert len(d.of_kind("d")) == 5  # x, h, exp(h), 3h, y
    h_node = d.by_text("h | (3,) float32")
    heads = sorted(head for tail, head in d.edges if tail == h_node.name)
    assert heads == sorted([d.by_text("exp").name, d.by_text("mul 3.0").name])
    assert len(d.edges) == 9


def test_same_input_twice_gives_one_edge_marked_x2():
    x = vec("x")
    d = dot_of(x * x * x)
    assert d.texts("f") == ["mul", "mul"]
    x_node = d.by_text("x | (3,) float32")
    from_x = [(t, h) for t, h in d.edges if t == x_node.name]
    assert len(from_x) == 2  # one edge to each mul
    marked = {e: a["label"] for e, a in d.edge_attrs.items()}
    assert list(marked.values()) == ["x2"] and next(iter(marked)) in from_x
    assert len(d.of_kind("d")) == 3
    assert len(d.edges) == 5


def test_node_ids_are_unique_per_object_and_role():
    x = vec("x")
    a = x.exp()
    y = a * a + a
    source = to_dot(y).source
    names = [line.split()[0] for line in source.splitlines() if "[label=<" in line]
    # x, exp(x), a*a, y and the ops exp, mul, add: each once, however many paths reach it.
    assert len(names) == len(set(names)) == 7
    for tail, head in parse(source).edges:
        assert tail in names and head in names


def test_several_outputs_share_one_graph():
    x = vec("x")
    h = x.exp()
    y1, y2 = h.sum(), h.max()
    d = dot_of(y1, y2)
    assert d.texts("f") == ["exp", "max", "sum"]
    assert len(d.of_kind("d")) == 4
    outputs = [n for n in d.of_kind("d") if n.attrs.get("peripheries") == "2"]
    assert len(outputs) == 2


def test_a_leaf_alone_is_one_node():
    d = dot_of(vec("x"))
    assert [n.text for n in d.nodes.values()] == ["x | (3,) float32"]
    assert d.edges == []


def test_the_graph_after_backward_is_still_drawn_whole():
    x = vec("x")
    y = (x.tanh() * 2.0).sum()
    before = to_dot(y).source
    y.backward()
    after = parse(to_dot(y).source)
    assert after.texts("f") == ["mul 2.0", "sum", "tanh"]
    assert len(after.edges) == len(parse(before).edges) == 6


def test_multi_output_function_shows_its_live_outputs():
    class Split(mg.Function):
        def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return x[:1], x[1:]

        def backward(self, g0: Variable, g1: Variable) -> Variable:
            return F.concatenate([g0, g1])

    x = vec("x")
    a, b = Split()(x)
    d = dot_of(a.exp())
    assert d.texts("f") == ["exp", "split"]
    # x, both outputs of split (b is alive), exp(a)
    assert sorted(n.text for n in d.of_kind("d")) == sorted(
        ["x | (3,) float32", "(1,) float32", "(2,) float32", "(1,) float32"]
    )
    del b
    d = dot_of(a.exp())
    assert len(d.of_kind("d")) == 3


# --------------------------------------------------------------------------- labels


def test_labels_show_name_shape_and_dtype():
    x = Variable(np.zeros((100, 784), np.float32), name="x")
    W = Parameter(np.zeros((784, 50), np.float64), name="W")
    y = x @ W.data.astype(np.float32)
    y.name = "y"
    d = dot_of(y)
    assert d.by_text("x | (100, 784) float32")
    assert d.by_text("(784, 50) float32")  # the array constant: shape and dtype, no name
    assert d.by_text("y | (100, 50) float32")
    d = dot_of(y, show_shapes=False)
    assert sorted(n.text for n in d.of_kind("d")) == ["float32", "x | float32", "y | float32"]
    d = dot_of(y, show_dtypes=False)
    assert d.by_text("x | (100, 784)")
    d = dot_of(y, show_shapes=False, show_dtypes=False)
    assert sorted(n.text for n in d.of_kind("d")) == ["", "x", "y"]


def test_a_zero_dim_value_says_scalar():
    x = Variable(np.float64(2.0), name="x")
    assert dot_of(x.exp()).by_text("x | scalar float64")


def test_parameter_shows_its_name():
    W = Parameter(np.ones((2, 3)), name="W1")
    d = dot_of((vec(n=2, dtype=np.float64) @ W).sum())
    assert d.by_text("W1 | (2, 3) float64").attrs["fillcolor"] == "#fde2b5"


@pytest.mark.parametrize(
    ("make", "label"),
    [
        (lambda x: x * 2.0, "mul 2.0"),
        (lambda x: 2.0 * x, "mul 2.0"),
        (lambda x: x + 1, "add 1"),
        (lambda x: x - 0.5, "sub 0.5"),
        (lambda x: 1.0 - x, "sub (1.0, ·)"),
        (lambda x: 1.0 / x, "div (1.0, ·)"),
        (lambda x: x**3, "pow 3"),
        (lambda x: 2.0**x, "pow (2.0, ·)"),
        (lambda x: x / np.float32(4.0), "div 4.0"),
        (lambda x: x * np.array(1.5, np.float32), "mul 1.5"),
        (lambda x: x * 0.1234567891, "mul 0.1235"),
        (lambda x: F.clip(x, 0.0, 1.0), "clip [0.0, 1.0]"),
        (lambda x: x.sum(axis=0), "sum axis=0"),
    ],
)
def test_scalar_constants_fold_into_the_op_label(make, label):
    d = dot_of(make(vec("x")))
    assert d.texts("f") == [label]
    assert len(d.of_kind("d")) == 2  # x and the result: no node for the scalar


def test_array_constant_gets_one_dashed_node_however_often_used():
    x = vec("x")
    c = np.full(3, 2.0, np.float32)
    y = (x * c) + c
    d = dot_of(y)
    (const,) = [n for n in d.of_kind("d") if n.attrs["style"] == "filled,dashed"]
    assert const.text == "(3,) float32"
    assert [t for t, h in d.edges].count(const.name) == 2
    assert len(d.of_kind("d")) == 4


def test_roles_are_styled_apart():
    W = Parameter(np.ones(3, np.float32), name="W")
    x = vec("x")
    t = np.ones(3, np.float32)
    h = x * W
    y = ((h - t) ** 2).sum()
    y.name = "loss"
    d = dot_of(y)
    style = {n.lines[0]: n.attrs for n in d.of_kind("d") if n.lines[0]}
    assert style["W"]["fillcolor"] == "#fde2b5"
    assert style["x"]["fillcolor"] == "#d5f0d0"
    assert style["loss"]["fillcolor"] == "#f9d0d0" and style["loss"]["peripheries"] == "2"
    consts = [n for n in d.of_kind("d") if n.attrs.get("style") == "filled,dashed"]
    assert len(consts) == 1 and consts[0].text == "(3,) float32"
    intermediates = [n for n in d.of_kind("d") if n.attrs["style"] == "solid"]
    assert len(intermediates) == 3  # h, h - t, (h - t)**2
    assert all(n.attrs["shape"] == "box" for n in d.of_kind("f"))


def test_names_are_html_escaped():
    x = vec("a<b & c>")
    d = dot_of(x.exp())
    assert d.by_text("a<b & c> | (3,) float32")
    assert "a&lt;b &amp; c&gt;" in to_dot(x.exp()).source


def test_show_values_prints_small_data_only():
    a = Variable(np.array(100.0), name="apple")
    big = Variable(np.ones(5), name="big")
    y = a * 2.0 + big.sum()
    d = dot_of(y, show_values=True)
    assert d.by_text("apple | scalar float64 | = 100.0")
    assert d.by_text("big | (5,) float64")
    assert d.by_text("scalar float64 | = 205.0")
    assert d.by_text("scalar float64 | = 5.0")


# --------------------------------------------------------------------------- gradients


def test_show_grads_gives_shape_and_norm_after_backward():
    W = Parameter(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
    x = Variable(np.array([1.0, -2.0]), name="x", requires_grad=False)
    b = Parameter(np.array(0.5), name="b")
    y = ((x @ W) * b).sum()
    assert "grad" not in to_dot(y, show_grads=True).source  # before backward: none
    y.backward()
    d = dot_of(y, show_grads=True)
    gW = np.outer(x.data, [0.5, 0.5])
    assert d.by_text(f"W | (2, 2) float64 | grad (2, 2) norm {np.linalg.norm(gW):.4g}")
    # one element: the value itself; x needs no grad and shows none
    assert (x.data @ W.data).sum() == -11.0
    assert d.by_text("b | scalar float64 | grad = -11.0")
    assert d.by_text("x | (2,) float64")
    assert "grad" not in to_dot(y).source


def test_book_apple_grads_show_their_values():
    apple = Variable(np.array(100.0), name="apple")
    num = Variable(np.array(2.0), name="apple_num")
    tax = Variable(np.array(1.1), name="tax")
    price = apple * num * tax
    price.backward()
    d = dot_of(price, show_grads=True)
    assert d.by_text("apple | scalar float64 | grad = 2.2")
    assert d.by_text("apple_num | scalar float64 | grad = 110.0")
    assert d.by_text("tax | scalar float64 | grad = 200.0")


# --------------------------------------------------------------------------- higher order


def test_second_order_graph_of_tanh_contains_the_backward_ops():
    x = Variable(np.array([0.5, -1.0]), name="x")
    y = x.tanh()
    y.name = "y"
    (gx,) = mg.grad(y.sum(), x, create_graph=True)
    gx.name = "dy/dx"
    d = dot_of(gx)
    # gy * (1 - y * y): the forward tanh feeds the recorded backward
    assert d.texts("f") == ["mul", "mul", "sub (1, ·)", "tanh"]
    assert d.by_text("dy/dx | (2,) float64").attrs["peripheries"] == "2"
    y_node = d.by_text("y | (2,) float64")
    (square,) = [h for t, h in d.edges if t == y_node.name]  # y * y
    assert d.edge_attrs[(y_node.name, square)] == {"label": "x2", "fontsize": "9"}


def test_second_order_graph_of_a_cube_has_no_forward_op():
    x = Variable(np.array([2.0]), name="x")
    (gx,) = mg.grad((x**3).sum(), x, create_graph=True)
    d = dot_of(gx)
    assert "pow 2" in d.texts("f") and "pow 3" not in d.texts("f")


# --------------------------------------------------------------------------- options, errors


def test_rankdir_title_and_legend():
    y = vec("x").exp()
    source = to_dot(y, rankdir="LR", title="my <graph>", legend=True).source
    assert "rankdir=LR" in source
    assert "my &lt;graph&gt;" in source and "labelloc=t" in source
    d = parse(source)
    # Only the entries the picture uses: an input, an op, an output.
    for role in ("input", "output", "op"):
        assert f">{role}</font>" in d.graph_attrs
    for role in ("parameter", "array constant", "intermediate", "module call", "module box"):
        assert f">{role}</font>" not in d.graph_attrs
    assert len(d.nodes) == 3  # the legend is in the graph's label, not a node
    plain = to_dot(y).source
    assert "parameter" not in plain and "labelloc" not in plain


def test_bad_arguments_are_named():
    x = vec("x")
    with pytest.raises(ValueError, match="at least one output"):
        to_dot()
    with pytest.raises(TypeError, match=r"outputs\[1\] is a ndarray"):
        to_dot(x, np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rankdir must be one of TB, LR, BT, RL, got 'XY'"):
        to_dot(x, rankdir="XY")
    with pytest.raises(ValueError, match="collapse_modules must be"):
        to_dot(x, collapse_modules=-1)


def test_a_100000_op_chain_converts_without_recursion():
    x = vec("x")
    y = x
    for _ in range(100_000):
        y = y.tanh()
    source = to_dot(y).source
    assert source.count("label=<tanh>") == 100_000
    assert source.count(" -> ") == 200_000
    assert len(re.findall(r"^\td\d+ \[label=", source, flags=re.M)) == 100_001
