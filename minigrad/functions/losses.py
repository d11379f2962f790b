"""Losses: softmax_cross_entropy (fused, the book's SoftmaxWithLoss), mean_squared_error,
binary_cross_entropy_with_logits. Each returns a scalar: the mean over the batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply2
from minigrad.functions import _both as both
from minigrad.functions._util import (
    check_float,
    data_of,
    log_softmax_array,
    rows,
    shape_of,
    shape_str,
)

__all__ = ["softmax_cross_entropy", "mean_squared_error", "binary_cross_entropy_with_logits"]


def _in_dtype_of(t: Any, x: Any) -> Any:
    """A constant target `t` cast to the dtype of the floating input `x`, so that a float64 or
    integer target never promotes float32 predictions (a Variable target is left as it is)."""
    xd = data_of(x)
    if isinstance(t, Variable) or not isinstance(xd, np.ndarray) or xd.dtype.kind != "f":
        return t
    return np.asarray(t, dtype=xd.dtype)


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


#: Up to this many classes softmax_cross_entropy works on the transposed logits (see its
#: forward).
_TRANSPOSE_BELOW = 64


class SoftmaxCrossEntropy(Function):
    """loss = -mean_n log softmax(x)[n, t_n].  x: (N, C) logits; t: (N,) class indices -> ().

    Computed through logsumexp (stable for any logits); the fused backward is
    dx = (softmax(x) - onehot(t)) * gy / N.
    """

    rule = "gx = (softmax(x) - onehot(t)) * gy / N"
    backward_on_arrays = True
    nondiff_inputs = (1,)

    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        n, c = x.shape
        # Few classes: the logits transposed, (C, N) and contiguous: the max and the sum over
        # the classes reduce across whole rows, and one flat index finds each sample's target
        # (the MNIST step of bench_mnist.py costs 2.3% more with (N, C) and 2-D indexing, in
        # instructions under callgrind). Many classes (a language model's vocabulary): the
        # transposing copy itself dominates (bench_rnn.py's 700 x 10,000 logits: 40 ms of
        # a 150 ms step), so the rows stay as they are.
        self.transposed = transposed = c <= _TRANSPOSE_BELOW
        if transposed:
            z = x.T.copy()  # a copy always (for N = 1 x.T is already contiguous)
            z -= z.max(axis=0)
            self.target = target = t * n + rows(n)  # z[t_n, n] in z's flat layout
        else:
            z = x - x.max(axis=1, keepdims=True)
            self.target = target = rows(n) * c + t  # z[n, t_n] in z's flat layout
        axis = 0 if transposed else 1
        picked = z.reshape(-1)[target].sum()
        e = np.exp(z, out=z)
        s = e.sum(axis=axis, keepdims=not transposed)
        loss = np.log(s).sum() - picked
        e /= s
        self.p = e  # softmax(x), transposed if `transposed`
        return np.asarray(loss / n, dtype=x.dtype)

    def backward(self, gy: Any) -> tuple[Any, None]:
        x, t = self.saved_inputs
        g = _softmax_minus_onehot(x, t, self)
        if isinstance(g, np.ndarray) and self.frees_saved:
            # The probabilities' own buffer, scaled in place: a second (N, C) array at the
            # peak of a language model's step is 28 MB for 700 x 10,000 logits.
            g *= gy / x.shape[0]
            # A view, as the transposed path's p.T is: the engine copies it before it would
            # sum into it (the buffer is forward's, released after this backward).
            return g.view(), None
        return g * (gy / x.shape[0]), None


def _softmax_minus_onehot(x: Any, t: Any, f: SoftmaxCrossEntropy) -> Any:
    """softmax(x) - onehot(t), (N, C): for an array from forward's transposed probabilities,
    in place when they are freed after this backward (else on a copy); for a Variable x
    (create_graph) with recorded ops, so that second derivatives see softmax(x)."""
    if isinstance(x, Variable):
        return both.minus_onehot(both.softmax(x, 1), data_of(t))
    p = f.p if f.frees_saved else f.p.copy()
    p.reshape(-1)[f.target] -= 1
    return p.T if f.transposed else p


class SoftmaxCrossEntropyOneHot(Function):
    """The same loss with soft or one-hot targets.  x: (N, C) logits; t: (N, C) in x's dtype
    -> ().  dx = (softmax(x) - t) * gy / N; dt = -log_softmax(x) * gy / N."""

    rule = "gx = (softmax(x) - t) * gy / N, gt = -log_softmax(x) * gy / N"
    backward_on_arrays = True
    name = "softmax_cross_entropy"

    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        logp = log_softmax_array(x, 1)
        self.p = np.exp(logp)
        return np.asarray(-(t * logp).sum() / x.shape[0], dtype=x.dtype)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x, t = self.saved_inputs
        need_x, need_t = self.needs_input_grad
        scale = gy / x.shape[0]
        gx = (both.softmax(x, 1, saved=self.p) - t) * scale if need_x else None
        gt = both.log_softmax(x, 1) * -scale if need_t else None
        return gx, gt


def softmax_cross_entropy(x: Variable | Any, t: Variable | Any) -> Variable:
    """Mean cross-entropy of softmax(x) against targets.  x: (N, C) logits -> scalar.

    `t` is either (N,) integer class indices in [0, C) or (N, C) one-hot (or soft) targets;
    soft targets are cast to x's dtype. Stable for any logits (log-softmax via logsumexp).
    """
    check_float(x, "softmax_cross_entropy")
    xs = shape_of(x)
    if len(xs) != 2:
        raise ValueError(
            f"softmax_cross_entropy: x must be (N, C) logits, got shape {shape_str(xs)}"
        )
    n, c = xs
    if n == 0:
        raise ValueError("softmax_cross_entropy: empty batch (x has shape (0, C))")
    td = data_of(t)
    if not isinstance(td, np.ndarray):
        td = np.asarray(td)
    if td.shape == (n,):
        if td.dtype.kind not in "iu":
            raise TypeError(
                f"softmax_cross_entropy: class-index targets must be integers, got dtype {td.dtype}"
            )
        # One reduction checks both ends: seen as unsigned, a negative label is huge.
        if td.view(_UNSIGNED[td.itemsize]).max() >= c:
            bad = td.min() if td.min() < 0 else td.max()
            raise ValueError(f"softmax_cross_entropy: label {bad} is out of range for {c} classes")
        # A Variable t is passed as such, so that graph pictures show its name.
        return _apply2(SoftmaxCrossEntropy(), x, t if isinstance(t, Variable) else td)
    if td.shape == (n, c):
        xd = data_of(x)
        if isinstance(t, Variable):
            if t.dtype != xd.dtype:
                raise TypeError(
                    f"softmax_cross_entropy: targets of dtype {t.dtype} for logits of dtype "
                    f"{xd.dtype}"
                )
            return _apply2(SoftmaxCrossEntropyOneHot(), x, t)
        return _apply2(SoftmaxCrossEntropyOneHot(), x, td.astype(xd.dtype, copy=False))
    raise ValueError(
        f"softmax_cross_entropy: targets of shape {shape_str(td.shape)} do not fit logits of "
        f"shape {shape_str(xs)} (expected ({n},) class indices or ({n}, {c}) one-hot)"
    )


class MeanSquaredError(Function):
    """loss = mean((x0 - x1)**2) over all elements (PyTorch's convention).  x0, x1: the same
    shape -> ().  dx0 = 2 (x0 - x1) gy / size = -dx1."""

    rule = "gx0 = 2 * (x0 - x1) * gy / size, gx1 = -gx0"
    backward_on_arrays = True
    saves_attrs = False

    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        diff = x0 - x1
        return np.asarray((diff * diff).mean(), dtype=diff.dtype)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x0, x1 = self.saved_inputs
        need0, need1 = self.needs_input_grad
        g = (x0 - x1) * (gy * (2 / np.size(x0)))
        return (g if need0 else None, -g if need1 else None)


def mean_squared_error(x0: Variable | Any, x1: Variable | Any) -> Variable:
    """mean((x0 - x1)**2) over all elements (the book's form is 0.5 * sum).  Same shapes -> scalar."""
    s0, s1 = shape_of(x0), shape_of(x1)
    if s0 != s1:
        raise ValueError(f"mean_squared_error: shapes {shape_str(s0)} and {shape_str(s1)} differ")
    if not math.prod(shape_of(x0)):
        raise ValueError("mean_squared_error: empty input")
    if isinstance(x0, Variable):
        x1 = _in_dtype_of(x1, x0)
    elif isinstance(x1, Variable):
        x0 = _in_dtype_of(x0, x1)
    return _apply2(MeanSquaredError(), x0, x1)


class BinaryCrossEntropyWithLogits(Function):
    """loss = mean(max(x, 0) - x t + log(1 + exp(-|x|))), stable for any logit x; t in [0, 1].
    x, t: the same shape -> ().  dx = (sigmoid(x) - t) * gy / size; dt = -x * gy / size."""

    rule = "gx = (sigmoid(x) - t) * gy / size, gt = -x * gy / size"
    backward_on_arrays = True
    saves_attrs = False
    name = "binary_cross_entropy_with_logits"

    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        return np.asarray(loss.mean(), dtype=loss.dtype)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        x, t = self.saved_inputs
        need_x, need_t = self.needs_input_grad
        scale = gy / np.size(x)
        return (
            (both.sigmoid(x) - t) * scale if need_x else None,
            -x * scale if need_t else None,
        )


def binary_cross_entropy_with_logits(x: Variable | Any, t: Variable | Any) -> Variable:
    """Mean binary cross-entropy of sigmoid(x) against t in [0, 1], stable for any logit.  Same shapes -> scalar."""
    check_float(x, "binary_cross_entropy_with_logits")
    s0, s1 = shape_of(x), shape_of(t)
    if s0 != s1:
        raise ValueError(
            f"binary_cross_entropy_with_logits: shapes {shape_str(s0)} and {shape_str(s1)} differ"
        )
    td = data_of(t)
    if np.size(td) and (np.min(td) < 0 or np.max(td) > 1):
        raise ValueError("binary_cross_entropy_with_logits: targets must lie in [0, 1]")
    return _apply2(BinaryCrossEntropyWithLogits(), x, _in_dtype_of(t, x))
