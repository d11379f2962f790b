"""Convolution and pooling on NCHW batches: conv2d, im2col and its adjoint col2im, max_pool2d,
avg_pool2d.

Layout: x (N, C, H, W), weights W (OC, C, KH, KW) as in the book and PyTorch. With padding p
and stride s, an output side is `(H + 2p - KH) // s + 1`. Every window is read through a
strided view of the padded input (no copy), so no Python loop runs over the batch or over the
output positions; the loops that remain run over the KH * KW offsets inside a window.

`im2col` is the book's matrix, (N*OH*OW, C*KH*KW), one row per output position, so that the
book's convolution `im2col(x) @ W.reshape(OC, -1).T` can be built from ops and drawn. The
fused `conv2d` keeps the windows in the orders its matrix products want: (C*KH*KW, N*OH*OW)
for one GEMM over the whole batch, or, for few window rows, (N, C*KH*KW, OH*OW) for batched
GEMMs whose output is NCHW directly (building that copy costs 0.5 ms for SimpleConvNet's
first layer against 1.5 ms for the book's order); see `_batched`.

Second derivatives: every backward here is written with ops that record (conv2d's through
im2col, col2im and matmul; the pooling ops' through their adjoints, which are Functions too),
so `create_graph=True` works for all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minigrad.core import Function, Variable, _apply1, _apply2
from minigrad.functions._util import check_float, shape_of, shape_str

__all__ = ["conv2d", "im2col", "col2im", "max_pool2d", "avg_pool2d"]

Pair = tuple[int, int]


# --------------------------------------------------------------------------- geometry


def _pair(value: Any, what: str, op: str, minimum: int) -> Pair:
    """An int or a pair of ints as a pair, each >= minimum; a clear error otherwise."""
    items = tuple(value) if isinstance(value, tuple | list) else (value, value)
    ok = len(items) == 2 and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items
    )
    if not ok:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        kind = "positive" if minimum > 0 else "non-negative"
        raise ValueError(f"{op}: {what} must be {kind}, got {value!r}")
    return int(items[0]), int(items[1])


class _Geometry:
    """The windows of one op call: kernel (KH, KW), stride, padding, input and output sides."""

    __slots__ = ("kh", "kw", "sh", "sw", "ph", "pw", "h", "w", "oh", "ow")

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, hw: Pair) -> None:
        self.kh, self.kw = kernel
        self.sh, self.sw = stride
        self.ph, self.pw = padding
        self.h, self.w = hw
        self.oh = (self.h + 2 * self.ph - self.kh) // self.sh + 1
        self.ow = (self.w + 2 * self.pw - self.kw) // self.sw + 1

    @property
    def padded(self) -> Pair:
        return self.h + 2 * self.ph, self.w + 2 * self.pw

    @property
    def disjoint(self) -> bool:
        """True when windows do not overlap (each input element is in at most one window)."""
        return self.sh >= self.kh and self.sw >= self.kw

    def text(self) -> str:
        return (
            f"kernel ({self.kh}, {self.kw}), stride ({self.sh}, {self.sw}), "
            f"padding ({self.ph}, {self.pw})"
        )


def _geometry(op: str, x_shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any) -> Any:
    """Check an NCHW input shape and the window settings; return the _Geometry."""
    k = _pair(kernel, "kernel_size", op, 1)
    s = _pair(stride, "stride", op, 1)
    p = _pair(padding, "padding", op, 0)
    _check_nchw(op, x_shape)
    hw = (x_shape[2], x_shape[3])
    if k[0] > hw[0] + 2 * p[0] or k[1] > hw[1] + 2 * p[1]:
        raise ValueError(
            f"{op}: the kernel ({k[0]}, {k[1]}) is larger than the padded input "
            f"({hw[0] + 2 * p[0]}, {hw[1] + 2 * p[1]}) (input {shape_str(x_shape)}, padding "
            f"({p[0]}, {p[1]}))"
        )
    return _Geometry(k, s, p, hw)


def _check_nchw(op: str, shape: tuple[int, ...], channels: int | None = None) -> None:
    if len(shape) == 4:
        return
    hint = ""
    if len(shape) == 3:
        hint = (
            "; for a single image add the batch axis (x[None] or x.reshape(1, *x.shape))"
            if channels is None or shape[0] == channels
            else ""
        )
        if channels is not None and shape[-1] == channels and shape[0] != channels:
            hint = "; it looks like one HWC image: use x.transpose(2, 0, 1)[None]"
    raise ValueError(
        f"{op}: expected an input of shape (N, C, H, W), got {len(shape)}-D shape "
        f"{shape_str(shape)}{hint}"
    )


def _pad(x: np.ndarray, g: _Geometry, value: float = 0.0) -> np.ndarray:
    """x with g's padding on H and W (x itself when there is none)."""
    if not (g.ph or g.pw):
        return x
    n, c = x.shape[:2]
    hp, wp = g.padded
    # np.zeros gets zeroed pages from the system, cheaper than filling them.
    xp = (
        np.zeros((n, c, hp, wp), x.dtype) if value == 0 else np.full((n, c, hp, wp), value, x.dtype)
    )
    xp[:, :, g.ph : g.ph + g.h, g.pw : g.pw + g.w] = x
    return xp


def _crop(xp: np.ndarray, g: _Geometry) -> np.ndarray:
    if not (g.ph or g.pw):
        return xp
    return xp[:, :, g.ph : g.ph + g.h, g.pw : g.pw + g.w]


def _windows(xp: np.ndarray, g: _Geometry) -> np.ndarray:
    """The windows of a padded input as a read-only view (N, C, KH, KW, OH, OW), no copy."""
    sn, sc, sh, sw = xp.strides
    shape = (xp.shape[0], xp.shape[1], g.kh, g.kw, g.oh, g.ow)
    strides = (sn, sc, sh, sw, sh * g.sh, sw * g.sw)
    return as_strided(xp, shape, strides, writeable=False)


def _offset(a: np.ndarray, g: _Geometry, i: int, j: int) -> np.ndarray:
    """The (OH, OW) grid of the elements at offset (i, j) of every window, as a view."""
    return a[:, :, i : i + g.sh * (g.oh - 1) + 1 : g.sh, j : j + g.sw * (g.ow - 1) + 1 : g.sw]


# --------------------------------------------------------------------------- array kernels


# conv2d multiplies the weights with the window matrix in one of two layouts. Batched:
# (N, C*KH*KW, OH*OW), N small GEMMs that give NCHW directly. Wide: (C*KH*KW, N*OH*OW), one
# GEMM for the whole batch, its output transposed to NCHW (a copy). With OpenBLAS on two busy
# cores each GEMM call waits on its threads, so the wide layout is 2.2x faster for
# DeepConvNet's step here; for a one-channel input, where C*KH*KW is tiny and the transposes
# dominate, the batched one is 1.3x faster (SimpleConvNet's step). Hence the rule below.
_BATCHED_MAX_ROWS = 32


def _batched(c: int, g: _Geometry) -> bool:
    """Use the batched layout for C*KH*KW window rows up to _BATCHED_MAX_ROWS."""
    return c * g.kh * g.kw <= _BATCHED_MAX_ROWS


def _cols(x: np.ndarray, g: _Geometry, ones: bool = False) -> np.ndarray:
    """conv2d's window matrix, one copy of the strided view: (N, C*KH*KW, OH*OW) batched, or
    (C*KH*KW, N*OH*OW) wide (see `_batched`). With `ones` (batched only) a row of ones
    follows the window rows, (N, C*KH*KW + 1, OH*OW), for the bias as a column of W."""
    n, c = x.shape[:2]
    win = _windows(_pad(x, g), g)
    if _batched(c, g):
        k, p = c * g.kh * g.kw, g.oh * g.ow
        if not ones:
            return win.reshape(n, k, p)
        cols = np.empty((n, k + 1, p), x.dtype)
        np.reshape(cols[:, :k], win.shape, copy=False)[...] = win
        cols[:, k] = 1
        return cols
    return win.transpose(1, 2, 3, 0, 4, 5).reshape(c * g.kh * g.kw, n * g.oh * g.ow)


def _cols6(cols: np.ndarray, x_shape: tuple[int, ...], g: _Geometry) -> np.ndarray:
    """A window matrix in either layout as a view (N, C, KH, KW, OH, OW)."""
    n, c = x_shape[:2]
    if cols.ndim == 3:
        return cols.reshape(n, c, g.kh, g.kw, g.oh, g.ow)
    return cols.reshape(c, g.kh, g.kw, n, g.oh, g.ow).transpose(3, 0, 1, 2, 4, 5)


def _uncols(c6: np.ndarray, x_shape: tuple[int, ...], g: _Geometry) -> np.ndarray:
    """The adjoint of the window view: each window (c6, (N, C, KH, KW, OH, OW)) added back
    at its place.  -> x_shape."""
    n, c = x_shape[:2]
    hp, wp = g.padded
    # A plain assignment fills disjoint windows that tile the padded input exactly; otherwise
    # overlaps add up and uncovered elements must read zero.
    tiled = g.sh == g.kh and g.sw == g.kw and g.oh * g.kh == hp and g.ow * g.kw == wp
    xp = (np.empty if tiled else np.zeros)((n, c, hp, wp), dtype=c6.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            if tiled:
                _offset(xp, g, i, j)[...] = c6[:, :, i, j]
            else:
                _offset(xp, g, i, j)[...] += c6[:, :, i, j]
    return _crop(xp, g)


def _book_cols(x: np.ndarray, g: _Geometry) -> np.ndarray:
    """The book's im2col matrix: (N*OH*OW, C*KH*KW), rows ordered (n, oh, ow)."""
    n, c = x.shape[:2]
    v = _windows(_pad(x, g), g).transpose(0, 4, 5, 1, 2, 3)
    return v.reshape(n * g.oh * g.ow, c * g.kh * g.kw)


def _book_uncols(cols: np.ndarray, x_shape: tuple[int, ...], g: _Geometry) -> np.ndarray:
    """The book's col2im: the adjoint of `_book_cols`.  -> x_shape."""
    n, c = x_shape[:2]
    c6 = cols.reshape(n, g.oh, g.ow, c, g.kh, g.kw).transpose(0, 3, 4, 5, 1, 2)
    return _uncols(c6, x_shape, g)


# --------------------------------------------------------------------------- im2col, col2im


class _Windowed(Function):
    """An op over the windows of an image batch, its setting (`conv2d 5x5 stride 1` in
    pictures)."""

    backward_on_arrays = True
    __slots__ = ("geometry",)

    def __init__(self, geometry: _Geometry) -> None:
        self.geometry = geometry

    def label(self) -> str:
        return f"{self.name} {self.geometry.text()}"


class Im2col(_Windowed):
    """cols = im2col(x): every window of x as a row.  x (N, C, H, W) -> (N*OH*OW, C*KH*KW),
    rows ordered (n, oh, ow), columns (c, kh, kw), as in the book. Linear: dx = col2im(gy)."""

    rule = "gx = col2im(gy): each row added back onto the window it came from"
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _book_cols(x, self.geometry)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return _col2im_any(gy, x.shape, self.geometry)


def im2col(
    x: Variable | Any, kernel_size: int | Pair, stride: int | Pair = 1, padding: int | Pair = 0
) -> Variable:
    """The book's im2col as an op: x (N, C, H, W) -> (N*OH*OW, C*KH*KW), one row per window.

    `kernel_size`, `stride` and `padding` are ints or (height, width) pairs; padding adds
    zeros. `im2col(x, k) @ W.reshape(OC, -1).T` is a convolution's output as (N*OH*OW, OC).
    """
    check_float(x, "im2col")
    return _apply1(Im2col(_geometry("im2col", shape_of(x), kernel_size, stride, padding)), x)


class _OntoImage(_Windowed):
    """An op that adds windows back onto an image batch of shape `x_shape` (its settings)."""

    saves_attrs = False
    __slots__ = ("x_shape",)

    def __init__(self, geometry: _Geometry, x_shape: tuple[int, ...]) -> None:
        super().__init__(geometry)
        self.x_shape = x_shape


class Col2im(_OntoImage):
    """x = col2im(cols): each row of cols added back onto its window (overlaps sum up),
    padding dropped.  (N*OH*OW, C*KH*KW) -> x_shape (N, C, H, W). The adjoint of im2col:
    dcols = im2col(gy)."""

    rule = "gx = im2col(gy): the windows of gy as rows"

    def forward(self, cols: np.ndarray) -> np.ndarray:
        return _book_uncols(cols, self.x_shape, self.geometry)

    def backward(self, gy: Any) -> Any:
        return _im2col_any(gy, self.geometry)

    def label(self) -> str:
        return f"col2im {shape_str(self.x_shape)}"


def col2im(
    cols: Variable | Any,
    x_shape: tuple[int, ...],
    kernel_size: int | Pair,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
) -> Variable:
    """The adjoint of `im2col`: (N*OH*OW, C*KH*KW) -> x_shape (N, C, H, W), each row added
    onto the window it stands for (the book's col2im)."""
    check_float(cols, "col2im")
    x_shape = tuple(int(n) for n in x_shape)
    g = _geometry("col2im", x_shape, kernel_size, stride, padding)
    expect = (x_shape[0] * g.oh * g.ow, x_shape[1] * g.kh * g.kw)
    if shape_of(cols) != expect:
        raise ValueError(
            f"col2im: cols has shape {shape_str(shape_of(cols))}, expected {shape_str(expect)} "
            f"for an input {shape_str(x_shape)} with {g.text()}"
        )
    return _apply1(Col2im(g, x_shape), cols)


def _im2col_any(x: Any, g: _Geometry) -> Any:
    """im2col of an array (NumPy) or of a Variable (the recorded op)."""
    if isinstance(x, Variable):
        return _apply1(Im2col(g), x)
    return _book_cols(x, g)


def _col2im_any(cols: Any, x_shape: tuple[int, ...], g: _Geometry) -> Any:
    """col2im of an array (NumPy) or of a Variable (the recorded op)."""
    if isinstance(cols, Variable):
        return _apply1(Col2im(g, tuple(x_shape)), cols)
    return _book_uncols(cols, x_shape, g)


# --------------------------------------------------------------------------- conv2d


class Conv2d(_Windowed):
    """y = x * W + b, a cross-correlation over every window.  x (N, C, H, W), W (OC, C, KH, KW),
    b (OC,) or absent -> y (N, OC, OH, OW).

    With cols the windows of x: y = W.reshape(OC, -1) @ cols; dW = gy @ cols^T (summed over
    the batch), dx = col2im(W^T @ gy) (only when x needs it: never for a data batch),
    db = the sum of gy over N, OH, OW. The window matrix is freed with the op after backward.
    """

    rule = "gx = col2im(W.T @ gy), gW = gy @ im2col(x).T, gb = sum of gy over N, OH, OW"

    def forward(self, x: np.ndarray, W: np.ndarray, b: Any = None) -> np.ndarray:
        g = self.geometry
        n, oc = x.shape[0], W.shape[0]
        if _batched(x.shape[1], g):
            Wm = W.reshape(oc, -1)
            if b is None:
                self.cols = cols = _cols(x, g)
                return np.matmul(Wm, cols).reshape(n, oc, g.oh, g.ow)
            # The bias as one more column of W against a row of ones: the product adds it,
            # no pass of its own over the output: SimpleConvNet's first layer 1.20x faster in
            # float64 (7.2 -> 6.1 ms), 1.24x in float32 (3.4 -> 2.8 ms), same values.
            cols = _cols(x, g, ones=True)
            self.cols = cols[:, : Wm.shape[1]]
            Wb = np.concatenate([Wm, b.reshape(oc, 1).astype(Wm.dtype, copy=False)], axis=1)
            return np.matmul(Wb, cols).reshape(n, oc, g.oh, g.ow)
        self.cols = cols = _cols(x, g)
        y = W.reshape(oc, -1) @ cols
        if b is not None:
            y += b.reshape(oc, 1)
        return np.ascontiguousarray(y.reshape(oc, n, g.oh, g.ow).transpose(1, 0, 2, 3))

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xs = self.saved_inputs
        need = self.needs_input_grad
        x, W = xs[0], xs[1]
        g = self.geometry
        gmat = _gy_matrix(gy, x.shape, g)
        gW = _conv_gW(gmat, x, W.shape, g, self.cols) if need[1] else None
        if self.frees_saved:
            # The window matrix is needed no more: freed before gx's as large one is made
            # (DeepConvNet's peak RSS: 45 MB less).
            del self.cols
        gx = _conv_gx(gmat, W, x.shape, g) if need[0] else None
        if len(xs) == 2:
            return gx, gW
        return gx, gW, gy.sum(axis=(0, 2, 3)) if need[2] else None


def _gy_matrix(gy: Any, x_shape: tuple[int, ...], g: _Geometry) -> Any:
    """conv2d's output gradient as the matrix its products take: for a Variable (recorded)
    (N*OH*OW, OC); for an array (N, OC, OH*OW) in the batched layout, else (OC, N*OH*OW)."""
    n, oc = gy.shape[:2]
    if isinstance(gy, Variable):
        return gy.transpose(0, 2, 3, 1).reshape(n * g.oh * g.ow, oc)
    if _batched(x_shape[1], g):
        return gy.reshape(n, oc, g.oh * g.ow)
    return gy.transpose(1, 0, 2, 3).reshape(oc, -1)


def _conv_gx(gmat: Any, W: Any, x_shape: tuple[int, ...], g: _Geometry) -> Any:
    """conv2d's input gradient: col2im(W^T @ gy), for an array or a recorded Variable."""
    oc = W.shape[0]
    if isinstance(gmat, Variable):
        return _col2im_any(gmat @ W.reshape(oc, -1), x_shape, g)
    if gmat.ndim == 3:
        gcols = np.matmul(W.reshape(oc, -1).T, gmat)
    else:
        gcols = W.reshape(oc, -1).T @ gmat
    return _uncols(_cols6(gcols, x_shape, g), x_shape, g)


def _conv_gW(gmat: Any, x: Any, W_shape: tuple[int, ...], g: _Geometry, cols: Any) -> Any:
    """conv2d's weight gradient: gy @ cols^T summed over the batch (cols saved by forward for
    an array; im2col of x recorded for a Variable, so that d gW / dx exists)."""
    if isinstance(gmat, Variable):
        return (gmat.T @ _im2col_any(x, g)).reshape(W_shape)
    if gmat.ndim == 3:
        return np.matmul(gmat, cols.transpose(0, 2, 1)).sum(axis=0).reshape(W_shape)
    return (gmat @ cols.T).reshape(W_shape)


def conv2d(
    x: Variable | Any,
    W: Variable | Any,
    b: Variable | Any = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
) -> Variable:
    """2-D convolution (cross-correlation, as in the book and PyTorch) with zero padding.

    x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None -> (N, OC, OH, OW) with
    OH = (H + 2 * padding - KH) // stride + 1. `stride` and `padding` are ints or pairs.
    """
    check_float(x, "conv2d")
    sx, sW = shape_of(x), shape_of(W)
    if len(sW) != 4:
        raise ValueError(
            f"conv2d: W must have shape (OC, C, KH, KW), got {len(sW)}-D shape {shape_str(sW)}"
        )
    _check_nchw("conv2d", sx, sW[1])
    if sx[1] != sW[1]:
        hint = ""
        if sx[3] == sW[1]:
            hint = "; x looks like NHWC (channels last): use x.transpose(0, 3, 1, 2)"
        raise ValueError(
            f"conv2d: x has {sx[1]} channels (shape {shape_str(sx)}) but W expects {sW[1]} "
            f"(W shape {shape_str(sW)}){hint}"
        )
    g = _geometry("conv2d", sx, (sW[2], sW[3]), stride, padding)
    if b is None:
        return _apply2(Conv2d(g), x, W)
    if shape_of(b) != (sW[0],):
        raise ValueError(
            f"conv2d: b has shape {shape_str(shape_of(b))}, expected ({sW[0]},) for W of shape "
            f"{shape_str(sW)}"
        )
    return Conv2d(g)(x, W, b)


# --------------------------------------------------------------------------- max pooling


def _argmax_dtype(g: _Geometry) -> type:
    return np.int8 if g.kh * g.kw <= 127 else np.int32


def _max_windows(x: np.ndarray, g: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The max of each window and its position inside the window (i * KW + j, the first one
    in row-major order among ties, as PyTorch picks).  -> y, idx: (N, C, OH, OW).

    Separable: a running max over the KW columns of each row, then over the KH rows of those
    maxima; KH + KW passes over strided views instead of KH * KW (3x faster for 2x2 windows
    here than comparing the four offsets one by one).
    """
    xp = _pad(x, g, -np.inf)
    dt = _argmax_dtype(g)
    cols_at = lambda j: xp[:, :, :, j : j + g.sw * (g.ow - 1) + 1 : g.sw]
    cols = [cols_at(j) for j in range(g.kw)]
    if g.sw > 1 and g.kw > 1:
        # NumPy's maximum over views strided in the last axis runs a scalar loop: copied
        # first: pooling forward 1.16x faster in float64, 1.18x in float32 (SimpleConvNet's
        # 2x2 pooling, 6.4 -> 5.5 ms and 4.1 -> 3.3 ms on a busy machine).
        cols = [np.ascontiguousarray(v) for v in cols]
    a, jbest = _running_max(cols, dt)
    rows_at = lambda arr, i: arr[:, :, i : i + g.sh * (g.oh - 1) + 1 : g.sh]
    y, ibest = _running_max([rows_at(a, i) for i in range(g.kh)], dt)
    if g.kw > 1:
        # The column of the winner, read from the row each window took. Integer arithmetic
        # rather than np.where or np.copyto(where=): 30x faster on int8 arrays here.
        jsel = rows_at(jbest, 0).copy()
        for i in range(1, g.kh):
            jsel += _flag(ibest == i, dt) * (rows_at(jbest, i) - jsel)
        ibest *= g.kw
        ibest += jsel
    return y, ibest


def _flag(mask: np.ndarray, dt: type) -> np.ndarray:
    """A boolean array as 0/1 integers of dtype dt (a free view for int8)."""
    return mask.view(np.int8) if dt is np.int8 else mask.astype(dt)


def _running_max(views: list[np.ndarray], dt: type) -> tuple[np.ndarray, np.ndarray]:
    """The elementwise max of same-shaped views (a new array) and the index of the first view
    that holds it (strict comparisons: ties keep the earlier one)."""
    best = views[0]
    index: np.ndarray = np.zeros(best.shape, dt)
    for k, cand in enumerate(views[1:], 1):
        better = _flag(cand > best, dt)
        best = np.maximum(best, cand)
        # k exceeds every index so far: the max sets it exactly where cand is better.
        index = np.maximum(index, better * k)
    return (best.copy() if len(views) == 1 else best), index


def _pool_scatter(gy: np.ndarray, idx: np.ndarray, x_shape: tuple[int, ...], g: _Geometry) -> Any:
    """Each gy element sent to its window's argmax (idx); overlaps add up.  -> x_shape."""
    n, c = x_shape[:2]
    hp, wp = g.padded
    if g.disjoint and gy.dtype.itemsize >= 8:
        # One element per window, none shared: one indexed assignment at the argmax's flat
        # positions (a table lookup per window plus the window's corner) instead of a
        # compare and a product through a strided view per offset: 1.58x faster for
        # SimpleConvNet's float64 2x2 pooling (4.0 -> 2.6 ms), but 0.83x in float32, whose
        # strided products cost half: there the loop below stays.
        gx = np.zeros((n, c, hp, wp), dtype=gy.dtype)
        within = (np.arange(g.kh)[:, None] * wp + np.arange(g.kw)).reshape(-1)
        corner = np.arange(g.oh)[:, None] * (g.sh * wp) + np.arange(g.ow) * g.sw
        pos = within[idx]
        pos += corner
        pos += (np.arange(n * c) * (hp * wp)).reshape(n, c, 1, 1)
        gx.reshape(-1)[pos.reshape(-1)] = gy.reshape(-1)
        return _crop(gx, g)
    tiled = g.disjoint and g.oh * g.kh == hp and g.ow * g.kw == wp
    gx = (np.empty if tiled else np.zeros)((n, c, hp, wp), dtype=gy.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            hit = idx == i * g.kw + j
            if tiled:
                np.multiply(gy, hit, out=_offset(gx, g, i, j))
            else:
                _offset(gx, g, i, j)[...] += gy * hit
    return _crop(gx, g)


def _pool_gather(gx: np.ndarray, idx: np.ndarray, g: _Geometry) -> np.ndarray:
    """The adjoint of `_pool_scatter`: each window's element at its argmax.  -> idx's shape."""
    gp = _pad(gx, g)
    out = np.zeros(idx.shape, dtype=gx.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            hit = idx == i * g.kw + j
            np.copyto(out, _offset(gp, g, i, j), where=hit)
    return out


class MaxPool2d(_Windowed):
    """y = the max of each window.  x (N, C, H, W) -> (N, C, OH, OW); padding reads -inf.

    dx: each gy element goes to the one input element its window took (the first among ties,
    as PyTorch); nothing to the others.
    """

    rule = "gx = gy sent to the argmax of each window (one element per window)"

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self.idx = _max_windows(x, self.geometry)
        return y

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return _pool_scatter_any(gy, self.idx, x.shape, self.geometry)


class PoolScatter(Function):
    """max_pool2d's backward as an op: gx = gy placed at the saved argmax of each window.
    (N, C, OH, OW) -> (N, C, H, W). Linear in gy; its own backward gathers at the argmax."""

    rule = "gx = gy gathered from the argmax of each window"
    backward_on_arrays = True
    saves_attrs = False
    __slots__ = ("geometry", "idx", "x_shape")

    def __init__(self, geometry: _Geometry, idx: np.ndarray, x_shape: tuple[int, ...]) -> None:
        self.geometry = geometry
        self.idx = idx
        self.x_shape = x_shape

    def forward(self, gy: np.ndarray) -> np.ndarray:
        return _pool_scatter(gy, self.idx, self.x_shape, self.geometry)

    def backward(self, ggx: Any) -> Any:
        return _pool_gather_any(ggx, self.idx, self.geometry)


class PoolGather(Function):
    """The adjoint of PoolScatter: each window's element at the saved argmax.
    (N, C, H, W) -> (N, C, OH, OW)."""

    rule = "gx = gy placed at the argmax of each window"
    backward_on_arrays = True
    saves_attrs = False
    __slots__ = ("geometry", "idx")

    def __init__(self, geometry: _Geometry, idx: np.ndarray) -> None:
        self.geometry = geometry
        self.idx = idx

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _pool_gather(x, self.idx, self.geometry)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return _pool_scatter_any(gy, self.idx, x.shape, self.geometry)


def _pool_scatter_any(gy: Any, idx: np.ndarray, x_shape: tuple[int, ...], g: _Geometry) -> Any:
    """`_pool_scatter` of an array, or the recorded PoolScatter op of a Variable."""
    if isinstance(gy, Variable):
        return _apply1(PoolScatter(g, idx, tuple(x_shape)), gy)
    return _pool_scatter(gy, idx, x_shape, g)


def _pool_gather_any(gx: Any, idx: np.ndarray, g: _Geometry) -> Any:
    """`_pool_gather` of an array, or the recorded PoolGather op of a Variable."""
    if isinstance(gx, Variable):
        return _apply1(PoolGather(g, idx), gx)
    return _pool_gather(gx, idx, g)


def _pool_geometry(
    op: str, x: Any, kernel_size: Any, stride: Any, padding: Any
) -> tuple[_Geometry, Any]:
    check_float(x, op)
    sx = shape_of(x)
    _check_nchw(op, sx)
    s = kernel_size if stride is None else stride
    g = _geometry(op, sx, kernel_size, s, padding)
    if 2 * g.ph > g.kh or 2 * g.pw > g.kw:
        raise ValueError(
            f"{op}: padding ({g.ph}, {g.pw}) must be at most half the kernel ({g.kh}, {g.kw})"
        )
    return g, x


def max_pool2d(
    x: Variable | Any,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
) -> Variable:
    """The max of each window.  x (N, C, H, W) -> (N, C, OH, OW).

    `stride` defaults to `kernel_size` (disjoint windows); padding (at most half the kernel)
    reads -inf. The gradient of a window goes to one element, the first maximum in row-major
    order (as PyTorch).
    """
    g, x = _pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    return _apply1(MaxPool2d(g), x)


# --------------------------------------------------------------------------- average pooling


def _avg_windows(x: np.ndarray, g: _Geometry) -> np.ndarray:
    """The mean of each window, padding counted as zeros (PyTorch's count_include_pad)."""
    xp = _pad(x, g)
    a = xp[:, :, :, 0 : g.sw * (g.ow - 1) + 1 : g.sw].copy()
    for j in range(1, g.kw):
        a += xp[:, :, :, j : j + g.sw * (g.ow - 1) + 1 : g.sw]
    y = a[:, :, 0 : g.sh * (g.oh - 1) + 1 : g.sh].copy()
    for i in range(1, g.kh):
        y += a[:, :, i : i + g.sh * (g.oh - 1) + 1 : g.sh]
    y *= y.dtype.type(1 / (g.kh * g.kw))
    return y


def _avg_scatter(gy: np.ndarray, x_shape: tuple[int, ...], g: _Geometry) -> np.ndarray:
    """The adjoint of `_avg_windows`: gy / (KH*KW) added onto every element of its window."""
    n, c = x_shape[:2]
    hp, wp = g.padded
    tiled = g.sh == g.kh and g.sw == g.kw and g.oh * g.kh == hp and g.ow * g.kw == wp
    gx = (np.empty if tiled else np.zeros)((n, c, hp, wp), dtype=gy.dtype)
    share = gy * gy.dtype.type(1 / (g.kh * g.kw))
    for i in range(g.kh):
        for j in range(g.kw):
            if tiled:
                _offset(gx, g, i, j)[...] = share
            else:
                _offset(gx, g, i, j)[...] += share
    return _crop(gx, g)


class AvgPool2d(_Windowed):
    """y = the mean of each window (padding counts as zeros).  x (N, C, H, W) ->
    (N, C, OH, OW); dx = gy / (KH*KW) added onto every element of the window."""

    rule = "gx = gy / (KH*KW) spread over each window"
    saves_attrs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _avg_windows(x, self.geometry)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return _avg_scatter_any(gy, x.shape, self.geometry)


class AvgPoolScatter(_OntoImage):
    """avg_pool2d's backward as an op: (N, C, OH, OW) -> (N, C, H, W); its adjoint (and so
    its backward) is avg_pool2d itself."""

    rule = "gx = avg_pool2d(gy)"

    def forward(self, gy: np.ndarray) -> np.ndarray:
        return _avg_scatter(gy, self.x_shape, self.geometry)

    def backward(self, ggx: Any) -> Any:
        return _avg_windows_any(ggx, self.geometry)


def _avg_windows_any(x: Any, g: _Geometry) -> Any:
    """`_avg_windows` of an array, or the recorded avg_pool2d op of a Variable."""
    if isinstance(x, Variable):
        return _apply1(AvgPool2d(g), x)
    return _avg_windows(x, g)


def _avg_scatter_any(gy: Any, x_shape: tuple[int, ...], g: _Geometry) -> Any:
    """`_avg_scatter` of an array, or the recorded AvgPoolScatter op of a Variable."""
    if isinstance(gy, Variable):
        return _apply1(AvgPoolScatter(g, tuple(x_shape)), gy)
    return _avg_scatter(gy, x_shape, g)


def avg_pool2d(
    x: Variable | Any,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
) -> Variable:
    """The mean of each window.  x (N, C, H, W) -> (N, C, OH, OW).

    `stride` defaults to `kernel_size`; padding (at most half the kernel) adds zeros that
    count in the mean (PyTorch's default, count_include_pad=True).
    """
    g, x = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    return _apply1(AvgPool2d(g), x)
