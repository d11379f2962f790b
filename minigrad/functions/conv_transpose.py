"""Transposed convolution: conv_transpose2d, the adjoint of conv2d (sometimes called
"deconvolution"), as PyTorch's `conv_transpose2d`.

Layout: x (N, C_in, H, W), weights W (C_in, C_out, KH, KW) (PyTorch's; note C_in first, the
reverse of conv2d's), output (N, C_out, OH, OW) with
`OH = (H - 1) * stride - 2 * padding + KH + output_padding`. Each input position spreads its
channels times the weights onto a KH x KW window of the output (overlaps add up), windows
`stride` apart; the padding is then cropped from each side. That is exactly conv2d's input
gradient: for z of the output's shape, <conv2d(z, W), x> = <z, conv_transpose2d(x, W)>, with
W read as conv2d's (OC, C, KH, KW) = (C_in, C_out, KH, KW). `output_padding` (< stride) adds
rows and columns at the end, which no window reaches: several output sizes give one input
size under a strided conv2d, and it says which.

So the forward runs conv.py's kernels for conv2d's input gradient, and the backward those of
conv2d's forward (gx = conv2d(gy, W)) and weight gradient; recorded, it uses the conv2d and
im2col ops, so second derivatives work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Variable, _apply2, as_variable
from minigrad.functions import conv as C
from minigrad.functions._util import check_float, shape_of, shape_str

__all__ = ["conv_transpose2d"]

Pair = tuple[int, int]


class ConvTranspose2d(C._Windowed):
    """y = the adjoint of conv2d applied to x, plus b.  x (N, C_in, H, W), W (C_in, C_out, KH,
    KW), b (C_out,) or absent -> y (N, C_out, OH, OW); `geometry` is that of the conv2d
    from y's shape back to x's (its output sides are H, W).

    With X = x as a matrix: y = col2im(W.reshape(C_in, -1)^T @ X); dx = conv2d(gy, W),
    dW = X @ im2col(gy)^T, db = the sum of gy over N, OH, OW.
    """

    rule = "gx = conv2d(gy, W), gW = x @ im2col(gy).T, gb = sum of gy over N, OH, OW"
    saves_attrs = False
    __slots__ = ("y_shape",)

    def __init__(self, geometry: C._Geometry, y_shape: tuple[int, ...]) -> None:
        super().__init__(geometry)
        self.y_shape = y_shape

    def forward(self, x: np.ndarray, W: np.ndarray, b: Any = None) -> np.ndarray:
        y = C._conv_gx(C._gy_matrix(x, self.y_shape, self.geometry), W, self.y_shape, self.geometry)
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        return np.ascontiguousarray(y)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xs = self.saved_inputs
        need = self.needs_input_grad
        x, W = xs[0], xs[1]
        g = self.geometry
        gx = gW = None
        if isinstance(gy, Variable):
            if need[0]:
                gx = C.Conv2d(g)(gy, W)
            if need[1]:
                # A constant x stays an ndarray even when the backward records.
                gW = C._conv_gW(C._gy_matrix(as_variable(x), gy.shape, g), gy, W.shape, g, None)
        else:
            # conv2d's forward on gy is gx; the window matrix it builds serves gW too.
            conv = C.Conv2d(g)
            if need[0]:
                gx = conv.forward(gy, W)
                cols = conv.cols
            elif need[1]:
                cols = C._cols(gy, g)
            if need[1]:
                gW = C._conv_gW(C._gy_matrix(x, gy.shape, g), gy, W.shape, g, cols)
        if len(xs) == 2:
            return gx, gW
        return gx, gW, gy.sum(axis=(0, 2, 3)) if need[2] else None

    def label(self) -> str:
        g = self.geometry
        extra = (
            self.y_shape[2] - ((g.oh - 1) * g.sh - 2 * g.ph + g.kh),
            self.y_shape[3] - ((g.ow - 1) * g.sw - 2 * g.pw + g.kw),
        )
        tail = f", output_padding {extra}" if any(extra) else ""
        return f"{self.name} {g.text()}{tail}"


def conv_transpose2d(
    x: Variable | Any,
    W: Variable | Any,
    b: Variable | Any = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    output_padding: int | Pair = 0,
) -> Variable:
    """2-D transposed convolution, the adjoint of `conv2d` (PyTorch's `conv_transpose2d`).

    x (N, C_in, H, W), W (C_in, C_out, KH, KW), b (C_out,) or None -> (N, C_out, OH, OW) with
    OH = (H - 1) * stride - 2 * padding + KH + output_padding (OW alike). `stride`,
    `padding` and `output_padding` are ints or pairs; `output_padding`, smaller than
    `stride`, adds rows and columns at the end (of the sizes a strided conv2d maps to H, it
    picks one).
    """
    op = "conv_transpose2d"
    check_float(x, op)
    sx, sW = shape_of(x), shape_of(W)
    if len(sW) != 4:
        raise ValueError(
            f"{op}: W must have shape (C_in, C_out, KH, KW), got {len(sW)}-D shape {shape_str(sW)}"
        )
    C._check_nchw(op, sx, sW[0])
    if sx[1] != sW[0]:
        raise ValueError(
            f"{op}: x has {sx[1]} channels (shape {shape_str(sx)}) but W expects {sW[0]} "
            f"(W shape {shape_str(sW)}, laid out (C_in, C_out, KH, KW))"
        )
    kh, kw = sW[2], sW[3]
    sh, sw = C._pair(stride, "stride", op, 1)
    ph, pw = C._pair(padding, "padding", op, 0)
    oph, opw = C._pair(output_padding, "output_padding", op, 0)
    if oph >= sh or opw >= sw:
        raise ValueError(
            f"{op}: output_padding ({oph}, {opw}) must be smaller than the stride ({sh}, {sw})"
        )
    oh = (sx[2] - 1) * sh - 2 * ph + kh + oph
    ow = (sx[3] - 1) * sw - 2 * pw + kw + opw
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{op}: the output would be ({oh}, {ow}) for an input {shape_str(sx)}, kernel "
            f"({kh}, {kw}), stride ({sh}, {sw}), padding ({ph}, {pw}): the padding is too large"
        )
    y_shape = (sx[0], sW[1], oh, ow)
    g = C._Geometry((kh, kw), (sh, sw), (ph, pw), (oh, ow))
    if b is None:
        return _apply2(ConvTranspose2d(g, y_shape), x, W)
    if shape_of(b) != (sW[1],):
        raise ValueError(
            f"{op}: b has shape {shape_str(shape_of(b))}, expected ({sW[1]},) for W of shape "
            f"{shape_str(sW)}"
        )
    return ConvTranspose2d(g, y_shape)(x, W, b)
