"""nn.DotAttention: values against NumPy, gradients (first and second order, float64) with a
padding mask, masked steps with exactly zero weight and gradient, dtypes, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import Variable, gradcheck, gradgradcheck
from minigrad.nn import DotAttention

rng = np.random.default_rng(0)
MASK = np.array([[False, False, False, True, True], [False, False, False, False, False]])


def numpy_attention(q, k, v, mask):
    s = q @ k.transpose(0, 2, 1)
    s = np.where(mask[:, None, :], -np.inf, s)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    return w @ v, w


def test_values_shapes_and_masked_weights_are_zero():
    q, k, v = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 5, 4)),
        rng.standard_normal((2, 5, 6)),
    )
    context, weights = DotAttention()(q, k, v, key_padding_mask=MASK)
    want_c, want_w = numpy_attention(q, k, v, MASK)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(context.data, want_c, rtol=1e-12)
    np.testing.assert_allclose(weights.data, want_w, rtol=1e-12)
    assert np.all(weights.data[0, :, 3:] == 0.0)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0)
    # values default to the keys; no mask attends to everything
    c2, w2 = DotAttention()(q, k)
    np.testing.assert_allclose(c2.data, numpy_attention(q, k, k, np.zeros((2, 5), bool))[0])
    assert np.all(w2.data > 0)


def test_one_decoder_step_and_float32():
    q = rng.standard_normal((2, 4)).astype(np.float32)
    k = rng.standard_normal((2, 5, 4)).astype(np.float32)
    context, weights = DotAttention()(q, k, key_padding_mask=MASK)
    assert context.shape == (2, 4) and weights.shape == (2, 5)
    assert context.dtype == np.float32 and weights.dtype == np.float32
    want_c, want_w = numpy_attention(q[:, None].astype(np.float64), k.astype(np.float64), k, MASK)
    np.testing.assert_allclose(context.data, want_c[:, 0], rtol=1e-5)
    np.testing.assert_allclose(weights.data, want_w[:, 0], rtol=1e-5)


def _objective(mask):
    # Random weights on both outputs (a plain sum of the weights is constant: each row sums to 1).
    r = np.random.default_rng(1)
    rc, rw = r.standard_normal((2, 3, 6)), r.standard_normal((2, 3, 5))

    def f(q, k, v):
        context, weights = DotAttention()(q, k, v, key_padding_mask=mask)
        return (context * rc).sum() + (weights * rw).sum()

    return f


def test_gradients_with_a_padding_mask_first_and_second_order():
    q = Variable(rng.standard_normal((2, 3, 4)))
    k = Variable(rng.standard_normal((2, 5, 4)))
    v = Variable(rng.standard_normal((2, 5, 6)))
    assert gradcheck(_objective(MASK), q, k, v)
    assert gradgradcheck(_objective(MASK), q, k, v)
    assert gradcheck(_objective(None), q, k, v)


def test_masked_steps_get_exactly_zero_gradient():
    q = Variable(rng.standard_normal((2, 3, 4)))
    k = Variable(rng.standard_normal((2, 5, 4)))
    v = Variable(rng.standard_normal((2, 5, 6)))
    _objective(MASK)(q, k, v).backward()
    assert np.all(k.grad.data[0, 3:] == 0.0) and np.all(v.grad.data[0, 3:] == 0.0)
    assert np.all(k.grad.data[0, :3] != 0.0) and np.all(v.grad.data[1] != 0.0)
    assert np.all(np.isfinite(q.grad.data))


@pytest.mark.parametrize(
    ("shapes", "mask", "error", "message"),
    [
        (((2, 3, 4), (2, 5), (2, 5, 6)), None, ValueError, r"keys and values must be \(N, Tk, H\)"),
        (((2, 3, 4, 1), (2, 5, 4), (2, 5, 6)), None, ValueError, r"query must be"),
        (
            ((2, 3, 3), (2, 5, 4), (2, 5, 6)),
            None,
            ValueError,
            r"query \(2, 3, 3\), keys \(2, 5, 4\)",
        ),
        (((2, 3, 4), (2, 5, 4), (2, 4, 6)), None, ValueError, r"do not fit"),
        (((2, 3, 4), (2, 0, 4), (2, 0, 6)), None, ValueError, r"no time steps"),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            np.zeros((2, 5), np.int64),
            TypeError,
            r"must be boolean \(True = padding\) or floating .* got dtype int64",
        ),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            np.zeros((2, 4), bool),
            ValueError,
            r"shape \(2, 4\), expected \(N, Tk\) = \(2, 5\)",
        ),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            np.array([[1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool),
            ValueError,
            r"masks every step of sequence 1",
        ),
    ],
)
def test_errors(shapes, mask, error, message):
    q, k, v = (np.zeros(s) for s in shapes)
    with pytest.raises(error, match=r"DotAttention: .*" + message):
        DotAttention()(q, k, v, key_padding_mask=mask)


def test_a_float_mask_is_added_to_the_scores():
    q, k, v = (rng.standard_normal(s) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 6)])
    additive = np.where(MASK, -np.inf, 0.0)
    want_c, want_w = DotAttention()(q, k, v, key_padding_mask=MASK)
    for mask in (additive, Variable(additive, requires_grad=False)):
        context, weights = DotAttention()(q, k, v, key_padding_mask=mask)
        np.testing.assert_array_equal(weights.data, want_w.data)
        np.testing.assert_array_equal(context.data, want_c.data)
    # Any float values: softmax(scores + mask).
    bias = rng.standard_normal((2, 5))
    _, weights = DotAttention()(q, k, v, key_padding_mask=bias)
    s = q @ k.transpose(0, 2, 1) + bias[:, None, :]
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(weights.data, e / e.sum(axis=-1, keepdims=True), rtol=1e-12)
    qv, kv, vv = Variable(q), Variable(k), Variable(v)
    assert gradcheck(lambda q, k, v: DotAttention()(q, k, v, key_padding_mask=bias)[0], qv, kv, vv)
