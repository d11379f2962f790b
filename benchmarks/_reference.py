"""The hand-written NumPy references: layers with a hand-written backward, as in the book.

These are what minigrad is measured against, with no graph, no bookkeeping and no generality:
the tiny ops of the per-op overhead benchmark with a hand-written backward on a tape;
the book's chapter 5 layers (one object per layer, `forward` saves what `backward` needs,
`backward` returns the input's gradient): `Affine`/`Relu`/`SoftmaxWithLoss` and `BookNet`
(the seed's `TwoLayerNet`, any depth), kept as the book wrote them; and `LeanNet`, the same
training step written as fast as NumPy allows, the reference of the MNIST bar.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = [
    "ADD",
    "MUL",
    "TANH",
    "Affine",
    "BookNet",
    "LeanNet",
    "Relu",
    "SoftmaxWithLoss",
    "chain_backward",
    "chain_forward",
    "cross_entropy_error",
    "softmax",
    "wide_backward",
    "wide_forward",
]


# ---------------------------------------------------------------- tiny ops (per-op overhead)
# The per-op reference: the graphs of bench_overhead.py with the backward written by hand. The
# forward appends to a list (the tape) what each op's backward needs, the backward walks it in
# reverse: the least bookkeeping a hand-written backward can do. (The book's form, one layer
# object per op with `forward`/`backward` methods, cost 1.2-1.5x more per op; FINDINGS.md.)

MUL, ADD, TANH = 0, 1, 2


def chain_forward(x: np.ndarray, a: np.ndarray, ops: list[int]) -> tuple[np.ndarray, list[Any]]:
    """y = x, then per op y * a (MUL), y + a (ADD) or tanh(y) (TANH); returns y and the tape
    (a for MUL, None for ADD, the output for TANH)."""
    tape: list[Any] = []
    push = tape.append
    y = x
    tanh = np.tanh
    for op in ops:
        if op == MUL:
            y = y * a
            push(a)
        elif op == ADD:
            y = y + a
            push(None)
        else:
            y = tanh(y)
            push(y)
    return y, tape


def chain_backward(tape: list[Any], ops: list[int], gy: np.ndarray) -> np.ndarray:
    """dy/dx of `chain_forward`'s y, seeded with gy."""
    g = gy
    for op, saved in zip(reversed(ops), reversed(tape)):
        if op == MUL:
            g = g * saved
        elif op == TANH:
            g = g * (1 - saved * saved)
    return g


def wide_forward(x: np.ndarray, consts: list[np.ndarray]) -> tuple[np.ndarray, list[Any]]:
    """s = x * a_0; s = s + x * a_i for the other constants; the tape holds the a_i."""
    it = iter(consts)
    a = next(it)
    s = x * a
    tape = [a]
    push = tape.append
    for a in it:
        s = s + x * a
        push(a)
    return s, tape


def wide_backward(tape: list[Any], gy: np.ndarray) -> np.ndarray:
    """dx of `wide_forward`'s s: every add passes gy on, every x * a_i adds gy * a_i to dx."""
    dx = gy * tape[0]
    for a in tape[1:]:
        dx += gy * a
    return dx


# ---------------------------------------------------------------- the seed's layers (training)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits, the seed's transposed form, shifted by the max."""
    x = x.T
    x = x - np.max(x, axis=0)
    y = np.exp(x) / np.sum(np.exp(x), axis=0)
    return y.T


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> Any:
    """Mean cross-entropy of probabilities y (N, C) for class indices t (N,), as in the seed."""
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Affine:
    """out = x @ W + b.  x: (N, in) -> out: (N, out); backward sets dW, db and returns dx.

    With `need_dx=False` the backward skips `dout @ W.T`: the first layer's input is the data
    batch, whose gradient nobody uses (the "lean" reference; the seed computes it).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, need_dx: bool = True) -> None:
        self.W = W
        self.b = b
        self.need_dx = need_dx

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return np.dot(dout, self.W.T) if self.need_dx else None


class Relu:
    """out = max(x, 0) through a saved mask; backward zeroes dout where x <= 0 (in place)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class SoftmaxWithLoss:
    """Softmax + cross-entropy for class indices t; backward is (y - onehot(t)) / N."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> Any:
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t)

    def backward(self) -> np.ndarray:
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class BookNet:
    """The seed's TwoLayerNet generalised to any depth: Affine1, Relu1, ..., AffineK.

    `weights` is a list of (W, b) pairs, copied into `params` (W1, b1, ...) in `dtype`.
    `lean=True` leaves out the first Affine's unused input gradient.
    """

    def __init__(
        self, weights: list[tuple[np.ndarray, np.ndarray]], dtype: Any, lean: bool = False
    ) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.layers: OrderedDict[str, Any] = OrderedDict()
        for i, (W, b) in enumerate(weights, start=1):
            self.params[f"W{i}"] = np.array(W, dtype=dtype)
            self.params[f"b{i}"] = np.array(b, dtype=dtype)
            need_dx = not (lean and i == 1)
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"], need_dx)
            if i < len(weights):
                self.layers[f"Relu{i}"] = Relu()
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, C) for inputs (N, in)."""
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> Any:
        """The mean cross-entropy loss of the batch."""
        return self.lastLayer.forward(self.predict(x), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Forward, then backward through the reversed layers; grads keyed like params."""
        self.loss(x, t)
        dout = self.lastLayer.backward()
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        grads = {}
        for name, layer in self.layers.items():
            if name.startswith("Affine"):
                i = name[len("Affine") :]
                grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        return grads

    def sgd_step(self, x: np.ndarray, t: np.ndarray, lr: float) -> None:
        """One training step of the seed's loop: gradient, then params -= lr * grads."""
        grads = self.gradient(x, t)
        for key in self.params:
            self.params[key] -= lr * grads[key]


# ---------------------------------------------------------------- the fastest honest step


class LeanNet:
    """One float32 SGD step of an MLP (Affine, ReLU, ..., Affine, softmax cross-entropy), by
    hand, as fast as NumPy allows: the reference the MNIST bar holds minigrad to.

    The math is BookNet's with `lean=True` (and minigrad's): the forward pass, the mean
    cross-entropy loss (through logsumexp, as minigrad computes it, kept in `self.loss`), the
    weight and bias gradients of every layer (kept in `grads`), the input gradient of every
    layer but the first, and `W -= lr * dW`. What makes it fast, each trick measured in
    benchmarks/FINDINGS.md (us per MNIST step at 1 BLAS thread):

    - nothing is allocated per step: every op writes into buffers made once per batch size
      (`out=`, in-place operators);
    - the parameters are views into one flat array and the gradients into another, so the
      SGD update is one multiply and one subtract over all of them (~6 us less than four
      `p -= lr * g`, each of which allocates `lr * g`);
    - the logits are computed transposed, (C, N): the row-wise max and sum of the softmax
      become reductions over C contiguous rows (~1.3 us each instead of ~5 us over the short
      axis);
    - the bias gradients are BLAS products with a vector of ones (~0.8 us instead of ~3 us
      for a sum over axis 0);
    - one flat index picks the target logits for the loss and subtracts the one-hot from the
      probabilities (two 2-D fancy indexings cost ~2 us more);
    - the gradient of the softmax cross-entropy is formed in place from the probabilities,
      with the 1/N folded into the normalisation; ReLU is applied in place and its backward
      mask is read from its output.

    `weights` is a list of (W, b) pairs (W: (in, out)), copied in float32.
    """

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]], lr: float) -> None:
        f32 = np.float32
        shapes = [s for W, b in weights for s in (np.shape(W), np.shape(b))]
        # Each array starts on a 64-byte boundary (16 float32), as a fresh allocation would.
        offsets, n = [], 0
        for s in shapes:
            offsets.append(n)
            n += -(-int(np.prod(s)) // 16) * 16
        self.theta = np.zeros(n, f32)
        self.grad = np.zeros(n, f32)
        self._update = np.zeros(n, f32)
        flat = [a for W, b in weights for a in (W, b)]
        views = []
        gviews = []
        for a, s, o in zip(flat, shapes, offsets):
            k = int(np.prod(s))
            views.append(self.theta[o : o + k].reshape(s))
            gviews.append(self.grad[o : o + k].reshape(s))
            views[-1][...] = a
        self.params = views
        self.grads = gviews
        self.lr = float(lr)
        self.loss: Any = None
        self._bufs: dict[int, Any] = {}

    def _buffers(self, n: int) -> Any:
        """The step's work arrays for batch size n, made on first use."""
        bufs = self._bufs.get(n)
        if bufs is None:
            f32 = np.float32
            Ws = self.params[0::2]
            hs = [np.empty((n, W.shape[1]), f32) for W in Ws[:-1]]
            bufs = (
                hs,
                [np.empty(h.shape, bool) for h in hs],
                [np.empty(h.shape, f32) for h in hs],
                np.empty((Ws[-1].shape[1], n), f32),
                np.empty(n, f32),
                np.empty(n, np.intp),
                np.arange(n),
                np.ones(n, f32),
            )
            self._bufs[n] = bufs
        return bufs

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        """One training step on x (N, in) float32 and class indices t (N,)."""
        n = x.shape[0]
        hs, masks, dhs, zT, s, idx, rows, ones = self._buffers(n)
        p, g = self.params, self.grads
        mm = np.matmul
        k = len(hs)
        # forward: h_i = relu(h_{i-1} @ W_i + b_i), logits transposed: zT = W_K^T h_{K-1}^T
        a = x
        for i in range(k):
            h = hs[i]
            mm(a, p[2 * i], out=h)
            h += p[2 * i + 1]
            np.maximum(h, 0, out=h)
            a = h
        mm(p[-2].T, a.T, out=zT)
        zT += p[-1][:, None]
        # loss = mean_n (log sum_c exp(z - max) - (z - max)[t_n]), as minigrad computes it
        np.maximum.reduce(zT, axis=0, out=s)
        zT -= s
        np.multiply(t, n, out=idx)
        idx += rows
        zf = zT.reshape(-1)
        picked = zf[idx].sum()
        np.exp(zT, out=zT)
        np.add.reduce(zT, axis=0, out=s)
        self.loss = (np.log(s).sum() - picked) / n
        # dz = (softmax - onehot) / N, in place
        np.divide(1.0 / n, s, out=s)
        zT *= s
        zf[idx] -= 1.0 / n
        # backward
        mm(a.T, zT.T, out=g[-2])
        np.dot(zT, ones, out=g[-1])
        if k:
            mm(zT.T, p[-2].T, out=dhs[-1])
        for i in range(k - 1, -1, -1):
            dh = dhs[i]
            np.greater(hs[i], 0, out=masks[i])
            dh *= masks[i]
            mm(x.T if i == 0 else hs[i - 1].T, dh, out=g[2 * i])
            np.dot(ones, dh, out=g[2 * i + 1])
            if i:
                mm(dh, p[2 * i].T, out=dhs[i - 1])
        # SGD on the flat arrays
        np.multiply(self.grad, self.lr, out=self._update)
        self.theta -= self._update
