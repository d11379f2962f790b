"""conv_transpose2d: values against a plain loop (each input position spreads onto its window),
the adjoint identity with conv2d, gradients of x, W and b (first and second order) on random
geometries including output_padding, both window layouts, float32 kept, PyTorch as an oracle,
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


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def np_conv_transpose(x, W, b, stride, padding, output_padding):
    """The definition: each input element times the kernel, added onto the output window it
    spreads to, then the padding cropped."""
    (sh, sw), (ph, pw), (oph, opw) = pair(stride), pair(padding), pair(output_padding)
    n, cin, h, w = x.shape
    _, cout, kh, kw = W.shape
    full = np.zeros((n, cout, (h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw))
    for i in range(h):
        for j in range(w):
            # (n, cin) x (cin, cout, kh, kw) -> (n, cout, kh, kw)
            full[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], W
            )
    y = full[:, :, ph : full.shape[2] - ph, pw : full.shape[3] - pw]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


geometries = st.tuples(
    st.integers(1, 2),  # N
    st.integers(1, 3),  # C_in
    st.integers(1, 3),  # C_out
    st.integers(1, 3),  # KH
    st.integers(1, 3),  # KW
    st.integers(1, 3),  # stride h
    st.integers(1, 2),  # stride w
    st.integers(0, 1),  # padding h
    st.integers(0, 1),  # padding w
    st.integers(1, 3),  # H
    st.integers(1, 3),  # W
    st.integers(0, 2),  # output_padding h (kept below the stride)
    st.integers(0, 1),  # output_padding w
)


def unpack(geo):
    n, cin, cout, kh, kw, sh, sw, ph, pw, h, w, oph, opw = geo
    oph, opw = min(oph, sh - 1), min(opw, sw - 1)
    # The padding may not crop the whole output.
    ph = min(ph, ((h - 1) * sh + kh + oph - 1) // 2)
    pw = min(pw, ((w - 1) * sw + kw + opw - 1) // 2)
    return (n, cin, h, w), (cin, cout, kh, kw), (sh, sw), (ph, pw), (oph, opw)


@few_examples
@given(geometries, st.booleans())
def test_conv_transpose2d_random_geometry(geo, bias):
    xs, ws, stride, padding, out_pad = unpack(geo)
    if bias:
        check_op(
            lambda x, W, b: F.conv_transpose2d(x, W, b, stride, padding, out_pad),
            lambda x, W, b: np_conv_transpose(x, W, b, stride, padding, out_pad),
            xs,
            ws,
            (ws[1],),
            gradgrad=True,
        )
    else:
        check_op(
            lambda x, W: F.conv_transpose2d(
                x, W, stride=stride, padding=padding, output_padding=out_pad
            ),
            lambda x, W: np_conv_transpose(x, W, None, stride, padding, out_pad),
            xs,
            ws,
            gradgrad=True,
        )


@few_examples
@given(geometries)
def test_it_is_the_adjoint_of_conv2d(geo):
    # <conv2d(z, W), x> == <z, conv_transpose2d(x, W)> for every z of the output's shape.
    xs, ws, stride, padding, out_pad = unpack(geo)
    rng = np.random.default_rng(sum(geo))
    x, W = rng.standard_normal(xs), rng.standard_normal(ws)
    y = F.conv_transpose2d(x, W, None, stride, padding, out_pad).data
    z = rng.standard_normal(y.shape)
    conv = F.conv2d(z, W, None, stride, padding).data
    assert conv.shape == x.shape
    np.testing.assert_allclose(np.vdot(conv, x), np.vdot(z, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows", [0, 1000], ids=["wide", "batched"])
def test_both_window_layouts(monkeypatch, rows):
    """conv.py's two GEMM layouts (`_batched`) give the same values and gradients here too."""
    from minigrad.functions import conv

    monkeypatch.setattr(conv, "_BATCHED_MAX_ROWS", rows)
    for xs, ws, stride, padding, out_pad in [
        ((2, 3, 3, 4), (3, 4, 3, 2), (2, 1), (1, 0), (1, 0)),
        ((1, 5, 2, 2), (5, 2, 2, 2), 2, 1, 0),
    ]:
        check_op(
            lambda x, W, b, s=stride, p=padding, o=out_pad: F.conv_transpose2d(x, W, b, s, p, o),
            lambda x, W, b, s=stride, p=padding, o=out_pad: np_conv_transpose(x, W, b, s, p, o),
            xs,
            ws,
            (ws[1],),
            gradgrad=True,
        )


def test_output_size_and_the_inverse_shape_of_a_strided_conv2d():
    x = np.ones((1, 1, 4, 4))
    W = np.ones((1, 1, 3, 3))
    # conv2d with stride 2, padding 1 maps both 7 and 8 to 4: output_padding picks 8.
    assert F.conv_transpose2d(x, W, stride=2, padding=1).shape == (1, 1, 7, 7)
    assert F.conv_transpose2d(x, W, stride=2, padding=1, output_padding=1).shape == (1, 1, 8, 8)
    assert F.conv2d(np.ones((1, 1, 8, 8)), W, stride=2, padding=1).shape == x.shape


def test_data_batch_gets_no_gradient_and_float32_is_kept():
    x = np.ones((2, 3, 4, 4), np.float32)
    W = mg.Parameter(np.ones((3, 2, 3, 3)), dtype=np.float32)
    b = mg.Parameter(np.zeros(2), dtype=np.float32)
    y = F.conv_transpose2d(x, W, b, stride=2)
    assert y.dtype == np.float32 and y.creator.needs_input_grad == (False, True, True)
    y.sum().backward()
    assert W.grad.dtype == np.float32 and b.grad.dtype == np.float32
    np.testing.assert_array_equal(b.grad.data, [162.0, 162.0])  # N = 2 of 9 x 9 outputs
    np.testing.assert_array_equal(W.grad.data, np.full((3, 2, 3, 3), 32.0))  # 2 * 16 inputs


def test_label_shows_the_settings():
    y = F.conv_transpose2d(Variable(np.ones((1, 2, 3, 3))), np.ones((2, 1, 3, 3)), None, 2, 1, 1)
    assert y.creator.label() == (
        "conv_transpose2d kernel (3, 3), stride (2, 2), padding (1, 1), output_padding (1, 1)"
    )


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for xs, ws, stride, padding, out_pad in [
        ((2, 3, 5, 4), (3, 4, 3, 3), 1, 0, 0),
        ((2, 3, 5, 4), (3, 2, 3, 2), 2, 1, 1),
        ((1, 4, 3, 6), (4, 5, 2, 4), (3, 2), (1, 0), (2, 1)),
        ((3, 2, 4, 4), (2, 40, 3, 3), 1, 1, 0),  # the wide layout
    ]:
        x, W, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1])
        vs = [Variable(a.copy()) for a in (x, W, b)]
        y = F.conv_transpose2d(*vs, stride, padding, out_pad)
        ts = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
        ty = torch.nn.functional.conv_transpose2d(*ts, stride, padding, out_pad)
        gy = rng.standard_normal(y.shape)
        y.backward(gy)
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
        for v, t in zip(vs, ts):
            np.testing.assert_allclose(v.grad.data, t.grad.numpy(), rtol=1e-6, atol=1e-6)


def err(exc, pattern):
    return pytest.raises(exc, match=pattern)


def test_conv_transpose2d_errors():
    W = np.ones((3, 4, 3, 3))
    x = np.ones((2, 3, 5, 5))
    op = "conv_transpose2d"
    with err(ValueError, rf"^{op}: x has 4 channels \(shape \(2, 4, 5, 5\)\) but W expects 3 "):
        F.conv_transpose2d(np.ones((2, 4, 5, 5)), W)
    with err(ValueError, r"\(W shape \(3, 4, 3, 3\), laid out \(C_in, C_out, KH, KW\)\)"):
        F.conv_transpose2d(np.ones((2, 4, 5, 5)), W)
    with err(ValueError, rf"^{op}: expected an input of shape \(N, C, H, W\), got 3-D shape"):
        F.conv_transpose2d(np.ones((3, 5, 5)), W)
    with err(ValueError, rf"^{op}: W must have shape \(C_in, C_out, KH, KW\), got 2-D shape"):
        F.conv_transpose2d(x, np.ones((3, 4)))
    with err(ValueError, rf"^{op}: output_padding \(2, 2\) must be smaller than the stride"):
        F.conv_transpose2d(x, W, stride=2, output_padding=2)
    with err(ValueError, rf"^{op}: output_padding \(1, 0\) must be smaller than the stride \(1, 1"):
        F.conv_transpose2d(x, W, output_padding=(1, 0))
    with err(ValueError, rf"^{op}: the output would be \(-1, -1\) for an input \(2, 3, 1, 1\)"):
        F.conv_transpose2d(np.ones((2, 3, 1, 1)), W, padding=2)
    with err(ValueError, rf"^{op}: stride must be positive, got 0"):
        F.conv_transpose2d(x, W, stride=0)
    with err(ValueError, rf"^{op}: padding must be non-negative, got -1"):
        F.conv_transpose2d(x, W, padding=-1)
    with err(TypeError, rf"^{op}: output_padding must be an int or a pair of ints, got 0.5"):
        F.conv_transpose2d(x, W, output_padding=0.5)
    with err(ValueError, rf"^{op}: b has shape \(3,\), expected \(4,\) for W of shape"):
        F.conv_transpose2d(x, W, np.ones(3))
    with err(TypeError, rf"^{op}: expected floating-point data, got int64"):
        F.conv_transpose2d(x.astype(np.int64), W)
