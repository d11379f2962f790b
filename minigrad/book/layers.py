"""The book's layers (`common.layers`) with the book's protocol, their backwards by the engine.

Each layer keeps the book's interface: `forward(x)` takes and returns ndarrays,
`backward(dout)` returns the gradient for the input as an ndarray, and sets the gradients of
the layer's weights (`dW`, `db`; `dgamma`, `dbeta`). The weights (`W`, `b`, `gamma`, `beta`)
are plain attributes, read at each forward, so the book's `layer.W = params['W1']` rebinds
them. No backward is written here: `forward` records the layer's own small graph (fresh leaf
Variables for the input and the weights, then minigrad's ops), and `backward(dout)` runs the
engine from the layer's output with `dout` as its gradient and reads the leaves' gradients.

An input of another dtype than the layer's weights is cast to their common NumPy type first
(the book's float32 images into float64 weights give float64, as NumPy's `np.dot` does).
Dropout and BatchNormalization follow the book's conventions: dropout is not inverted (the
mask `np.random.rand(*x.shape) > dropout_ratio` in training, a scaling by `1 - dropout_ratio`
at test time), batch norm's running statistics use momentum 0.9 and the biased variance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.book.functions import cross_entropy_error, softmax
from minigrad.core import Variable, enable_grad

__all__ = [
    "Relu",
    "Sigmoid",
    "Affine",
    "SoftmaxWithLoss",
    "Dropout",
    "BatchNormalization",
    "Convolution",
    "Pooling",
    "batch_norm",
    "set_compute_dtype",
]


def _array(x: Any, where: str) -> np.ndarray:
    if isinstance(x, Variable):
        return x.data
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected a numeric array, got dtype {arr.dtype}")
    return arr


# None: compute as NumPy would (the book's float64 weights give float64); set_compute_dtype.
_compute: np.dtype | None = None


def set_compute_dtype(dtype: Any) -> np.dtype | None:
    """Make the layers compute in `dtype` (e.g. np.float32: weights and inputs are cast at
    each forward, the gradients come back in it), or as NumPy would with None (the default:
    the book's float64 weights give float64, the book's numbers). float32 runs the book's
    conv nets several times faster, at float32's rounding: a seeded run then no longer
    prints the book's digits. Returns the previous setting."""
    global _compute
    previous = _compute
    dt = None if dtype is None else np.dtype(dtype)
    if dt is not None and dt.kind != "f":
        raise TypeError(f"set_compute_dtype: dtype must be floating or None, got {dt}")
    _compute = dt
    return previous


def _floating(x: np.ndarray, *weights: np.ndarray) -> np.ndarray:
    """x in the NumPy type x and the weights would compute in (floating)."""
    if _compute is not None:
        return x if x.dtype == _compute else x.astype(_compute)
    xd = x.dtype
    if xd.kind == "f" and all(w.dtype == xd for w in weights):
        return x  # the common case, without NumPy's slower type resolution
    dt = np.result_type(xd, *(w.dtype for w in weights))
    if dt.kind != "f":
        dt = np.result_type(dt, np.float64)
    return x if x.dtype == dt else x.astype(dt)


def _leaf(a: Any, where: str, what: str) -> Variable:
    """A fresh leaf Variable over the weight array `a` (no copy; numbers and integer arrays
    become float64), so its gradient is new."""
    arr = a if type(a) is np.ndarray else a.data if isinstance(a, Variable) else np.asarray(a)
    if arr.dtype.kind != "f":
        if arr.dtype.kind not in "biu":
            raise TypeError(f"{where}: {what} must be a numeric array, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)  # the book's apply_filter.py passes b=0
    if _compute is not None and arr.dtype != _compute:
        arr = arr.astype(_compute)
    return Variable(arr, requires_grad=True)


class _Layer:
    """The protocol: `forward` records a graph from fresh leaves, `backward(dout)` runs the
    engine over it once and returns the input's gradient."""

    _graph: tuple[Variable, Variable] | None = None

    def _record(self, x: np.ndarray) -> Variable:
        """A leaf for the input of this forward (its gradient is what backward returns)."""
        return Variable(x, requires_grad=x.dtype.kind == "f")

    def _keep(self, out: Variable, x: Variable) -> np.ndarray:
        self._graph = (out, x)
        return out.data

    def _run_backward(self, dout: Any) -> np.ndarray:
        name = type(self).__name__
        if self._graph is None:
            raise RuntimeError(
                f"{name}.backward: no forward to go back through (call forward first; each "
                "forward allows one backward)"
            )
        out, x = self._graph
        self._graph = None
        g = _array(dout, f"{name}.backward")
        if g.shape != out.shape:
            raise ValueError(
                f"{name}.backward: dout has shape {g.shape}, but the forward's output has "
                f"shape {out.shape}"
            )
        if out.creator is None:  # nothing recorded (an input that does not require grad)
            return np.zeros(x.shape)
        out.backward(g.astype(out.dtype, copy=False))
        return _grad(x)

    def backward(self, dout: Any) -> np.ndarray:
        """The gradient for the last forward's input, given `dout` for its output."""
        return self._run_backward(dout)


def _grad(v: Variable) -> np.ndarray:
    return np.zeros_like(v.data) if v.grad is None else v.grad.data


class Relu(_Layer):
    """max(x, 0). `mask` (x <= 0 of the last forward's x) is there, as in the book."""

    def __init__(self) -> None:
        self._x: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray | None:
        # Made when read (the book's scripts never read it): the forward's pass saved is
        # 0.4 to 0.8 ms of the 60 ms of train_convnet.py's float64 step here.
        if self._mask is None and self._x is not None:
            self._mask = self._x <= 0
        return self._mask

    @mask.setter
    def mask(self, value: np.ndarray | None) -> None:
        self._mask, self._x = value, None

    def forward(self, x: Any) -> np.ndarray:
        x = _array(x, "Relu.forward")
        self._x, self._mask = x, None
        with enable_grad():
            xv = self._record(x)
            return self._keep(F.relu(xv), xv)


class Sigmoid(_Layer):
    """1 / (1 + exp(-x)). `out` is kept, as in the book."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = _array(x, "Sigmoid.forward")
        with enable_grad():
            xv = self._record(x)
            self.out = self._keep(F.sigmoid(xv), xv)
        return self.out


class Affine(_Layer):
    """x.reshape(N, -1) @ W + b, for x (N, ...) and W (D, M), b (M,) -> (N, M); backward
    returns dx in x's original shape and sets `dW`, `db`."""

    def __init__(self, W: Any, b: Any) -> None:
        self.W = W
        self.b = b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self._leaves: tuple[Variable, Variable] | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = _array(x, "Affine.forward")
        W, b = _leaf(self.W, "Affine", "W"), _leaf(self.b, "Affine", "b")
        if x.ndim < 1 or W.ndim != 2 or int(np.prod(x.shape[1:])) != W.shape[0]:
            raise ValueError(
                f"Affine.forward: x of shape {x.shape} has {int(np.prod(x.shape[1:]))} features "
                f"per row but W has shape {W.shape}"
            )
        self.original_x_shape = x.shape
        x = _floating(x, W.data, b.data)
        self.x = x.reshape(x.shape[0], -1)
        self._leaves = (W, b)
        with enable_grad():
            xv = self._record(x)
            flat = xv if x.ndim == 2 else xv.reshape(x.shape[0], -1)
            return self._keep(F.linear(flat, W, b), xv)

    def backward(self, dout: Any) -> np.ndarray:
        dx = self._run_backward(dout)
        assert self._leaves is not None
        self.dW, self.db = _grad(self._leaves[0]), _grad(self._leaves[1])
        return dx


class SoftmaxWithLoss(_Layer):
    """`forward(x, t)`: the mean cross-entropy of softmax(x) against t (class indices (N,) or
    one-hot (N, C)), returned as a number with the book's value (its log(y + 1e-7)); `y`,
    `t` and `loss` are kept. `backward(dout=1)` returns dout * (softmax(x) - t) / N, the
    book's gradient, computed by the engine (`F.softmax_cross_entropy`)."""

    def __init__(self) -> None:
        self.loss: Any = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None
        self._x: np.ndarray | None = None

    def forward(self, x: Any, t: Any) -> Any:
        x = _floating(_array(x, "SoftmaxWithLoss.forward"))
        t = _array(t, "SoftmaxWithLoss.forward")
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, t)
        self._x = x
        return self.loss

    def backward(self, dout: Any = 1) -> np.ndarray:
        x, t = self._x, self.t
        if x is None or t is None:
            raise RuntimeError(
                "SoftmaxWithLoss.backward: no forward to go back through (call forward first; "
                "each forward allows one backward)"
            )
        self._x = None
        # The graph is recorded here rather than in forward: most forwards of the book's
        # scripts (numerical gradients, losses after an update) are never gone back through.
        with enable_grad():
            xv = self._record(x)
            if t.size == x.size and t.size != x.shape[0]:
                target = t.reshape(x.shape).astype(x.dtype, copy=False)  # one-hot rows
            else:
                target = t.reshape(x.shape[0])  # indices, as the book's indexing reads them
            self._keep(F.softmax_cross_entropy(xv, target), xv)
        return self._run_backward(dout)


class Dropout(_Layer):
    """The book's dropout (not inverted): `forward(x, train_flg=True)` keeps each element with
    probability 1 - dropout_ratio (`mask = np.random.rand(*x.shape) > dropout_ratio`, drawn
    from NumPy's global generator as the book does) and zeroes the rest; with
    `train_flg=False` it scales x by 1 - dropout_ratio."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        if isinstance(dropout_ratio, bool) or not isinstance(dropout_ratio, int | float):
            raise TypeError(
                f"Dropout: dropout_ratio must be a number, got {type(dropout_ratio).__name__}"
            )
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = dropout_ratio
        self.mask: np.ndarray | None = None

    def forward(self, x: Any, train_flg: bool = True) -> np.ndarray:
        x = _array(x, "Dropout.forward")
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio  # noqa: NPY002 - the book's
            keep = self.mask.astype(x.dtype if x.dtype.kind == "f" else np.float64)
        else:
            keep = np.asarray(1.0 - self.dropout_ratio)
        with enable_grad():
            xv = self._record(_floating(x))
            return self._keep(F.mul(xv, keep.astype(xv.dtype)), xv)


class BatchNormalization(_Layer):
    """The book's batch norm: `BatchNormalization(gamma, beta, momentum=0.9, running_mean=None,
    running_var=None)`; `forward(x, train_flg=True)` for x (N, D) or (N, C, H, W) (flattened
    to (N, C*H*W), one statistic per column). In training: xn = (x - mu) / sqrt(var + 10e-7)
    with the batch's mean and biased variance, and the running statistics (zeros at first)
    become momentum * r + (1 - momentum) * batch statistic; at test time they normalize x.
    out = gamma * xn + beta. backward sets `dgamma`, `dbeta`."""

    def __init__(
        self,
        gamma: Any,
        beta: Any,
        momentum: float = 0.9,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
    ) -> None:
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape: tuple[int, ...] | None = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None
        self._leaves: tuple[Variable, Variable] | None = None

    def forward(self, x: Any, train_flg: bool = True) -> np.ndarray:
        x = _array(x, "BatchNormalization.forward")
        gamma = _leaf(self.gamma, "BatchNormalization", "gamma")
        beta = _leaf(self.beta, "BatchNormalization", "beta")
        self.input_shape = x.shape
        n = x.shape[0]
        d = int(np.prod(x.shape[1:]))
        if x.ndim < 2 or gamma.shape != (d,) or beta.shape != (d,):
            raise ValueError(
                f"BatchNormalization.forward: x of shape {x.shape} has {d} values per row; "
                f"gamma and beta have shapes {gamma.shape} and {beta.shape}"
            )
        x = _floating(x, gamma.data, beta.data)
        if self.running_mean is None or self.running_var is None:
            self.running_mean = np.zeros(d)
            self.running_var = np.zeros(d)
        running_mean, running_var = self.running_mean, self.running_var
        self._leaves = (gamma, beta)
        with enable_grad():
            xv = self._record(x)
            out, stats = batch_norm(
                xv.reshape(n, d), gamma, beta, running_mean, running_var, train_flg, self.momentum
            )
            self.running_mean, self.running_var = stats
            return self._keep(out.reshape(*x.shape), xv)

    def backward(self, dout: Any) -> np.ndarray:
        dx = self._run_backward(dout)
        assert self._leaves is not None
        self.dgamma, self.dbeta = _grad(self._leaves[0]), _grad(self._leaves[1])
        return dx


def batch_norm(
    x: Variable,
    gamma: Variable,
    beta: Variable,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    train_flg: bool,
    momentum: float = 0.9,
) -> tuple[Variable, tuple[np.ndarray, np.ndarray]]:
    """The book's batch norm on x (N, D), recorded op by op, and the new running statistics.

    Training: xn = (x - mu) / sqrt(var + 10e-7) with the batch's mean and biased variance
    (a batch of one gives xn = 0, as in the book), and the statistics become
    momentum * r + (1 - momentum) * batch statistic. Test: the running statistics normalize
    x. Returns (gamma * xn + beta, (running_mean, running_var)).
    """
    if train_flg:
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc * xc).mean(axis=0)
        xn = xc / F.sqrt(var + 10e-7)
        m = momentum
        stats = (m * running_mean + (1 - m) * mu.data, m * running_var + (1 - m) * var.data)
    else:
        dt = x.dtype
        xn = (x - running_mean.astype(dt)) / np.sqrt(running_var + 10e-7).astype(dt)
        stats = (running_mean, running_var)
    return gamma * xn + beta, stats


class Convolution(_Layer):
    """`Convolution(W, b, stride=1, pad=0)`: x (N, C, H, W), W (FN, C, FH, FW), b (FN,) ->
    (N, FN, OH, OW), zero padding, as the book's im2col convolution (run as `F.conv2d`);
    backward sets `dW`, `db`."""

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self._leaves: tuple[Variable, Variable] | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = _array(x, "Convolution.forward")
        W, b = _leaf(self.W, "Convolution", "W"), _leaf(self.b, "Convolution", "b")
        if b.ndim == 0 and W.ndim == 4:  # one bias for every filter, broadcast as NumPy does
            b = Variable(np.full(W.shape[0], b.data), requires_grad=True)
        x = _floating(x, W.data, b.data)
        self.x = x
        self._leaves = (W, b)
        with enable_grad():
            xv = self._record(x)
            return self._keep(F.conv2d(xv, W, b, self.stride, self.pad), xv)

    def backward(self, dout: Any) -> np.ndarray:
        dx = self._run_backward(dout)
        assert self._leaves is not None
        self.dW, self.db = _grad(self._leaves[0]), _grad(self._leaves[1])
        return dx


class Pooling(_Layer):
    """`Pooling(pool_h, pool_w, stride=2, pad=0)`: max pooling of x (N, C, H, W) over
    pool_h x pool_w windows (the book's default stride 2; its padding reads zeros)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = _floating(_array(x, "Pooling.forward"))
        self.x = x
        with enable_grad():
            xv = self._record(x)
            xp = xv
            if self.pad:
                # The book's im2col pads with zeros (not -inf): pad first, then pool.
                p = self.pad
                zeros_h = np.zeros((*x.shape[:2], p, x.shape[3]), x.dtype)
                xp = F.concatenate([zeros_h, xv, zeros_h], axis=2)
                zeros_w = np.zeros((*x.shape[:2], x.shape[2] + 2 * p, p), x.dtype)
                xp = F.concatenate([zeros_w, xp, zeros_w], axis=3)
            out = F.max_pool2d(xp, (self.pool_h, self.pool_w), self.stride, 0)
            return self._keep(out, xv)
