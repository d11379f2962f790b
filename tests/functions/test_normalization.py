"""batch_norm (PyTorch's convention) and dropout: values, gradients of first and second order,
running statistics, training vs evaluation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Variable
from minigrad import functions as F

from .check import check_op, few_examples


def np_bn(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


shapes = st.one_of(
    st.tuples(st.integers(2, 5), st.integers(1, 4)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(2, 3)),
)


@few_examples
@given(shapes)
def test_batch_norm_training(shape):
    c = shape[1]
    check_op(
        lambda x, g, b: F.batch_norm(x, g, b, None, None, training=True),
        np_bn,
        shape,
        (c,),
        (c,),
        gradgrad=True,
    )


@few_examples
@given(shapes)
def test_batch_norm_evaluation(shape):
    c = shape[1]
    rng = np.random.default_rng(1)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    view = (1, c) + (1,) * (len(shape) - 2)

    def ref(x, g, b):
        return (x - rm.reshape(view)) / np.sqrt(rv.reshape(view) + 1e-5) * g.reshape(
            view
        ) + b.reshape(view)

    check_op(
        lambda x, g, b: F.batch_norm(x, g, b, rm.astype(x.dtype), rv.astype(x.dtype), False),
        ref,
        shape,
        (c,),
        (c,),
        gradgrad=True,
    )


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 5)])
def test_running_statistics_follow_pytorch(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    rm, rv = np.zeros(3), np.ones(3)
    F.batch_norm(x, np.ones(3), np.zeros(3), rm, rv, True, momentum=0.25)
    axes = (0, *range(2, x.ndim))
    np.testing.assert_allclose(rm, 0.25 * x.mean(axis=axes))
    np.testing.assert_allclose(rv, 0.75 + 0.25 * x.var(axis=axes, ddof=1))
    # The book's variant: the biased variance.
    rv2 = np.ones(3)
    F.batch_norm(x, np.ones(3), np.zeros(3), np.zeros(3), rv2, True, 0.25, unbiased=False)
    np.testing.assert_allclose(rv2, 0.75 + 0.25 * x.var(axis=axes))
    # Evaluation leaves them alone.
    before = rm.copy()
    F.batch_norm(x, np.ones(3), np.zeros(3), rm, rv, False)
    np.testing.assert_array_equal(rm, before)


def test_batch_norm_keeps_float32_and_updates_in_place():
    x = np.random.default_rng(0).standard_normal((8, 2, 3, 3)).astype(np.float32)
    g = mg.Parameter(np.ones(2, np.float32))
    rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    ids = id(rm), id(rv)
    y = F.batch_norm(x, g, np.zeros(2, np.float32), rm, rv, True)
    assert y.dtype == np.float32 and rm.dtype == np.float32
    assert (id(rm), id(rv)) == ids and rm.any()
    y.sum().backward()
    assert g.grad.dtype == np.float32


def test_evaluation_is_one_op_on_the_buffers_themselves():
    x = mg.Variable(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    g, b = mg.Parameter(np.full(3, 2, np.float32)), mg.Parameter(np.ones(3, np.float32))
    rm, rv = np.full(3, 0.5, np.float32), np.full(3, 4.0, np.float32)
    y = F.batch_norm(x, g, b, rm, rv, False, momentum=0.2, eps=0.0)
    f = y.creator
    assert f.name == "batch_norm_eval" and f.label() == "batch_norm eval eps=0"
    # The statistics reach the op as they are (an ONNX export names them after the buffers).
    assert f.inputs[3] is rm and f.inputs[4] is rv and f.momentum == 0.2
    np.testing.assert_allclose(y.data, (x.data - 0.5) / 2 * 2 + 1, atol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(g.grad.data, ((x.data - 0.5) / 2).sum(axis=0), atol=1e-6)
    np.testing.assert_array_equal(x.grad.data, np.ones((4, 3)))


def test_batch_norm_errors_leave_the_statistics_alone():
    rm, rv = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r"^batch_norm: gamma has shape \(4,\) but x has 3 chan"):
        F.batch_norm(np.ones((2, 3)), np.ones(4), np.zeros(3), rm, rv, True)
    with pytest.raises(ValueError, match=r"^batch_norm: running_var has shape \(2,\) but x has 3"):
        F.batch_norm(np.ones((2, 3)), np.ones(3), np.zeros(3), rm, np.ones(2), True)
    with pytest.raises(ValueError, match=r"more than one value, got input shape \(1, 3\) \(a b"):
        F.batch_norm(np.ones((1, 3)), np.ones(3), np.zeros(3), rm, rv, True)
    with pytest.raises(ValueError, match=r"^batch_norm: expected an input of shape \(N, C\) or"):
        F.batch_norm(np.ones(3), np.ones(3), np.zeros(3), rm, rv, True)
    with pytest.raises(ValueError, match=r"^batch_norm: evaluation mode needs running_mean"):
        F.batch_norm(np.ones((2, 3)), np.ones(3), np.zeros(3), None, None, False)
    with pytest.raises(ValueError, match=r"^batch_norm: give both running_mean and running_var"):
        F.batch_norm(np.ones((2, 3)), np.ones(3), np.zeros(3), rm, None, True)
    with pytest.raises(TypeError, match=r"^batch_norm: expected floating-point data, got int64"):
        F.batch_norm(np.ones((2, 3), np.int64), np.ones(3), np.zeros(3), rm, rv, True)
    np.testing.assert_array_equal(rm, np.zeros(3))
    np.testing.assert_array_equal(rv, np.ones(3))


# ------------------------------------------------------------------ dropout


def test_dropout_lives_here_and_is_inverted():
    from minigrad.functions import normalization

    assert F.dropout is normalization.dropout
    x = np.ones((200, 50))
    y = F.dropout(Variable(x), 0.2, rng=np.random.default_rng(0)).data
    assert set(np.unique(y)) == {0.0, 1.25}
    assert abs(y.mean() - 1) < 0.02
    v = Variable(x)
    assert F.dropout(v, 0.2, training=False) is v
    check_op(
        lambda v: F.dropout(v, 0.5, rng=np.random.default_rng(3)),
        lambda a: a * (np.random.default_rng(3).random(a.shape) >= 0.5) * 2,
        (4, 5),
        gradgrad=True,
    )


# --------------------------------------------------------------------------- layer norm


def np_ln(x, w, b, k, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


ln_cases = st.sampled_from(
    [((4,), 1), ((3, 5), 1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((3, 4), 2), ((1, 2, 1, 3), 1)]
)


@few_examples
@given(ln_cases)
def test_layer_norm(case):
    shape, k = case
    ns = shape[len(shape) - k :]
    check_op(
        lambda x, w, b: F.layer_norm(x, ns, w, b),
        lambda x, w, b: np_ln(x, w, b, k),
        shape,
        ns,
        ns,
        gradgrad=True,
    )


def test_layer_norm_without_weight_or_bias():
    x = np.random.default_rng(0).standard_normal((3, 6))
    check_op(
        lambda x: F.layer_norm(x, 6, eps=1e-3), lambda x: np_ln(x, 1, 0, 1, 1e-3), x, gradgrad=True
    )
    w = np.linspace(0.5, 2, 6)
    check_op(lambda x, w: F.layer_norm(x, (6,), w), lambda x, w: np_ln(x, w, 0, 1), x, w)
    y = F.layer_norm(mg.Variable(x), 6)
    assert y.creator.label() == "layer_norm eps=1e-05"
    # Each row has mean 0 and (biased) variance 1 - eps / (var + eps).
    np.testing.assert_allclose(y.data.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.data.var(axis=1), x.var(axis=1) / (x.var(axis=1) + 1e-5))


def test_layer_norm_gradients_by_hand():
    # One sample of two values a < b: xhat = (-1, 1) * d / sqrt(d**2 + eps) with d = (b - a)/2,
    # so y0 + y1 = 0 and the gradient of y1 - y0 is 2 * d(d / sqrt(d**2 + eps))/dd * (-1/2, 1/2).
    x = mg.Variable(np.array([1.0, 4.0]))
    y = F.layer_norm(x, 2, eps=0.25)
    d = 1.5
    np.testing.assert_allclose(y.data, [-d / np.sqrt(d * d + 0.25), d / np.sqrt(d * d + 0.25)])
    (y[1] - y[0]).backward()
    slope = 0.25 / (d * d + 0.25) ** 1.5
    np.testing.assert_allclose(x.grad.data, [-slope, slope])


def test_layer_norm_backward_kept_and_released_agree():
    # The backward on arrays writes into forward's saved xhat when the op is released after
    # it; with retain_graph=True it must not, so a second pass gives the same gradients.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    w, b, gy = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal((3, 4, 5))
    vs = [mg.Variable(a) for a in (x, w.astype(np.float32), b.astype(np.float32))]
    y = F.layer_norm(vs[0], 5, vs[1], vs[2])
    y.backward(gy.astype(np.float32), retain_graph=True)
    first = [v.grad.data.copy() for v in vs]
    for v in vs:
        v.grad = None
    y.backward(gy.astype(np.float32))
    for v, g in zip(vs, first):
        assert v.grad.dtype == np.float32
        np.testing.assert_array_equal(v.grad.data, g)
    # And both equal the formula in float64.
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    g = gy * w
    gx = (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)) / np.sqrt(
        x.var(-1, keepdims=True) + 1e-5
    )
    np.testing.assert_allclose(first[0], gx, atol=2e-5)
    np.testing.assert_allclose(first[1], (gy * xhat).sum(axis=(0, 1)), atol=2e-5)
    np.testing.assert_allclose(first[2], gy.sum(axis=(0, 1)), atol=2e-5)


def test_layer_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = (
        rng.standard_normal((2, 3, 4, 5)),
        rng.standard_normal((4, 5)),
        rng.standard_normal((4, 5)),
    )
    gy = rng.standard_normal(x.shape)
    vs = [mg.Variable(a) for a in (x, w, b)]
    y = F.layer_norm(*vs[:1], (4, 5), *vs[1:], eps=1e-3)
    y.backward(gy)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = torch.nn.functional.layer_norm(ts[0], (4, 5), ts[1], ts[2], eps=1e-3)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6)
    for v, t in zip(vs, ts):
        np.testing.assert_allclose(v.grad.data, t.grad.numpy(), atol=1e-6)


def test_layer_norm_errors():
    with pytest.raises(
        ValueError,
        match=r"^layer_norm: normalized_shape \(4,\) does not match the trailing dimensions of "
        r"the input of shape \(2, 3\)",
    ):
        F.layer_norm(np.ones((2, 3)), 4)
    with pytest.raises(
        ValueError, match=r"normalized_shape \(2, 3, 4\) does not match .* \(3, 4\)"
    ):
        F.layer_norm(np.ones((3, 4)), (2, 3, 4))
    with pytest.raises(ValueError, match=r"^layer_norm: weight has shape \(4,\), expected norm"):
        F.layer_norm(np.ones((2, 3)), 3, np.ones(4))
    with pytest.raises(ValueError, match=r"^layer_norm: bias has shape \(3, 1\), expected"):
        F.layer_norm(np.ones((2, 3)), 3, None, np.ones((3, 1)))
    with pytest.raises(TypeError, match=r"^layer_norm: expected floating-point data, got int64"):
        F.layer_norm(np.ones((2, 3), np.int64), 3)
    with pytest.raises(TypeError, match=r"^layer_norm: normalized_shape must be an int or a tu"):
        F.layer_norm(np.ones((2, 3)), 3.0)
