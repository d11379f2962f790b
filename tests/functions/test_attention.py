"""scaled_dot_product_attention: values against a NumPy expression, gradients of first and
second order (float64), masks (boolean, additive with its gradient, causal), fully masked rows
(zeros, no NaN), dropout, dtypes, PyTorch's values and gradients, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Variable

from .check import check_op

sdpa = F.scaled_dot_product_attention


def np_attention(q, k, v, mask=None, causal=False, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if causal:
        t, n = s.shape[-2:]
        s = np.where(np.tril(np.ones((t, n), bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(s - m)
    z = e.sum(axis=-1, keepdims=True)
    return e / np.where(z == 0, 1, z) @ v


CASES = [
    ((4, 3), (5, 3), (5, 2)),
    ((2, 4, 3), (2, 5, 3), (2, 5, 6)),
    ((2, 2, 3, 4), (2, 2, 3, 4), (2, 2, 3, 4)),
    ((2, 1, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)),  # batch dimensions broadcast
]


@pytest.mark.parametrize("shapes", CASES)
def test_attention(shapes):
    check_op(sdpa, np_attention, *shapes, gradgrad=True)


@pytest.mark.parametrize("shapes", CASES[:3])
def test_causal(shapes):
    check_op(
        lambda q, k, v: sdpa(q, k, v, is_causal=True),
        lambda q, k, v: np_attention(q, k, v, causal=True),
        *shapes,
        gradgrad=True,
    )


def test_causal_by_hand():
    # Query 0 sees key 0 alone; query 1 averages keys 0 and 1 (equal scores: q = 0).
    v = np.array([[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]])
    y = sdpa(np.zeros((3, 2)), np.ones((3, 2)), v, is_causal=True)
    np.testing.assert_allclose(y.data, [[1, 2], [2, 4], [104 / 3, 108 / 3]])


def test_scale():
    check_op(
        lambda q, k, v: sdpa(q, k, v, scale=0.3),
        lambda q, k, v: np_attention(q, k, v, scale=0.3),
        (2, 3, 4),
        (2, 5, 4),
        (2, 5, 2),
        gradgrad=True,
    )


def test_boolean_mask():
    mask = np.random.default_rng(3).random((2, 1, 3, 5)) > 0.3
    mask[..., 0] = True
    check_op(
        lambda q, k, v: sdpa(q, k, v, attn_mask=mask),
        lambda q, k, v: np_attention(q, k, v, mask),
        (2, 2, 3, 4),
        (2, 2, 5, 4),
        (2, 2, 5, 3),
        gradgrad=True,
    )


def test_float_mask_gets_a_gradient():
    check_op(
        lambda q, k, v, m: sdpa(q, k, v, attn_mask=m),
        lambda q, k, v, m: np_attention(q, k, v, m),
        (2, 3, 4),
        (2, 5, 4),
        (2, 5, 2),
        (3, 5),
        gradgrad=True,
    )


def test_a_fully_masked_row_gives_zeros_and_zero_gradients():
    rng = np.random.default_rng(0)
    mask = np.ones((3, 4), bool)
    mask[1] = False  # query 1 may attend to nothing
    q, k, v = (Variable(rng.standard_normal(s)) for s in ((3, 2), (4, 2), (4, 5)))
    with np.errstate(all="raise"):
        y = sdpa(q, k, v, attn_mask=mask)
        y.backward(np.ones((3, 5)))
    np.testing.assert_array_equal(y.data[1], 0)
    assert np.isfinite(y.data).all()
    np.testing.assert_array_equal(q.grad.data[1], 0)
    np.testing.assert_allclose(y.data[[0, 2]], np_attention(q.data, k.data, v.data)[[0, 2]])
    # The same with a float mask of -inf, and gradcheck around it.
    fmask = np.where(mask, 0.0, -np.inf)
    np.testing.assert_array_equal(sdpa(q.data, k.data, v.data, attn_mask=fmask).data, y.data)
    w = rng.standard_normal((3, 5))
    f = lambda q, k, v: sdpa(q, k, v, attn_mask=mask) * w  # noqa: E731
    assert mg.gradcheck(f, q.data, k.data, v.data)
    assert mg.gradgradcheck(f, q.data, k.data, v.data)


def test_causal_mask_is_made_once_per_size():
    from minigrad.functions.attention import _causal_additive

    _causal_additive.cache_clear()
    for _ in range(3):
        sdpa(np.ones((2, 4, 3)), np.ones((2, 4, 3)), np.ones((2, 4, 3)), is_causal=True)
    info = _causal_additive.cache_info()
    assert info.misses == 1 and info.hits == 2


def test_dropout_only_while_grad_mode_is_on():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    with mg.no_grad():
        np.testing.assert_allclose(sdpa(q, k, v, dropout_p=0.5).data, np_attention(q, k, v))
    np.random.seed(7)  # noqa: NPY002 - as F.dropout, the mask comes from np.random
    y = sdpa(Variable(q), Variable(k), Variable(v), dropout_p=0.5)
    np.random.seed(7)  # noqa: NPY002
    keep = (np.random.random_sample((2, 3, 5)) >= 0.5) * 2.0  # noqa: NPY002
    s = q @ np.swapaxes(k, -1, -2) / 2
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(y.data, (p * keep) @ v)
    # The same mask in backward: gradcheck at a fixed seed.
    w = rng.standard_normal((2, 3, 3))

    def f(q, k, v):
        np.random.seed(7)  # noqa: NPY002
        return sdpa(q, k, v, dropout_p=0.5) * w

    assert mg.gradcheck(f, q, k, v)
    assert mg.gradgradcheck(f, q, k, v)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    q, k, v = (
        Variable(rng.standard_normal(s).astype(np.float32)) for s in ((3, 2), (4, 2), (4, 5))
    )
    y = sdpa(q, k, v, is_causal=True, attn_mask=None)
    assert y.dtype == np.float32
    y.sum().backward()
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32
    m = np.zeros((3, 4))  # a float64 mask does not promote
    assert sdpa(q, k, v, attn_mask=m).dtype == np.float32


@pytest.mark.parametrize("kind", ["plain", "causal", "bool", "float"])
def test_values_and_gradients_match_pytorch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)))
    kw: dict = {}
    if kind == "causal":
        kw["is_causal"] = True
    elif kind == "bool":
        kw["attn_mask"] = rng.random((5, 6)) > 0.4
        kw["attn_mask"][:, 0] = True  # PyTorch gives NaN for a fully masked row
    elif kind == "float":
        kw["attn_mask"] = rng.standard_normal((2, 1, 5, 6))
    gy = rng.standard_normal((2, 3, 5, 7))
    vs = [Variable(a) for a in (q, k, v)]
    y = sdpa(*vs, **kw)
    y.backward(gy)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    tkw = {
        key: torch.tensor(val) if isinstance(val, np.ndarray) else val for key, val in kw.items()
    }
    yt = torch.nn.functional.scaled_dot_product_attention(*ts, **tkw)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6)
    for a, b in zip(vs, ts):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-6)


def test_bad_input():
    q, k, v = np.ones((2, 3, 4)), np.ones((2, 5, 4)), np.ones((2, 5, 6))
    with pytest.raises(ValueError, match=r"same feature size, got q \(2, 3, 4\) and k \(2, 5, 3\)"):
        sdpa(q, np.ones((2, 5, 3)), v)
    with pytest.raises(ValueError, match=r"same length, got k \(2, 5, 4\) and v \(2, 4, 6\) \(5"):
        sdpa(q, k, np.ones((2, 4, 6)))
    with pytest.raises(ValueError, match=r"batch dimensions of q \(2, 3, 4\), k \(3, 5, 4\)"):
        sdpa(q, np.ones((3, 5, 4)), np.ones((3, 5, 6)))
    with pytest.raises(ValueError, match=r"q must have at least 2 dimensions"):
        sdpa(np.ones(4), k, v)
    with pytest.raises(
        ValueError,
        match=r"attn_mask of shape \(3, 4\) does not broadcast to the scores' shape \(2, 3, 5\)",
    ):
        sdpa(q, k, v, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 3, 5\) does not broadcast"):
        sdpa(q, k, v, attn_mask=np.ones((4, 3, 5), bool))
    with pytest.raises(TypeError, match=r"attn_mask must be a boolean .* got int64"):
        sdpa(q, k, v, attn_mask=np.ones((3, 5), np.int64))
    with pytest.raises(ValueError, match=r"give attn_mask or is_causal=True, not both"):
        sdpa(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\), got 1"):
        sdpa(q, k, v, dropout_p=1)
    with pytest.raises(TypeError, match=r"^scaled_dot_product_attention: k: expected floating"):
        sdpa(q, np.ones((2, 5, 4), np.int64), v)
