"""conv2d, im2col, col2im, max_pool2d, avg_pool2d: values against plain loops, gradients
(first and second order) in float64 on random shapes, strides and paddings, float32 kept,
and the errors of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Variable
from minigrad import functions as F

from .check import check_op, few_examples

# ------------------------------------------------------------------ plain references


def pad(x, p, value=0.0):
    ph, pw = p
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def np_conv(x, W, b, stride, padding):
    """The definition, one output element at a time."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    xp = pad(x, (ph, pw))
    n, _, hp, wp = xp.shape
    oc, _, kh, kw = W.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    y = np.zeros((n, oc, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", win, W)
    return y if b is None else y + b[None, :, None, None]


def np_pool(x, k, stride, padding, reduce, fill):
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(stride), pair(padding)
    xp = pad(x, (ph, pw), fill)
    n, c, hp, wp = xp.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], (2, 3))
    return y


def np_im2col(x, k, stride, padding):
    """The book's layout: rows (n, oh, ow), columns (c, kh, kw)."""
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(stride), pair(padding)
    xp = pad(x, (ph, pw))
    n, c, hp, wp = xp.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    rows = []
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                rows.append(xp[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(-1))
    return np.array(rows)


# ------------------------------------------------------------------ shapes drawn at random

geometries = st.tuples(
    st.integers(1, 2),  # N
    st.integers(1, 3),  # C
    st.integers(1, 3),  # OC
    st.integers(1, 3),  # KH
    st.integers(1, 3),  # KW
    st.integers(1, 3),  # stride h
    st.integers(1, 2),  # stride w
    st.integers(0, 2),  # padding h
    st.integers(0, 1),  # padding w
    st.integers(0, 3),  # extra H
    st.integers(0, 3),  # extra W
)


def unpack(geo):
    n, c, oc, kh, kw, sh, sw, ph, pw, eh, ew = geo
    h, w = max(kh - 2 * ph, 1) + eh, max(kw - 2 * pw, 1) + ew
    return (n, c, h, w), (oc, c, kh, kw), (sh, sw), (ph, pw)


@few_examples
@given(geometries, st.booleans())
def test_conv2d_random_geometry(geo, bias):
    xs, ws, stride, padding = unpack(geo)
    if bias:
        check_op(
            lambda x, W, b: F.conv2d(x, W, b, stride, padding),
            lambda x, W, b: np_conv(x, W, b, stride, padding),
            xs,
            ws,
            (ws[0],),
            gradgrad=True,
        )
    else:
        check_op(
            lambda x, W: F.conv2d(x, W, stride=stride, padding=padding),
            lambda x, W: np_conv(x, W, None, stride, padding),
            xs,
            ws,
            gradgrad=True,
        )


@few_examples
@given(geometries)
def test_im2col_and_col2im_random_geometry(geo):
    xs, ws, stride, padding = unpack(geo)
    k = ws[2:]
    y = check_op(
        lambda x: F.im2col(x, k, stride, padding),
        lambda x: np_im2col(x, k, stride, padding),
        xs,
        gradgrad=True,
    )
    # col2im is im2col's adjoint: <im2col(x), c> == <x, col2im(c)>.
    rng = np.random.default_rng(3)
    x, c = rng.standard_normal(xs), rng.standard_normal(y.shape)
    back = F.col2im(c, xs, k, stride, padding).data
    assert np.isclose((np_im2col(x, k, stride, padding) * c).sum(), (x * back).sum())
    check_op(
        lambda c: F.col2im(c, xs, k, stride, padding),
        lambda c: F.col2im(c, xs, k, stride, padding).data,
        y.shape,
        gradgrad=True,
    )


@few_examples
@given(geometries)
def test_pooling_random_geometry(geo):
    xs, ws, stride, _ = unpack(geo)
    k = ws[2:]
    padding = (min(geo[7], k[0] // 2), min(geo[8], k[1] // 2))
    xs = (xs[0], xs[1], xs[2] + 2 * geo[7], xs[3] + 2 * geo[8])
    check_op(
        lambda x: F.max_pool2d(x, k, stride, padding),
        lambda x: np_pool(x, k, stride, padding, np.max, -np.inf),
        xs,
        gradgrad=True,
    )
    check_op(
        lambda x: F.avg_pool2d(x, k, stride, padding),
        lambda x: np_pool(x, k, stride, padding, np.mean, 0.0),
        xs,
        gradgrad=True,
    )


def test_book_convolution_from_im2col_and_matmul():
    """The book's Convolution.forward, built from ops, equals conv2d, gradients included."""
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    Wv = Variable(W)
    col = F.im2col(x, 3, 1, 1)
    out = (col @ Wv.reshape(4, -1).T + b).reshape(2, 6, 5, 4).transpose(0, 3, 1, 2)
    Wc = Variable(W)
    ref = F.conv2d(x, Wc, b, 1, 1)
    np.testing.assert_allclose(out.data, ref.data, atol=1e-12)
    gy = rng.standard_normal(ref.shape)
    out.backward(gy)
    ref.backward(gy)
    np.testing.assert_allclose(Wv.grad.data, Wc.grad.data, atol=1e-12)


def test_max_pool_ties_send_the_gradient_to_the_first_element():
    x = Variable(np.ones((1, 1, 2, 4)))
    F.max_pool2d(x, 2).backward(np.array([[[[1.0, 2.0]]]]))
    np.testing.assert_array_equal(x.grad.data, [[[[1, 0, 2, 0], [0, 0, 0, 0]]]])
    # Overlapping windows add up at a shared maximum.
    x = Variable(np.array([[[[0.0, 5.0, 0.0]]]]))
    F.max_pool2d(x, (1, 2), stride=1).backward(np.ones((1, 1, 1, 2)))
    np.testing.assert_array_equal(x.grad.data, [[[[0, 2, 0]]]])


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(2, 2, 0), (2, 3, 0), ((2, 3), (2, 3), (1, 1)), (3, 3, 1)]
)
def test_max_pool_gradient_is_the_same_on_both_scatter_paths(kernel, stride, padding):
    """Disjoint windows: float64 scatters by an indexed assignment, float32 by a product per
    window offset; both send each gradient to the first maximum of its window."""
    rng = np.random.default_rng(7)
    x = np.maximum(rng.integers(-2, 3, (2, 3, 7, 8)), 0).astype(np.float64)  # many ties
    grads = []
    for dt in (np.float64, np.float32):
        xv = Variable(x.astype(dt))
        y = F.max_pool2d(xv, kernel, stride, padding)
        y.backward(np.arange(1.0, y.size + 1).reshape(y.shape).astype(dt))
        grads.append(xv.grad.data)
    assert grads[0].dtype == np.float64 and grads[1].dtype == np.float32
    np.testing.assert_array_equal(grads[0], grads[1])
    k, s, p = pair(kernel), pair(stride), pair(padding)
    expect = np.zeros((2, 3, 7 + 2 * p[0], 8 + 2 * p[1]))
    xp = pad(x, p, -np.inf)
    g = np.arange(1.0, y.size + 1).reshape(y.shape)
    for n, c, i, j in np.ndindex(*y.shape):
        win = xp[n, c, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
        a, b = np.unravel_index(np.argmax(win), win.shape)  # the first maximum
        expect[n, c, i * s[0] + a, j * s[1] + b] += g[n, c, i, j]
    np.testing.assert_array_equal(grads[0], expect[:, :, p[0] : p[0] + 7, p[1] : p[1] + 8])


def test_stride_defaults_to_the_kernel():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).data, [[[[2.5, 4.5], [10.5, 12.5]]]])


def test_data_batch_gets_no_gradient_and_float32_is_kept():
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32)
    W = mg.Parameter(np.ones((2, 1, 3, 3)), dtype=np.float32)
    y = F.max_pool2d(F.conv2d(x, W, padding=1), 2)
    assert y.dtype == np.float32
    y.sum().backward()
    assert W.grad.dtype == np.float32
    assert y.creator.inputs[0].creator.needs_input_grad == (False, True)


def test_window_matrix_is_freed_after_backward():
    W = mg.Parameter(np.ones((2, 1, 3, 3)))
    y = F.conv2d(np.ones((2, 1, 5, 5)), W)
    op = y.creator
    assert op.cols.shape == (2, 9, 9)
    y.sum().backward()
    assert op.released and not hasattr(op, "cols")


# ------------------------------------------------------------------ bad input


def err(exc, pattern):
    return pytest.raises(exc, match=pattern)


def test_conv2d_errors():
    W = np.ones((4, 3, 3, 3))
    with err(ValueError, r"^conv2d: x has 1 channels \(shape \(2, 1, 8, 8\)\) but W expects 3"):
        F.conv2d(np.ones((2, 1, 8, 8)), W)
    with err(ValueError, r"looks like NHWC \(channels last\): use x.transpose\(0, 3, 1, 2\)"):
        F.conv2d(np.ones((2, 8, 8, 3)), W)
    with err(ValueError, r"^conv2d: expected an input of shape \(N, C, H, W\), got 3-D shape"):
        F.conv2d(np.ones((3, 8, 8)), W)
    with err(ValueError, r"looks like one HWC image: use x.transpose\(2, 0, 1\)\[None\]"):
        F.conv2d(np.ones((8, 8, 3)), W)
    with err(ValueError, r"^conv2d: the kernel \(3, 3\) is larger than the padded input \(2, 4\)"):
        F.conv2d(np.ones((1, 3, 2, 4)), W)
    with err(ValueError, r"^conv2d: stride must be positive, got 0"):
        F.conv2d(np.ones((1, 3, 8, 8)), W, stride=0)
    with err(ValueError, r"^conv2d: padding must be non-negative, got \(1, -1\)"):
        F.conv2d(np.ones((1, 3, 8, 8)), W, padding=(1, -1))
    with err(TypeError, r"^conv2d: stride must be an int or a pair of ints, got 1.5"):
        F.conv2d(np.ones((1, 3, 8, 8)), W, stride=1.5)
    with err(TypeError, r"^conv2d: padding must be an int or a pair of ints, got True"):
        F.conv2d(np.ones((1, 3, 8, 8)), W, padding=True)
    with err(ValueError, r"^conv2d: b has shape \(3,\), expected \(4,\)"):
        F.conv2d(np.ones((1, 3, 8, 8)), W, np.ones(3))
    with err(ValueError, r"^conv2d: W must have shape \(OC, C, KH, KW\), got 2-D shape"):
        F.conv2d(np.ones((1, 3, 8, 8)), np.ones((3, 3)))
    with err(TypeError, r"^conv2d: expected floating-point data, got int64"):
        F.conv2d(np.ones((1, 3, 8, 8), dtype=np.int64), W)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pooling_errors(op):
    fn = getattr(F, op)
    with err(ValueError, rf"^{op}: expected an input of shape \(N, C, H, W\), got 2-D shape"):
        fn(np.ones((4, 4)), 2)
    with err(ValueError, rf"^{op}: the kernel \(5, 5\) is larger than the padded input \(4, 4\)"):
        fn(np.ones((1, 1, 4, 4)), 5)
    with err(ValueError, rf"^{op}: stride must be positive, got -1"):
        fn(np.ones((1, 1, 4, 4)), 2, -1)
    with err(ValueError, rf"^{op}: kernel_size must be positive, got 0"):
        fn(np.ones((1, 1, 4, 4)), 0)
    with err(ValueError, rf"^{op}: padding \(2, 2\) must be at most half the kernel \(2, 2\)"):
        fn(np.ones((1, 1, 4, 4)), 2, padding=2)


def test_im2col_col2im_errors():
    with err(ValueError, r"^im2col: expected an input of shape \(N, C, H, W\), got 3-D shape"):
        F.im2col(np.ones((1, 4, 4)), 2)
    with err(ValueError, r"^col2im: cols has shape \(3, 4\), expected \(9, 4\) for an input"):
        F.col2im(np.ones((3, 4)), (1, 1, 4, 4), 2, 1)


@pytest.mark.parametrize("rows", [0, 1000], ids=["wide", "batched"])
def test_conv2d_both_window_layouts(monkeypatch, rows):
    """conv2d's two GEMM layouts (functions/conv.py, `_batched`) give the same values and
    gradients."""
    from minigrad.functions import conv

    monkeypatch.setattr(conv, "_BATCHED_MAX_ROWS", rows)
    for xs, ws, stride, padding in [
        ((2, 3, 5, 6), (4, 3, 3, 2), (2, 1), (1, 0)),
        ((1, 5, 4, 4), (2, 5, 2, 2), 2, 1),
    ]:
        check_op(
            lambda x, W, b, s=stride, p=padding: F.conv2d(x, W, b, s, p),
            lambda x, W, b, s=stride, p=padding: np_conv(x, W, b, s, p),
            xs,
            ws,
            (ws[0],),
            gradgrad=True,
        )
