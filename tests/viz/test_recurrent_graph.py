"""A recurrent layer's graph: one box per time step inside the layer's box (backprop through
time drawn), labelled t=0, t=1, ...; the backward explorer walks the steps from the last to
the first; truncated BPTT leaves only the steps after the cut."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.viz import explain_backward, to_dot

from .dotparse import parse


def three_steps(kind: str = "RNN", **kw):
    np.random.seed(0)  # noqa: NPY002
    m = getattr(nn, kind)(2, 3, **kw)
    x = mg.Variable(np.ones((3, 1, 2), np.float32), name="x", requires_grad=False)
    return m, m(x)


def boxes(d):
    return {c.text: c for c in d.clusters.values()}


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_one_box_per_time_step_inside_the_layer(kind):
    _, (y, _) = three_steps(kind)
    d = parse(to_dot(y.sum()).source)
    b = boxes(d)
    assert sorted(b) == sorted([kind, "t=0", "t=1", "t=2"])
    layer = b[kind].name
    assert b[kind].parent is None
    for t in range(3):
        assert b[f"t={t}"].parent == layer
    ops = {
        t: sorted(n.label.split("<")[0] for n in d.nodes.values() if n.cluster == b[f"t={t}"].name)
        for t in range(3)
    }
    # Each step boxes its own ops; the weights and the input projection sit in the layer's box.
    assert all(ops[t] for t in range(3))
    params = [n for n in d.nodes.values() if "weight_hh_l0" in n.label]
    assert len(params) == 1 and params[0].cluster == layer
    # Every step after the first reads the previous step's state: an edge out of box t-1 into
    # box t.
    where = {n.name: n.cluster for n in d.nodes.values()}
    for t in (1, 2):
        assert any(
            where.get(a) == b[f"t={t - 1}"].name and where.get(c) == b[f"t={t}"].name
            for a, c in d.edges
        ), t


def test_two_layers_label_their_steps_by_layer():
    _, (y, _) = three_steps("LSTM", num_layers=2)
    labels = sorted(boxes(parse(to_dot(y.sum()).source)))
    assert labels == ["LSTM", "l0 t=0", "l0 t=1", "l0 t=2", "l1 t=0", "l1 t=1", "l1 t=2"]


def test_explain_backward_walks_the_steps_from_last_to_first():
    _, (_, h) = three_steps("RNN")
    trace = explain_backward(h.sum())
    order = [s.module for s in trace.steps if s.module and "t=" in s.module]
    first = {m: order.index(m) for m in dict.fromkeys(order)}
    assert list(first) == ["RNN / t=2", "RNN / t=1", "RNN / t=0"]
    tanh_boxes = [s.box for s in trace.steps if s.op == "tanh"]
    assert len(tanh_boxes) == 3 and len(set(tanh_boxes)) == 3
    assert all(f"subgraph {b} " in trace.dot_source for b in tanh_boxes)


def test_truncated_history_draws_only_the_steps_after_the_cut():
    np.random.seed(0)  # noqa: NPY002
    cell = nn.RNNCell(2, 3)
    x = np.ones((1, 2), np.float32)

    def run(cut):
        h = cell(x)
        h = cell(x, h)
        if cut:
            h.unchain_backward()
        h = cell(x, h)
        return parse(to_dot(h.sum()).source)

    assert len(run(False).clusters) == 3
    # After the cut: the last call, and the op that made the state it read (whose own inputs
    # are now leaves).
    d = run(True)
    assert len(d.clusters) == 2
    kept = [n for n in d.nodes.values() if n.cluster == min(d.clusters)]
    assert [n.label.split("<")[0] for n in kept if "tanh" in n.label] == ["tanh"]
