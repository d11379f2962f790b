"""The book's chapter-7 layers written in the book's style (forward and a hand-written
backward per layer, im2col by a loop over the filter offsets), to check minigrad's
SimpleConvNet against. Written for these tests; plain NumPy, float64."""

from __future__ import annotations

import numpy as np


def im2col(x, fh, fw, stride, pad):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    out = np.empty((n, c, fh, fw, oh, ow))
    for i in range(fh):
        for j in range(fw):
            out[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return out.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(cols, shape, fh, fw, stride, pad):
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    c6 = cols.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for i in range(fh):
        for j in range(fw):
            xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += c6[:, :, i, j]
    return xp[:, :, pad : pad + h, pad : pad + w]


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh = (h + 2 * self.pad - fh) // self.stride + 1
        ow = (w + 2 * self.pad - fw) // self.stride + 1
        self.x_shape = x.shape
        self.col = im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        return (self.col @ self.col_W + self.b).reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        d = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = d.sum(axis=0)
        self.dW = (self.col.T @ d).T.reshape(fn, c, fh, fw)
        return col2im(d @ self.col_W.T, self.x_shape, fh, fw, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.ph, self.pw, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        n, c, h, w = x.shape
        oh = (h + 2 * self.pad - self.ph) // self.stride + 1
        ow = (w + 2 * self.pad - self.pw) // self.stride + 1
        col = im2col(x, self.ph, self.pw, self.stride, self.pad).reshape(-1, self.ph * self.pw)
        self.x_shape, self.arg = x.shape, col.argmax(axis=1)
        return col.max(axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        d = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((d.size, self.ph * self.pw))
        dmax[np.arange(self.arg.size), self.arg] = d.reshape(-1)
        dcol = dmax.reshape(d.shape[0] * d.shape[1] * d.shape[2], -1)
        return col2im(dcol, self.x_shape, self.ph, self.pw, self.stride, self.pad)


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, 0.0, x)

    def backward(self, dout):
        return np.where(self.mask, 0.0, dout)


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.shape)


class SoftmaxWithLoss:
    def forward(self, x, t):
        z = x - x.max(axis=1, keepdims=True)
        self.y = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        self.t = t
        return -np.log(self.y[np.arange(len(t)), t]).mean()

    def backward(self):
        d = self.y.copy()
        d[np.arange(len(self.t)), self.t] -= 1
        return d / len(self.t)


def book_gradient(layers, x, t):
    """The book's gradient: forward through `layers`, SoftmaxWithLoss, then every layer's
    backward in reverse; returns the loss and {W1, b1, ...} in the order of the layers."""
    last = SoftmaxWithLoss()
    for layer in layers:
        x = layer.forward(x)
    loss = last.forward(x, t)
    d = last.backward()
    for layer in reversed(layers):
        d = layer.backward(d)
    grads = {}
    for i, layer in enumerate([la for la in layers if hasattr(la, "dW")], 1):
        grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
    return loss, grads


def simple_conv_net(params, stride, pad):
    """SimpleConvNet's layers: conv - relu - pool(2, 2, stride 2) - affine - relu - affine."""
    p = params
    return [
        Convolution(p["W1"], p["b1"], stride, pad),
        Relu(),
        Pooling(2, 2, stride=2),
        Affine(p["W2"], p["b2"]),
        Relu(),
        Affine(p["W3"], p["b3"]),
    ]


class Scale:
    """The book's dropout in evaluation: x * (1 - dropout_ratio)."""

    def __init__(self, s):
        self.s = s

    def forward(self, x):
        return x * self.s

    def backward(self, d):
        return d * self.s


def deep_conv_net(params, pads):
    """DeepConvNet's layers in evaluation mode (its dropouts, the book's, then scale by
    1 - 0.5)."""
    layers = []
    for i in range(6):
        layers += [Convolution(params[f"W{i + 1}"], params[f"b{i + 1}"], 1, pads[i]), Relu()]
        if i % 2:
            layers.append(Pooling(2, 2, stride=2))
    return layers + [
        Affine(params["W7"], params["b7"]),
        Relu(),
        Scale(0.5),
        Affine(params["W8"], params["b8"]),
        Scale(0.5),
    ]
