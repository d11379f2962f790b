"""explain_backward: the steps are the engine's, in its order, with its numbers bit for bit;
the sums, the leaves, the numerical check; the same errors as backward(); the text."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import Variable
from minigrad._engine import run_backward
from minigrad.viz import explain_backward
from minigrad.viz.explain_steps import KEEP_MAX, VALUES_MAX, info

from .explain_graphs import BUILDERS, apple, custom, diamond, net, second_order, square, triple


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_steps_run_in_the_engines_order(name):
    y, _ = BUILDERS[name]()
    trace = explain_backward(y, retain_graph=True)
    seen = []
    run_backward([y], [None], True, False, observer=lambda f, gys, gxs: seen.append(f))
    assert [s.function for s in trace.steps] == seen
    assert [s.number for s in trace.steps] == list(range(1, len(seen) + 1))
    assert [s.op for s in trace.steps] == [f.name for f in seen]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_leaves_get_what_backward_gives_bit_for_bit(name):
    y1, xs1 = BUILDERS[name]()
    y1.backward()
    y2, xs2 = BUILDERS[name]()
    trace = explain_backward(y2)
    for key, x2 in xs2.items():
        x1 = xs1[key]
        assert same_bits(x1.grad.data, x2.grad.data), key
        leaf = next(lf for lf in trace.leaves if lf.variable is x2)
        assert same_bits(leaf.grad.array, x2.grad.data), key
        # The running gradient of the last step that touched the leaf is the final one.
        last = trace.steps[leaf.last_step - 1].leaf_grads[leaf.name]
        assert same_bits(last.array, x2.grad.data), key
    # The graph was released, as by backward().
    assert all(s.function.released for s in trace.steps)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_gradient_shown_is_the_engines(name):
    # retain_grad keeps each intermediate's finished gradient: the gradient that arrives at a
    # step is that one, and what a step sends adds up to it.
    y, _ = BUILDERS[name]()
    inner = []
    for s in explain_backward(y, retain_graph=True).steps:
        for ref in s.function.outputs:
            v = ref()
            if v is not None and v is not y:
                v.retain_grad()
                inner.append(v)
    trace = explain_backward(y)
    received = {}
    for s in trace.steps:
        for r, ref in zip(s.outputs, s.function.outputs):
            if r.grad is not None and ref() is not None:
                received[id(ref())] = r.grad
    compared = 0
    for v in inner:
        if v.grad is not None:
            assert same_bits(received[id(v)].array, v.grad.data), v
            compared += 1
    assert compared == len(inner) or name == "custom"  # an unused output gets no .grad
    assert same_bits(trace.steps[0].outputs[0].grad.array, np.ones_like(y.data))


def test_a_step_shows_the_op_its_rule_and_the_gradients():
    y, xs = apple()
    trace = explain_backward(y)
    first = trace.steps[0]
    assert (first.op, first.label, first.module, first.box) == ("mul", "mul", None, None)
    assert first.rule.startswith("gx0 = gy * x1, gx1 = gy * x0")
    assert [(r.name, r.grad.values) for r in first.outputs] == [("price", "1.0")]
    assert [(x.name, x.grad.values) for x in first.inputs] == [
        ("all_price", "1.1"),
        ("tax", "650.0"),
    ]
    assert first.node == f"f{id(y.creator)}"
    assert first.inputs[1].node == f"d{id(xs['tax'])}" and first.inputs[1].leaf
    assert [lf.name for lf in trace.leaves] == ["orange", "orange_num", "apple", "apple_num", "tax"]
    # The leaves fill in: tax after step 1, all five after step 4.
    assert list(trace.steps[0].leaf_grads) == ["tax"]
    assert trace.steps[-1].leaf_grads["apple"].values == "2.2"
    assert trace.steps[-1].leaf_grads["apple_num"].values == "110.0"


def test_a_diamond_shows_the_sum_the_engine_forms():
    y, xs = diamond()
    trace = explain_backward(y)
    assert [s.label for s in trace.steps] == ["sum", "add", "mul 3.0", "exp", "tanh"]
    mul, exp = trace.steps[2], trace.steps[3]
    assert mul.inputs[0].sum is None and mul.inputs[1].name == "constant 3.0"
    acc = exp.inputs[0].sum
    assert acc is not None and acc.name == "h"
    assert same_bits(acc.previous.array, np.full(3, 3.0))
    assert same_bits(acc.total.array, acc.previous.array + acc.added.array)
    assert same_bits(trace.steps[4].outputs[0].grad.array, acc.total.array)
    assert acc.text == f"h.grad = [3.0, 3.0, 3.0] + {acc.added.values} = {acc.total.values}"


def test_x_times_x_sums_its_two_contributions():
    y, xs = square()
    trace = explain_backward(y)
    (step,) = trace.steps
    a, b = step.inputs
    assert (a.name, a.grad.values, a.sum) == ("x", "3.0", None)
    assert b.sum is not None and b.sum.text == "x.grad = 3.0 + 3.0 = 6.0"
    assert xs["x"].grad.item() == 6.0 and trace.leaves[0].grad.values == "6.0"


def test_a_third_contribution_goes_into_the_sum():
    y, xs = triple()
    trace = explain_backward(y)
    texts = [x.sum.text for s in trace.steps for x in s.inputs if x.sum is not None]
    assert texts == ["x.grad = [1.0, 1.0] + [1.0, 1.0] = [2.0, 2.0]",
                     "x.grad = [2.0, 2.0] + [1.0, 1.0] = [3.0, 3.0]"]  # fmt: skip
    # Each sum stays as it was when it was formed (the engine adds in place afterwards).
    sums = [x.sum for s in trace.steps for x in s.inputs if x.sum is not None]
    assert sums[0].total.array.tolist() == [2.0, 2.0]
    assert same_bits(xs["x"].grad.data, np.full(2, 3.0, np.float32))


def test_modules_name_the_box_each_step_sits_in():
    y, params = net()
    trace = explain_backward(y)
    assert [s.op for s in trace.steps] == ["softmax_cross_entropy", "linear", "relu", "linear"]
    assert trace.steps[1].module == "TwoLayerNet / layers.Affine2"
    assert trace.steps[0].module == "TwoLayerNet / lastLayer"
    boxes = [s.box for s in trace.steps]
    assert all(b is not None and b.startswith("cluster_") for b in boxes)
    assert len(set(boxes)) == 4
    for s in trace.steps:
        assert f"subgraph {s.box} {{" in trace.dot_source
        assert f"\t{s.node} [label=" in trace.dot_source
    assert trace.steps[1].rule == "gx = gy @ W.T, gW = x.T @ gy, gb = sum of gy over the batch"
    assert [lf.name for lf in trace.leaves] == ["W1", "b1", "W2", "b2"]
    x_in = trace.steps[3].inputs[0]
    assert (x_in.name, x_in.needs_grad, x_in.grad) == ("x", False, None)


def test_a_user_function_with_and_without_a_rule():
    y, _ = custom()
    trace = explain_backward(y)
    by_op = {s.op: s for s in trace.steps}
    assert by_op["twice"].rule == "gx = 2 * gy0 + 2 * x * gy1"
    assert by_op["cube"].rule is None
    assert len(by_op["twice"].outputs) == 2
    assert "(none given for this Function)" in str(trace)


def test_check_agrees_with_the_numerical_estimate_in_float64():
    y, xs = net(np.float64)
    trace = explain_backward(y, check=True)
    assert trace.checked
    for leaf in trace.leaves:
        assert leaf.agrees, leaf.name
        assert leaf.checked == leaf.grad.size
        np.testing.assert_allclose(leaf.numeric.array, leaf.grad.array, rtol=1e-6, atol=1e-9)
        assert leaf.max_abs_diff < 1e-8
    # A float32 graph is checked against a float64 replay.
    y32, _ = net(np.float32)
    trace32 = explain_backward(y32, check=True)
    assert all(lf.agrees and lf.numeric.dtype == "float64" for lf in trace32.leaves)


def test_check_of_a_second_order_graph_and_a_large_leaf():
    z, xs = second_order()
    trace = explain_backward(z, check=True)
    assert all(lf.agrees for lf in trace.leaves)
    x = Variable(np.linspace(-1, 1, 1500), name="x")
    trace = explain_backward((x * x).sum(), check=True)
    (leaf,) = trace.leaves
    assert leaf.checked == 1000 and leaf.agrees
    assert np.isnan(leaf.numeric.array).sum() == 500


def test_a_wrong_analytic_gradient_is_caught_by_the_check():
    class Bad(mg.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            (x,) = self.saved_inputs
            return 3 * x * gy  # should be 2 * x * gy

    x = Variable(np.array([1.0, 2.0]), name="x")
    trace = explain_backward(Bad()(x).sum(), check=True)
    assert trace.leaves[0].agrees is False
    assert "DIFFERS" in str(trace)


def test_a_second_order_graph_is_explained_like_any_graph():
    z1, xs1 = second_order()
    z1.backward()
    z2, xs2 = second_order()
    trace = explain_backward(z2)
    assert same_bits(xs1["x"].grad.data, xs2["x"].grad.data)
    for s in trace.steps:
        assert f"\t{s.node} [label=" in trace.dot_source


def test_a_leaf_that_held_a_gradient_accumulates_as_with_backward():
    y1, xs1 = apple()
    y2, xs2 = apple()
    xs1["tax"].grad = Variable(np.array(1.0))
    xs2["tax"].grad = Variable(np.array(1.0))
    y1.backward()
    trace = explain_backward(y2)
    tax = next(lf for lf in trace.leaves if lf.name == "tax")
    assert tax.had_grad and tax.grad.values == "651.0"
    assert same_bits(xs1["tax"].grad.data, xs2["tax"].grad.data)


def test_non_scalar_output_with_grad():
    x = Variable(np.array([1.0, 2.0]), name="x")
    trace = explain_backward(x * 3.0, grad=np.array([1.0, -1.0]), check=True)
    assert trace.seed.values == "[1.0, -1.0]"
    assert trace.leaves[0].grad.values == "[3.0, -3.0]" and trace.leaves[0].agrees


def errors_of(fn):
    try:
        fn()
    except Exception as e:  # the error itself is what is compared
        return type(e), str(e)
    raise AssertionError("no error")


@pytest.mark.parametrize(
    "make, grad",
    [
        (lambda: Variable(np.array([1.0]), requires_grad=False) * 2.0, None),
        (lambda: Variable(np.ones((2, 3))) * 2.0, None),
        (lambda: Variable(np.ones((2, 3))) * 2.0, np.ones(3)),
    ],
    ids=["needs-no-grad", "non-scalar-without-grad", "grad-of-wrong-shape"],
)
def test_bad_input_gives_the_errors_of_backward(make, grad):
    expected = errors_of(lambda: make().backward(grad))
    assert errors_of(lambda: explain_backward(make(), grad)) == expected
    assert errors_of(lambda: explain_backward(make(), grad, check=True)) == expected


def test_a_released_graph_gives_the_error_of_backward():
    y, _ = diamond()
    y.backward()
    expected = errors_of(lambda: y.backward())
    assert expected[0] is RuntimeError and "retain_graph=True" in expected[1]
    assert errors_of(lambda: explain_backward(y)) == expected
    y, xs = diamond()
    explain_backward(y)  # releases, as backward() does
    assert errors_of(lambda: explain_backward(y)) == expected
    assert xs["x"].grad is not None


def test_other_bad_arguments():
    with pytest.raises(TypeError, match="explain_backward: output is a ndarray, not a Variable"):
        explain_backward(np.ones(2))
    y, _ = square()
    with pytest.raises(ValueError, match="rankdir must be TB, LR, BT or RL, got 'XY'"):
        explain_backward(y, rankdir="XY")


def test_a_leaf_output_has_no_steps():
    x = Variable(np.array(2.0), name="x")
    trace = explain_backward(x)
    assert trace.steps == [] and x.grad.item() == 1.0
    assert [lf.name for lf in trace.leaves] == ["x"]
    assert "0 steps" in str(trace)


def test_print_gives_a_readable_text():
    y, _ = diamond()
    text = str(explain_backward(y, check=True))
    lines = text.splitlines()
    assert lines[0] == (
        "backward of y (scalar float64): 5 steps in the engine's order, starting from the "
        "gradient 1.0"
    )
    assert "step 4/5  exp" in lines
    assert "  rule:          gx = gy * y" in lines
    assert any(line.strip().startswith("h.grad = [3.0, 3.0, 3.0] + [") for line in lines)
    assert "  no grad:           constant 3.0" in lines
    assert lines[-1].strip().endswith(": agrees")
    y, _ = net()
    assert "step 2/4  linear  [in TwoLayerNet / layers.Affine2]" in str(explain_backward(y))
    assert repr(explain_backward(square()[0])) == "<BackwardTrace of y: 1 steps, 1 leaves>"


def test_array_info_shows_small_arrays_and_summarises_large_ones():
    small = info(np.array([[1.0, -2.5], [0.125, 3.0]], dtype=np.float32))
    assert small.values == "[[1.0, -2.5],\n [0.125, 3.0]]"
    assert small.text == small.values and small.short == "norm 4.03" and small.tag == "|g| = 4.03"
    assert info(np.array([1.1, 2.2], np.float32)).tag == "g = [1.1, 2.2]"
    big = info(np.arange(VALUES_MAX + 1, dtype=np.float64))
    assert big.values is None
    assert big.text == f"({VALUES_MAX + 1},) float64, norm {big.norm:.4g}, min 0, max {VALUES_MAX}"
    assert big.array is not None
    huge = info(np.zeros(KEEP_MAX + 1, np.float32))
    assert huge.array is None and huge.norm == 0.0
    assert info(np.array(110.00000000000001)).values == "110.0"
    a = np.ones(3)
    kept = info(a)
    a[0] = 5.0  # the trace keeps a copy
    assert kept.array.tolist() == [1.0, 1.0, 1.0]
