"""Hand-written NumPy conv nets for bench_conv.py: the references minigrad is timed against.

Two implementations of the same layers (convolution, ReLU, max pooling, affine, dropout,
softmax with loss), each a class with `forward` and a hand-written `backward`, as in the book:

- `fast`: as fast as NumPy allows here, float32 by default. Windows through one strided view
  of the padded input (`as_strided`), copied once into (C*FH*FW, N*OH*OW) so that each
  product with the weights is one GEMM for the whole batch (or, for one-channel inputs, into
  (N, C*FH*FW, OH*OW) for batched GEMMs that give NCHW directly); 2x2 pooling as a
  separable max over strided views; ReLU and its backward in place; the data batch's gradient
  skipped (the first convolution computes no dx). No Python loop over the batch or the output
  positions (the only loops run over the FH*FW offsets of a window, in col2im and pooling).
- `book`: the book's algorithm written anew: im2col through a loop over the filter offsets
  into (N, C, FH, FW, OH, OW), transposed to (N*OH*OW, C*FH*FW); pooling as im2col + argmax;
  col2im by the same loop; every layer's dx computed (the first one's too), in float64.

Both nets are built from a dict of weights (W1, b1, ...) and a layout ("simple" for
SimpleConvNet, "deep" for DeepConvNet) and train with `sgd_step(x, t, lr)`. No minigrad here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["ConvNetReference", "LAYOUTS"]

# Convolutions whose windows have at most this many rows (C*FH*FW) use batched GEMMs, the
# others one wide GEMM (the rule and the measurements behind it: minigrad/functions/conv.py).
BATCHED_MAX_ROWS = 32

# (kind, ...) per layer; "conv" and "affine" take the next W, b of the weights dict in order.
LAYOUTS: dict[str, list[tuple[Any, ...]]] = {
    "simple": [
        ("conv", 1, 0),
        ("relu",),
        ("pool", 2, 2),
        ("affine",),
        ("relu",),
        ("affine",),
    ],
    "deep": [
        ("conv", 1, 1),
        ("relu",),
        ("conv", 1, 1),
        ("relu",),
        ("pool", 2, 2),
        ("conv", 1, 1),
        ("relu",),
        ("conv", 1, 2),
        ("relu",),
        ("pool", 2, 2),
        ("conv", 1, 1),
        ("relu",),
        ("conv", 1, 1),
        ("relu",),
        ("pool", 2, 2),
        ("affine",),
        ("relu",),
        ("dropout", 0.5),
        ("affine",),
        ("dropout", 0.5),
    ],
}


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    if not p:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * p, w + 2 * p), x.dtype)
    xp[:, :, p : p + h, p : p + w] = x
    return xp


# ----------------------------------------------------------------------------- fast layers


class FastConv:
    """One GEMM per product: the windows as (C*FH*FW, N*OH*OW), so that the weights multiply
    all images at once (a batched matmul of N small GEMMs costs 3x more here with OpenBLAS on
    two busy cores: each small GEMM waits on its threads)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int, pad: int) -> None:
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.need_dx = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        fn, _, fh, fw = self.W.shape
        s, p = self.stride, self.pad
        oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
        xp = _pad(x, p)
        sn, sc, sh, sw = xp.strides
        win = as_strided(xp, (c, fh, fw, n, oh, ow), (sc, sh, sw, sn, sh * s, sw * s))
        self.x_shape, self.out_hw = x.shape, (oh, ow)
        self.cols = win.reshape(c * fh * fw, n * oh * ow)
        y = self.W.reshape(fn, -1) @ self.cols
        y += self.b[:, None]
        return y.reshape(fn, n, oh, ow).transpose(1, 0, 2, 3).copy()

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        n, fn, oh, ow = dout.shape
        d = dout.transpose(1, 0, 2, 3).reshape(fn, -1)
        self.dW = (d @ self.cols.T).reshape(self.W.shape)
        self.cols = None  # freed before gcols, as large, is made
        self.db = dout.sum(axis=(0, 2, 3))  # summed as minigrad sums it, for exactness
        if not self.need_dx:
            return None
        _, c, h, w = self.x_shape
        _, _, fh, fw = self.W.shape
        s, p = self.stride, self.pad
        gcols = (self.W.reshape(fn, -1).T @ d).reshape(c, fh, fw, n, oh, ow)
        gx = np.zeros((n, c, h + 2 * p, w + 2 * p), dout.dtype)
        gxt = gx.transpose(1, 0, 2, 3)
        for i in range(fh):
            for j in range(fw):
                gxt[:, :, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s] += gcols[
                    :, i, j
                ]
        return gx[:, :, p : p + h, p : p + w] if p else gx


class FastConvBatched(FastConv):
    """The same with the windows as (N, C*FH*FW, OH*OW) and batched GEMMs (NCHW directly)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        fn, _, fh, fw = self.W.shape
        s, p = self.stride, self.pad
        oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
        xp = _pad(x, p)
        sn, sc, sh, sw = xp.strides
        win = as_strided(xp, (n, c, fh, fw, oh, ow), (sn, sc, sh, sw, sh * s, sw * s))
        self.x_shape, self.out_hw = x.shape, (oh, ow)
        self.cols = win.reshape(n, c * fh * fw, oh * ow)
        y = np.matmul(self.W.reshape(fn, -1), self.cols)
        y += self.b[:, None]
        return y.reshape(n, fn, oh, ow)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        n, fn = dout.shape[:2]
        d = dout.reshape(n, fn, -1)
        self.dW = np.matmul(d, self.cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.W.shape)
        self.cols = None
        self.db = d.sum(axis=(0, 2))
        if not self.need_dx:
            return None
        _, c, h, w = self.x_shape
        _, _, fh, fw = self.W.shape
        s, p = self.stride, self.pad
        oh, ow = self.out_hw
        gcols = np.matmul(self.W.reshape(fn, -1).T, d).reshape(n, c, fh, fw, oh, ow)
        gx = np.zeros((n, c, h + 2 * p, w + 2 * p), dout.dtype)
        for i in range(fh):
            for j in range(fw):
                gx[:, :, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s] += gcols[
                    :, :, i, j
                ]
        return gx[:, :, p : p + h, p : p + w] if p else gx


class FastRelu:
    def forward(self, x: np.ndarray) -> np.ndarray:
        # In place: x is the previous layer's fresh output, which nothing else holds.
        self.out = np.maximum(x, 0, out=x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        np.multiply(dout, self.out > 0, out=dout)
        self.out = None
        return dout


class FastPool:
    """2x2 (any kernel = stride, no padding) max pooling: a separable max, first max wins."""

    def __init__(self, k: int, stride: int) -> None:
        assert k == stride, "FastPool: disjoint windows only"
        self.k = k

    def forward(self, x: np.ndarray) -> np.ndarray:
        k = self.k
        n, c, h, w = x.shape
        oh, ow = h // k, w // k
        self.x_shape = x.shape
        cols = [x[:, :, : oh * k, j : j + k * (ow - 1) + 1 : k] for j in range(k)]
        a, jb = cols[0], np.zeros(cols[0].shape, np.int8)
        for j, cand in enumerate(cols[1:], 1):
            # Integer arithmetic on int8 flags: 30x faster than np.where or copyto(where=).
            jb = np.maximum(jb, (cand > a).view(np.int8) * j)
            a = np.maximum(a, cand)
        rows = [a[:, :, i::k] for i in range(k)]
        y, ib = rows[0], np.zeros(rows[0].shape, np.int8)
        for i, cand in enumerate(rows[1:], 1):
            ib = np.maximum(ib, (cand > y).view(np.int8) * i)
            y = np.maximum(y, cand)
        jsel = jb[:, :, 0::k].copy()
        for i in range(1, k):
            jsel += (ib == i).view(np.int8) * (jb[:, :, i::k] - jsel)
        self.idx = ib * k + jsel
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        k = self.k
        n, c, h, w = self.x_shape
        oh, ow = dout.shape[2:]
        exact = oh * k == h and ow * k == w
        gx = (np.empty if exact else np.zeros)(self.x_shape, dout.dtype)
        for i in range(k):
            for j in range(k):
                np.multiply(
                    dout,
                    self.idx == i * k + j,
                    out=gx[:, :, i : i + k * (oh - 1) + 1 : k, j : j + k * (ow - 1) + 1 : k],
                )
        self.idx = None
        return gx


class FastAffine:
    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        self.x = None
        return (dout @ self.W.T).reshape(self.x_shape)


class FastDropout:
    """The book's dropout, not inverted (as minigrad's DeepConvNet, `nn.BookDropout`): the
    mask `np.random.rand(*x.shape) > ratio` from np.random's stream, like the book's."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio

    def forward(self, x: np.ndarray) -> np.ndarray:
        shape = x.shape
        self.keep = (np.random.rand(*shape) > self.ratio).astype(x.dtype)  # noqa: NPY002
        return x * self.keep

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.keep


def _softmax_loss(x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient (softmax - onehot) / N, stable."""
    n = x.shape[0]
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.log(s).sum() - z[np.arange(n), t].sum()) / n
    e /= s
    e[np.arange(n), t] -= 1
    e *= e.dtype.type(1 / n)
    return loss, e


# ----------------------------------------------------------------------------- book-style layers


def book_im2col(img: np.ndarray, fh: int, fw: int, s: int, p: int) -> np.ndarray:
    """(N, C, H, W) -> (N*OH*OW, C*FH*FW), filled one filter offset at a time."""
    n, c, h, w = img.shape
    oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
    src = np.pad(img, [(0, 0), (0, 0), (p, p), (p, p)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow), img.dtype)
    for dy in range(fh):
        for dx in range(fw):
            col[:, :, dy, dx] = src[:, :, dy : dy + s * oh : s, dx : dx + s * ow : s]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def book_col2im(
    col: np.ndarray, shape: tuple[int, ...], fh: int, fw: int, s: int, p: int
) -> np.ndarray:
    """The adjoint of book_im2col, by the same loop over the filter offsets."""
    n, c, h, w = shape
    oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
    c6 = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * p + s - 1, w + 2 * p + s - 1), col.dtype)
    for dy in range(fh):
        for dx in range(fw):
            img[:, :, dy : dy + s * oh : s, dx : dx + s * ow : s] += c6[:, :, dy, dx]
    return img[:, :, p : h + p, p : w + p]


class BookConv:
    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int, pad: int) -> None:
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.need_dx = True  # the book computes it for every layer

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh = (h + 2 * self.pad - fh) // self.stride + 1
        ow = (w + 2 * self.pad - fw) // self.stride + 1
        self.x_shape = x.shape
        self.col = book_im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = self.col @ self.col_W + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        fn, c, fh, fw = self.W.shape
        d = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = d.sum(axis=0)
        self.dW = (self.col.T @ d).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = d @ self.col_W.T
        return book_col2im(dcol, self.x_shape, fh, fw, self.stride, self.pad)


class BookRelu:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class BookPool:
    def __init__(self, k: int, stride: int) -> None:
        self.k, self.stride = k, stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        oh, ow = (h - self.k) // self.stride + 1, (w - self.k) // self.stride + 1
        col = book_im2col(x, self.k, self.k, self.stride, 0).reshape(-1, self.k * self.k)
        self.x_shape = x.shape
        self.arg_max = np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        d = dout.transpose(0, 2, 3, 1)
        size = self.k * self.k
        dmax = np.zeros((d.size, size), dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = d.flatten()
        dcol = dmax.reshape(d.shape[0] * d.shape[1] * d.shape[2], -1)
        return book_col2im(dcol, self.x_shape, self.k, self.k, self.stride, 0)


# ----------------------------------------------------------------------------- the nets


class ConvNetReference:
    """A conv net of `layout` ("simple" or "deep") from `weights` (W1, b1, ... in float64),
    in `dtype`, with the `fast` or `book` layers. `sgd_step(x, t, lr)` trains one step."""

    def __init__(self, weights: dict[str, np.ndarray], layout: str, dtype: Any, kind: str) -> None:
        self.dtype = np.dtype(dtype)
        self.params = {k: np.array(v, dtype=self.dtype) for k, v in weights.items()}
        fast = kind in ("fast", "batched")
        self.layers: list[Any] = []
        self.trained: list[tuple[Any, str]] = []
        i = 0
        for spec in LAYOUTS[layout]:
            kind_ = spec[0]
            if kind_ in ("conv", "affine"):
                i += 1
                W, b = self.params[f"W{i}"], self.params[f"b{i}"]
                if kind_ == "conv":
                    if not fast:
                        cls: Any = BookConv
                    elif kind == "batched" or W[0].size <= BATCHED_MAX_ROWS:
                        cls = FastConvBatched
                    else:
                        cls = FastConv
                    layer: Any = cls(W, b, spec[1], spec[2])
                else:
                    layer = FastAffine(W, b)
                self.trained.append((layer, str(i)))
            elif kind_ == "relu":
                layer = FastRelu() if fast else BookRelu()
            elif kind_ == "pool":
                layer = (FastPool if fast else BookPool)(spec[1], spec[2])
            else:
                layer = FastDropout(spec[1])
            self.layers.append(layer)
        if fast:
            # The data batch needs no gradient: the first convolution skips dx.
            self.layers[0].need_dx = False

    def sgd_step(self, x: np.ndarray, t: np.ndarray, lr: float) -> float:
        for layer in self.layers:
            x = layer.forward(x)
        loss, d = _softmax_loss(x, t)
        for layer in reversed(self.layers):
            d = layer.backward(d)
        lr_ = self.dtype.type(lr)
        for layer, k in self.trained:
            self.params[f"W{k}"] -= lr_ * layer.dW
            self.params[f"b{k}"] -= lr_ * layer.db
        return loss
