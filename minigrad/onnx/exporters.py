"""The op mapping, export side: one small exporter per minigrad op, keyed by its Function class.

An exporter gets the `Builder`, the recorded Function (its settings: `axis`, `shape`,
`index`, ...) and its inputs as `Value`s; it adds the op's ONNX node(s) and returns the
output's name and dims (which dimensions follow the batch size, see `_builder.py`). The
output's shape and dtype as recorded are `b.outs[0]`. Elementwise ops compute in their
output's dtype: constants are written in it, a value of another dtype is cast.

To export a new op, write its exporter here, decorated with `@exports(ItsClass)`, and its
importer in `importers.py`.

| minigrad op | ONNX nodes |
| --- | --- |
| add, sub, mul, div, pow | Add, Sub, Mul, Div, Pow |
| neg, exp, log, sqrt, abs, tanh | Neg, Exp, Log, Sqrt, Abs, Tanh |
| clip, where, maximum, minimum | Clip, Where, Max, Min |
| sigmoid, relu, leaky_relu | Sigmoid, Relu, LeakyRelu |
| erf, gelu (and gelu_slope, its recorded backward) | Erf; x * (1 + Erf(x / sqrt 2)) / 2 (Gelu itself needs opset 20) |
| gelu_tanh, silu | Mul, Add, Tanh; Mul, Sigmoid |
| softmax, log_softmax | Softmax, LogSoftmax |
| dropout (recorded in training mode) | Dropout (an identity at inference) |
| sum, mean, max, min, logsumexp | ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceLogSumExp |
| reshape (flatten) | Reshape (Flatten for (N, ...) -> (N, -1)) |
| transpose, broadcast_to, sum_to | Transpose, Expand, ReduceSum (+ Squeeze) |
| getitem | Slice, Squeeze, Unsqueeze, Gather, GatherND (+ Range for arange(N)) |
| embedding | Gather (axis 0: the table's rows at the ids, the ids as int64) |
| concatenate, stack | Concat, Unsqueeze + Concat |
| matmul, linear | MatMul, Gemm |
| softmax_cross_entropy (labels / one-hot) | SoftmaxCrossEntropyLoss / LogSoftmax, Mul, ReduceSum, ReduceMean, Neg |
| mean_squared_error | Sub, Mul, ReduceMean |
| binary_cross_entropy_with_logits | Relu, Mul, Sub, Abs, Neg, Softplus, Add, ReduceMean |
| conv2d | Conv (weights (OC, C, KH, KW), strides, symmetric pads) |
| max_pool2d, avg_pool2d | MaxPool, AveragePool (count_include_pad=1: padding counts as zeros) |
| batch_norm (evaluation: running statistics) | BatchNormalization (the statistics as initializers named by their module path) |
| batch_norm (training: batch statistics) | ReduceMean, Sub, Mul, Add, Sqrt, Div, Reshape |
| layer_norm | LayerNormalization (opset 17+; below: ReduceMean, Sub, Mul, Add, Sqrt, Div) |
| scaled_dot_product_attention, attention_probs | Mul, Transpose, MatMul, Where/Add (masks), Softmax, MatMul; the causal mask from Range and Greater at run time (any length); IsNaN and Where give a fully masked row zeros |
| im2col | Conv with a constant one-hot kernel, Transpose, Reshape |
| col2im | Reshape, Transpose, ConvTranspose with the same one-hot kernel |
| scatter_add (getitem's backward) | ScatterND (reduction add, opset 16+), Reshape |
| max_pool2d's backward ops (pool_scatter, pool_gather) | ScatterND (reduction add, opset 16+) / Gather at the saved argmax, Reshape (fixed batch) |
| avg_pool2d's backward op (avg_pool_scatter) | ConvTranspose with a constant kernel of 1/(KH*KW) |
| a call of nn.RNN / nn.LSTM / nn.GRU (its ops, chunk, unbind and lstm_cell among them) | RNN / LSTM / GRU, one node per layer (`minigrad/onnx/recurrent.py`) |
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np

from minigrad.core import Function
from minigrad.functions import conv as conv_ops
from minigrad.functions._util import normalize_axes
from minigrad.functions.activations import (
    GELU,
    Erf,
    GELUSlope,
    GELUTanh,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
)
from minigrad.functions.arithmetic import Add, Div, Mul, Neg, Pow, Sub
from minigrad.functions.attention import AttentionProbs, ScaledDotProductAttention
from minigrad.functions.elementwise import (
    Abs,
    Clip,
    Exp,
    Log,
    Maximum,
    Minimum,
    Sqrt,
    Tanh,
    Where,
)
from minigrad.functions.linalg import Linear, MatMul
from minigrad.functions.losses import (
    BinaryCrossEntropyWithLogits,
    MeanSquaredError,
    SoftmaxCrossEntropy,
    SoftmaxCrossEntropyOneHot,
)
from minigrad.functions.normalization import BatchNorm, BatchNormEval, Dropout, LayerNorm
from minigrad.functions.reductions import LogSumExp, Max, Mean, Min, Sum
from minigrad.functions.shape import (
    BroadcastTo,
    Concatenate,
    Embedding,
    GetItem,
    Reshape,
    ScatterAdd,
    Stack,
    SumTo,
    Transpose,
)
from minigrad.onnx._builder import (
    Batch,
    Builder,
    Dim,
    UnsupportedOpError,
    Value,
    broadcast_sym,
    reshape_sym,
)
from minigrad.onnx._indexing import export_index

#: (output name, output dims)
Result = tuple[str, tuple[Dim, ...]]
#: An exporter returns its output's Result, or a list of them for an op of several outputs.
Exporter = Callable[[Builder, Any, list[Value]], "Result | list[Result]"]

#: Function class -> its exporter. Only the exact class: a subclass may compute something else.
EXPORTERS: dict[type[Function], Exporter] = {}


def exports(*classes: type[Function]) -> Callable[[Exporter], Exporter]:
    """Register the decorated function as the exporter of `classes`."""

    def register(fn: Exporter) -> Exporter:
        for cls in classes:
            EXPORTERS[cls] = fn
        return fn

    return register


# --------------------------------------------------------------------------- elementwise


def _unary(op_type: str) -> Exporter:
    def export(b: Builder, f: Any, xs: list[Value]) -> Result:
        shape, dt = b.outs[0]
        return b.node(op_type, [b.name(xs[0], dt)]), broadcast_sym(shape, xs[0])

    return export


def _variadic(op_type: str) -> Exporter:
    def export(b: Builder, f: Any, xs: list[Value]) -> Result:
        shape, dt = b.outs[0]
        return b.node(op_type, [b.name(x, dt) for x in xs]), broadcast_sym(shape, *xs)

    return export


for _cls, _op in [
    (Neg, "Neg"),
    (Exp, "Exp"),
    (Log, "Log"),
    (Sqrt, "Sqrt"),
    (Abs, "Abs"),
    (Tanh, "Tanh"),
    (Sigmoid, "Sigmoid"),
    (ReLU, "Relu"),
    (Erf, "Erf"),
]:
    EXPORTERS[_cls] = _unary(_op)

for _cls, _op in [
    (Add, "Add"),
    (Sub, "Sub"),
    (Mul, "Mul"),
    (Div, "Div"),
    (Pow, "Pow"),
    (Maximum, "Max"),
    (Minimum, "Min"),
]:
    EXPORTERS[_cls] = _variadic(_op)


@exports(LeakyReLU)
def _leaky_relu(b: Builder, f: LeakyReLU, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    return b.node("LeakyRelu", [b.name(xs[0], dt)], alpha=float(f.slope)), xs[0].sym


@exports(Clip)
def _clip(b: Builder, f: Clip, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    lo = "" if f.lo is None else b.const(f.lo, dt)
    hi = "" if f.hi is None else b.const(f.hi, dt)
    return b.node("Clip", [b.name(xs[0], dt), lo, hi]), xs[0].sym


@exports(Where)
def _where(b: Builder, f: Where, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    cond, x0, x1 = xs
    names = [b.name(cond, np.bool_), b.name(x0, dt), b.name(x1, dt)]
    return b.node("Where", names), broadcast_sym(shape, *xs)


@exports(Softmax, LogSoftmax)
def _softmax(b: Builder, f: Softmax | LogSoftmax, xs: list[Value]) -> Result:
    # Since opset 13 both normalise along the one given axis, as minigrad's do.
    op_type = "Softmax" if isinstance(f, Softmax) else "LogSoftmax"
    shape, dt = b.outs[0]
    return b.node(op_type, [b.name(xs[0], dt)], axis=int(f.axis)), xs[0].sym


@exports(Dropout)
def _dropout(b: Builder, f: Dropout, xs: list[Value]) -> Result:
    # Recorded only in training mode; the file is for inference, where Dropout passes its
    # input through (its mask, the op's second input, is not kept). Written as a Dropout node
    # so that `load` drops again when the loaded model trains.
    shape, dt = b.outs[0]
    ratio = b.const(np.float32(f.p))
    return b.node("Dropout", [b.name(xs[0], dt), ratio]), xs[0].sym


def _normal_cdf(b: Builder, x: str, dt: np.dtype) -> str:
    """Phi(x) = (1 + erf(x / sqrt(2))) / 2."""
    e = b.node("Erf", [b.node("Mul", [x, b.const(1 / math.sqrt(2), dt)])])
    return b.node("Mul", [b.node("Add", [e, b.const(1.0, dt)]), b.const(0.5, dt)])


@exports(GELU)
def _gelu(b: Builder, f: GELU, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    x = b.name(xs[0], dt)
    return b.node("Mul", [x, _normal_cdf(b, x, dt)]), xs[0].sym


@exports(GELUSlope)
def _gelu_slope(b: Builder, f: GELUSlope, xs: list[Value]) -> Result:
    # Phi(x) + x * exp(-x**2 / 2) / sqrt(2 pi)
    shape, dt = b.outs[0]
    x = b.name(xs[0], dt)
    pdf = b.node("Exp", [b.node("Mul", [b.node("Mul", [x, x]), b.const(-0.5, dt)])])
    pdf = b.node("Mul", [pdf, b.const(1 / math.sqrt(2 * math.pi), dt)])
    return b.node("Add", [_normal_cdf(b, x, dt), b.node("Mul", [x, pdf])]), xs[0].sym


@exports(GELUTanh)
def _gelu_tanh(b: Builder, f: GELUTanh, xs: list[Value]) -> Result:
    # x * (1 + tanh(sqrt(2/pi) * x * (1 + 0.044715 x**2))) / 2
    shape, dt = b.outs[0]
    x = b.name(xs[0], dt)
    inner = b.node(
        "Add", [b.node("Mul", [b.node("Mul", [x, x]), b.const(0.044715, dt)]), b.const(1.0, dt)]
    )
    u = b.node("Mul", [b.node("Mul", [x, inner]), b.const(math.sqrt(2 / math.pi), dt)])
    half = b.node("Mul", [b.node("Add", [b.node("Tanh", [u]), b.const(1.0, dt)]), b.const(0.5, dt)])
    return b.node("Mul", [x, half]), xs[0].sym


@exports(SiLU)
def _silu(b: Builder, f: SiLU, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    x = b.name(xs[0], dt)
    return b.node("Mul", [x, b.node("Sigmoid", [x])]), xs[0].sym


# --------------------------------------------------------------------------- reductions


def _reduced_sym(x: Value, axes: list[int] | None, keepdims: bool) -> tuple[Dim, ...]:
    if axes is None:
        return (1,) * x.ndim if keepdims else ()
    out: list[Dim] = []
    for i, d in enumerate(x.sym):
        if i not in axes:
            out.append(d)
        elif keepdims:
            out.append(1)
    return tuple(out)


def _reduction(op_type: str) -> Exporter:
    def export(b: Builder, f: Any, xs: list[Value]) -> Result:
        (x,) = xs
        shape, dt = b.outs[0]
        axes = None
        if f.axis is not None and x.ndim:
            axes = list(normalize_axes(f.axis, x.ndim, f.name))
        y = b.reduce(op_type, b.name(x, dt), axes, f.keepdims)
        return y, _reduced_sym(x, axes, f.keepdims)

    return export


_reductions: list[tuple[type[Function], str]] = [
    (Sum, "ReduceSum"),
    (Mean, "ReduceMean"),
    (Max, "ReduceMax"),
    (Min, "ReduceMin"),
    # ONNX Runtime subtracts the max first, as minigrad does: stable for large inputs.
    (LogSumExp, "ReduceLogSumExp"),
]
for _cls, _op in _reductions:
    EXPORTERS[_cls] = _reduction(_op)


# --------------------------------------------------------------------------- shape


@exports(Reshape)
def _reshape(b: Builder, f: Reshape, xs: list[Value]) -> Result:
    (x,) = xs
    shape, dt = b.outs[0]
    sym = reshape_sym(x, shape, b.batch or 1, "reshape")
    if (
        x.ndim > 2
        and shape == (x.shape[0], int(np.prod(x.shape[1:])))
        and not any(isinstance(d, Batch) for d in x.sym[1:])
    ):
        # (N, C, H, W) -> (N, C*H*W): ONNX's Flatten says so, for any N.
        return b.node("Flatten", [b.name(x, dt)], axis=1), (x.sym[0], shape[1])
    target = [-1 if isinstance(d, Batch) else d for d in sym]
    # allowzero (opset 14+): a 0 in the shape is a size, not "copy the input's dimension".
    allowzero = 1 if 0 in target and b.opset >= 14 else None
    return b.node("Reshape", [b.name(x, dt), b.ints(target)], allowzero=allowzero), sym


@exports(Transpose)
def _transpose(b: Builder, f: Transpose, xs: list[Value]) -> Result:
    (x,) = xs
    shape, dt = b.outs[0]
    perm = list(f.axes) if f.axes is not None else list(range(x.ndim))[::-1]
    return b.node("Transpose", [b.name(x, dt)], perm=perm), tuple(x.sym[p] for p in perm)


@exports(BroadcastTo)
def _broadcast_to(b: Builder, f: BroadcastTo, xs: list[Value]) -> Result:
    (x,) = xs
    shape, dt = b.outs[0]
    sym = broadcast_sym(shape, x)
    # Expand broadcasts the input against the shape: a 1 keeps the input's (batch) size. A
    # batch-sized target for something without the batch (broadcast_to(b, x.shape), the
    # gradient of a sum in a create_graph backward) stays the example's size: export's
    # check on another batch size then says so.
    target = [1 if isinstance(d, Batch) else d for d in sym]
    return b.node("Expand", [b.name(x, dt), b.ints(target)]), sym


@exports(SumTo)
def _sum_to(b: Builder, f: SumTo, xs: list[Value]) -> Result:
    (x,) = xs
    shape, dt = b.outs[0]
    lead = x.ndim - len(shape)
    axes = list(range(lead)) + [
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1
    ]
    sym = tuple(
        x.sym[i + lead] if isinstance(x.sym[i + lead], Batch) and n == x.shape[i + lead] else n
        for i, n in enumerate(shape)
    )
    y = b.name(x, dt)
    if axes:
        y = b.reduce("ReduceSum", y, axes, keepdims=True)
    if lead:
        y = b.node("Squeeze", [y, b.ints(list(range(lead)))])
    if y == x.name:
        y = b.node("Identity", [y])
    return y, sym


@exports(Concatenate)
def _concatenate(b: Builder, f: Concatenate, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    ax = f.axis % len(shape)
    return b.node("Concat", [b.name(x, dt) for x in xs], axis=ax), _joined_sym(shape, xs, ax)


@exports(Stack)
def _stack(b: Builder, f: Stack, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    ax = f.axis
    parts = [b.node("Unsqueeze", [b.name(x, dt), b.ints([ax])]) for x in xs]
    merged = broadcast_sym(shape[:ax] + shape[ax + 1 :], *xs)
    return b.node("Concat", parts, axis=ax), merged[:ax] + (len(xs),) + merged[ax:]


def _joined_sym(shape: tuple[int, ...], xs: list[Value], ax: int) -> tuple[Dim, ...]:
    """The dims of a concatenation along `ax`: the batch part adds up (N + N = 2N); a batch
    joined with fixed-size parts follows N in no way a reshape could use."""
    others = broadcast_sym(shape[:ax] + shape[ax + 1 :], *[_drop(x, ax) for x in xs])
    parts = [x.sym[ax] for x in xs]
    along: Dim = shape[ax]
    if all(isinstance(d, Batch) for d in parts):
        ks = [d.k for d in parts if isinstance(d, Batch)]
        known = [k for k in ks if k is not None]
        along = Batch(sum(known, Fraction(0)) if len(known) == len(ks) else None)
    elif any(isinstance(d, Batch) for d in parts):
        along = Batch(None)
    return others[:ax] + (along,) + others[ax:]


def _drop(x: Value, ax: int) -> Value:
    return Value(x.name, x.dtype, x.shape[:ax] + x.shape[ax + 1 :], x.sym[:ax] + x.sym[ax + 1 :])


# --------------------------------------------------------------------------- getitem


@exports(GetItem)
def _getitem(b: Builder, f: GetItem, xs: list[Value]) -> Result:
    # NumPy's indexing rules take a module of their own: _indexing.py.
    return export_index(b, xs[0], f.index)


@exports(Embedding)
def _embedding(b: Builder, f: Embedding, xs: list[Value]) -> Result:
    # The gradient rule for padding_idx has no meaning at inference: a plain row gather.
    ids, W = xs
    shape, dt = b.outs[0]
    return b.node("Gather", [b.name(W, dt), b.name(ids, np.int64)], axis=0), ids.sym + (shape[-1],)


# --------------------------------------------------------------------------- linalg


@exports(MatMul)
def _matmul(b: Builder, f: MatMul, xs: list[Value]) -> Result:
    # ONNX's MatMul follows NumPy's matmul, 1-D operands and batch broadcasting included.
    shape, dt = b.outs[0]
    x0, x1 = xs
    out: list[Dim] = list(shape)
    lead0 = x0.sym[:-2] if x0.ndim >= 2 else ()
    lead1 = x1.sym[:-2] if x1.ndim >= 2 else ()
    tail = (1 if x0.ndim >= 2 else 0) + (1 if x1.ndim >= 2 else 0)
    n_lead = len(shape) - tail
    for lead, vshape in ((lead0, x0.shape[:-2]), (lead1, x1.shape[:-2])):
        off = n_lead - len(lead)
        for i, d in enumerate(lead):
            if isinstance(d, Batch) and vshape[i] == shape[off + i]:
                out[off + i] = d
    if x0.ndim >= 2:
        out[n_lead] = x0.sym[-2]
    if x1.ndim >= 2:
        out[-1] = x1.sym[-1]
    return b.node("MatMul", [b.name(x0, dt), b.name(x1, dt)]), tuple(out)


@exports(Linear)
def _linear(b: Builder, f: Linear, xs: list[Value]) -> Result:
    # Gemm: x (N, in) @ W (in, out) + b (out,), the dense layer of model viewers.
    shape, dt = b.outs[0]
    return b.node("Gemm", [b.name(x, dt) for x in xs]), (xs[0].sym[0], shape[1])


# --------------------------------------------------------------------------- losses


@exports(SoftmaxCrossEntropy)
def _softmax_cross_entropy(b: Builder, f: SoftmaxCrossEntropy, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    x, t = xs
    names = [b.name(x, dt), b.name(t, np.int64)]
    return b.node("SoftmaxCrossEntropyLoss", names, reduction="mean"), ()


@exports(SoftmaxCrossEntropyOneHot)
def _softmax_cross_entropy_onehot(
    b: Builder, f: SoftmaxCrossEntropyOneHot, xs: list[Value]
) -> Result:
    # -mean over rows of sum(t * log_softmax(x)).
    shape, dt = b.outs[0]
    x, t = xs
    logp = b.node("LogSoftmax", [b.name(x, dt)], axis=1)
    per_row = b.reduce("ReduceSum", b.node("Mul", [b.name(t, dt), logp]), [1], keepdims=False)
    return b.node("Neg", [b.reduce("ReduceMean", per_row, None, keepdims=False)]), ()


@exports(MeanSquaredError)
def _mean_squared_error(b: Builder, f: MeanSquaredError, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    d = b.node("Sub", [b.name(xs[0], dt), b.name(xs[1], dt)])
    return b.reduce("ReduceMean", b.node("Mul", [d, d]), None, keepdims=False), ()


@exports(BinaryCrossEntropyWithLogits)
def _bce_with_logits(b: Builder, f: BinaryCrossEntropyWithLogits, xs: list[Value]) -> Result:
    # mean(max(x, 0) - x t + log(1 + exp(-|x|))), the form that cannot overflow.
    shape, dt = b.outs[0]
    x, t = b.name(xs[0], dt), b.name(xs[1], dt)
    hinge = b.node("Sub", [b.node("Relu", [x]), b.node("Mul", [x, t])])
    soft = b.node("Softplus", [b.node("Neg", [b.node("Abs", [x])])])
    return b.reduce("ReduceMean", b.node("Add", [hinge, soft]), None, keepdims=False), ()


# --------------------------------------------------------------------------- backward ops


@exports(ScatterAdd)
def _scatter_add(b: Builder, f: ScatterAdd, xs: list[Value]) -> Result:
    # getitem's adjoint, recorded by create_graph backward passes. The flat position of each
    # element of x in the output is known at export (the index is a constant), so one
    # ScatterND with reduction "add" into zeros does it.
    (x,) = xs
    shape, dt = b.outs[0]
    if b.opset < 16:
        raise UnsupportedOpError(
            "scatter_add: needs opset 16 or newer (ScatterND with reduction add)"
        )
    if any(isinstance(d, Batch) for d in x.sym):
        raise UnsupportedOpError(
            "scatter_add: its output shape is fixed at export; export with dynamic_batch=False"
        )
    parts = f.index if isinstance(f.index, tuple) else (f.index,)
    for p in parts:
        if isinstance(p, np.ndarray) and not b.lookup(p).is_const:
            raise UnsupportedOpError(
                "scatter_add: an index that is a model input has no ONNX form here"
            )
    size = int(np.prod(shape))
    where = np.arange(size, dtype=np.int64).reshape(shape)[f.index]
    flat = b.node("Reshape", [b.name(x, dt), b.ints([-1])])
    zeros = b.const(np.zeros(size, dtype=dt))
    pos = b.const(np.broadcast_to(where, x.shape).reshape(-1, 1))
    y = b.node("ScatterND", [zeros, pos, flat], reduction="add")
    return b.node("Reshape", [y, b.ints(list(shape))]), tuple(shape)


# --------------------------------------------------------------------------- convolution


def _nchw(x: Value, op: str) -> None:
    """Conv-family ops take the batch on axis 0 only: a channel or spatial side that follows
    the batch size has no fixed kernel shape in ONNX."""
    if any(isinstance(d, Batch) for d in x.sym[1:]):
        raise UnsupportedOpError(
            f"{op}: its input {x.sym} has a channel or spatial dimension that follows the batch "
            "size; export with dynamic_batch=False"
        )


def _window_attrs(g: Any) -> dict[str, Any]:
    """kernel_shape, strides and pads (begin and end alike) of a _Geometry."""
    return {
        "kernel_shape": [g.kh, g.kw],
        "strides": [g.sh, g.sw],
        "pads": [g.ph, g.pw, g.ph, g.pw],
    }


def _output_padding(g: Any) -> list[int] | None:
    """ConvTranspose's output_padding that gives back an input side the last window did not
    reach ((H + 2p - KH) % stride rows at the end, which the windows never read); None if 0."""
    extra = [
        g.h + 2 * g.ph - (g.sh * (g.oh - 1) + g.kh),
        g.w + 2 * g.pw - (g.sw * (g.ow - 1) + g.kw),
    ]
    return extra if any(extra) else None


def _one_hot_kernel(c: int, g: Any, dt: np.dtype) -> np.ndarray:
    """(C*KH*KW, C, KH, KW): output channel (c, i, j) reads input channel c at window offset
    (i, j), im2col's column order. A Conv with it gives each window's values as channels, a
    ConvTranspose adds them back (col2im): products by 1 and sums with 0, so exact."""
    k = c * g.kh * g.kw
    return np.eye(k, dtype=dt).reshape(k, c, g.kh, g.kw)


@exports(conv_ops.Conv2d)
def _conv2d(b: Builder, f: conv_ops.Conv2d, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    _nchw(xs[0], "conv2d")
    y = b.node("Conv", [b.name(v, dt) for v in xs], **_window_attrs(f.geometry))
    return y, (xs[0].sym[0], *shape[1:])


@exports(conv_ops.MaxPool2d)
def _max_pool2d(b: Builder, f: conv_ops.MaxPool2d, xs: list[Value]) -> Result:
    # ONNX's MaxPool never takes a padded element, as minigrad's -inf padding.
    shape, dt = b.outs[0]
    _nchw(xs[0], "max_pool2d")
    y = b.node("MaxPool", [b.name(xs[0], dt)], **_window_attrs(f.geometry))
    return y, (xs[0].sym[0], *shape[1:])


@exports(conv_ops.AvgPool2d)
def _avg_pool2d(b: Builder, f: conv_ops.AvgPool2d, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    _nchw(xs[0], "avg_pool2d")
    attrs = _window_attrs(f.geometry)
    y = b.node("AveragePool", [b.name(xs[0], dt)], count_include_pad=1, **attrs)
    return y, (xs[0].sym[0], *shape[1:])


@exports(conv_ops.Im2col)
def _im2col(b: Builder, f: conv_ops.Im2col, xs: list[Value]) -> Result:
    # (N, C, H, W) -> Conv (N, C*KH*KW, OH, OW) -> (N, OH, OW, C*KH*KW) -> (N*OH*OW, C*KH*KW).
    (x,) = xs
    shape, dt = b.outs[0]
    _nchw(x, "im2col")
    g = f.geometry
    n, c = x.shape[:2]
    kernel = b.const(_one_hot_kernel(c, g, dt), base="im2col_kernel")
    windows = b.node("Conv", [b.name(x, dt), kernel], **_window_attrs(g))
    rows = b.node("Transpose", [windows], perm=[0, 2, 3, 1])
    rows_value = Value(rows, dt, (n, g.oh, g.ow, shape[1]), (x.sym[0], g.oh, g.ow, shape[1]))
    sym = reshape_sym(rows_value, shape, b.batch or 1, "im2col")
    target = [-1 if isinstance(d, Batch) else d for d in sym]
    return b.node("Reshape", [rows, b.ints(target)]), sym


@exports(conv_ops.Col2im)
def _col2im(b: Builder, f: conv_ops.Col2im, xs: list[Value]) -> Result:
    # (N*OH*OW, C*KH*KW) -> (N, OH, OW, C*KH*KW) -> (N, C*KH*KW, OH, OW) -> ConvTranspose.
    (cols,) = xs
    shape, dt = b.outs[0]
    g = f.geometry
    n, c = shape[:2]
    k = cols.shape[1]
    if isinstance(cols.sym[1], Batch):
        raise UnsupportedOpError(
            f"col2im: its input {cols.sym} has columns that follow the batch size; export with "
            "dynamic_batch=False"
        )
    grid = (n, g.oh, g.ow, k)
    sym = reshape_sym(cols, grid, b.batch or 1, "col2im")
    target = [-1 if isinstance(d, Batch) else d for d in sym]
    rows = b.node("Reshape", [b.name(cols, dt), b.ints(target)])
    windows = b.node("Transpose", [rows], perm=[0, 3, 1, 2])
    kernel = b.const(_one_hot_kernel(c, g, dt), base="col2im_kernel")
    attrs = _window_attrs(g)
    y = b.node("ConvTranspose", [windows, kernel], output_padding=_output_padding(g), **attrs)
    return y, (sym[0], *shape[1:])


# --------------------------------------------------------------------------- batch norm


@exports(BatchNormEval)
def _batch_norm_eval(b: Builder, f: BatchNormEval, xs: list[Value]) -> Result:
    # x, gamma, beta, running_mean, running_var: ONNX's inputs in that order. ONNX's momentum
    # weighs the old statistic (PyTorch's weighs the new one): 1 - momentum.
    shape, dt = b.outs[0]
    y = b.node(
        "BatchNormalization",
        [b.name(v, dt) for v in xs],
        epsilon=float(f.eps),
        momentum=float(1 - f.momentum),
    )
    return y, xs[0].sym


@exports(BatchNorm)
def _batch_norm_train(b: Builder, f: BatchNorm, xs: list[Value]) -> Result:
    # Training mode normalizes by the batch's own statistics; the running statistics' update
    # is a side effect, not part of the value, so the file holds the value only (inference
    # runtimes run BatchNormalization in evaluation mode).
    shape, dt = b.outs[0]
    x, gamma, beta = (b.name(v, dt) for v in xs)
    axes = list(f.axes)
    mean = b.reduce("ReduceMean", x, axes, keepdims=True)
    xc = b.node("Sub", [x, mean])
    var = b.reduce("ReduceMean", b.node("Mul", [xc, xc]), axes, keepdims=True)
    std = b.node("Sqrt", [b.node("Add", [var, b.const(np.asarray(f.eps, dt))])])
    xhat = b.node("Div", [xc, std])
    view = b.ints([1, shape[1]] + [1] * (len(shape) - 2))
    scaled = b.node("Mul", [xhat, b.node("Reshape", [gamma, view])])
    return b.node("Add", [scaled, b.node("Reshape", [beta, view])]), xs[0].sym


@exports(LayerNorm)
def _layer_norm(b: Builder, f: LayerNorm, xs: list[Value]) -> Result:
    # x, scale, bias: LayerNormalization's inputs in that order (opset 17), over the last k
    # axes; spelled out in older opsets.
    shape, dt = b.outs[0]
    x, w, bias = (b.name(v, dt) for v in xs)
    if b.opset >= 17:
        y = b.node("LayerNormalization", [x, w, bias], axis=-f.k, epsilon=float(f.eps))
        return y, xs[0].sym
    axes = list(range(len(shape) - f.k, len(shape)))
    xc = b.node("Sub", [x, b.reduce("ReduceMean", x, axes, keepdims=True)])
    var = b.reduce("ReduceMean", b.node("Mul", [xc, xc]), axes, keepdims=True)
    std = b.node("Sqrt", [b.node("Add", [var, b.const(np.asarray(f.eps, dt))])])
    y = b.node("Mul", [b.node("Div", [xc, std]), w])
    return b.node("Add", [y, bias]), xs[0].sym


# --------------------------------------------------------------------------- attention


def _attention_probs(
    b: Builder, f: AttentionProbs | ScaledDotProductAttention, xs: list[Value], dt: np.dtype
) -> str:
    """softmax(q k^T * scale + mask) as ONNX nodes (the scores' rank is q's or more)."""
    q, k = b.name(xs[0], dt), b.name(xs[1], dt)
    nd = max(xs[0].ndim, xs[1].ndim)
    perm = list(range(xs[1].ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    s = b.node(
        "MatMul", [b.node("Mul", [q, b.const(f.scale, dt)]), b.node("Transpose", [k], perm=perm)]
    )
    neg_inf = b.const(-np.inf, dt)
    if f.causal:
        # Key j is hidden from query i where j > i: built from the scores' sizes when the
        # graph runs, so any length works.
        zero, one = b.const(np.int64(0)), b.const(np.int64(1))
        t = b.node("Squeeze", [b.dim(s, nd - 2), b.ints([0])])
        n = b.node("Squeeze", [b.dim(s, nd - 1), b.ints([0])])
        rows = b.node("Unsqueeze", [b.node("Range", [zero, t, one]), b.ints([1])])
        hidden = b.node("Greater", [b.node("Range", [zero, n, one]), rows])
        s = b.node("Where", [hidden, neg_inf, s])
    if f.masked:
        m = xs[2] if isinstance(f, AttentionProbs) else xs[3]
        if m.dtype == np.bool_:
            s = b.node("Where", [b.name(m), s, neg_inf])
        else:
            s = b.node("Add", [s, b.name(m, dt)])
    p = b.node("Softmax", [s], axis=-1)
    if f.masked:
        # A row with every key masked out: ONNX's Softmax gives NaN, minigrad zeros.
        p = b.node("Where", [b.node("IsNaN", [p]), b.const(0.0, dt), p])
    return p


def _lead_sym(shape: tuple[int, ...], xs: list[Value], tail: tuple[Dim, Dim]) -> tuple[Dim, ...]:
    """The dims of an attention output: the batch dimensions broadcast from the inputs', then
    `tail`."""
    lead = [replace(v, shape=v.shape[:-2], sym=v.sym[:-2]) for v in xs if v.ndim >= 2]
    return (*broadcast_sym(shape[:-2], *lead), *tail)


@exports(AttentionProbs)
def _attention_probs_op(b: Builder, f: AttentionProbs, xs: list[Value]) -> Result:
    shape, dt = b.outs[0]
    p = _attention_probs(b, f, xs, dt)
    return p, _lead_sym(shape, xs[:2], (xs[0].sym[-2], xs[1].sym[-2]))


@exports(ScaledDotProductAttention)
def _sdpa(b: Builder, f: ScaledDotProductAttention, xs: list[Value]) -> Result:
    # The file is for inference: dropout's mask (the last input, in training) is left out.
    shape, dt = b.outs[0]
    p = _attention_probs(b, f, xs, dt)
    y = b.node("MatMul", [p, b.name(xs[2], dt)])
    return y, _lead_sym(shape, xs[:3], (xs[0].sym[-2], xs[2].sym[-1]))


# --------------------------------------------------------------------------- pooling's backward ops


def _fixed(x: Value, op: str) -> None:
    if any(isinstance(d, Batch) for d in x.sym):
        raise UnsupportedOpError(
            f"{op}: the window each element goes to is fixed at export (the argmax of the "
            "example's windows); export with dynamic_batch=False"
        )


def _argmax_positions(f: Any, x_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For each window (N, C, OH, OW): the flat position in x_shape of the element it took
    (its saved argmax), and whether that element is in x rather than in the padding."""
    g, idx = f.geometry, f.idx.astype(np.int64)
    n, c, oh, ow = idx.shape
    rows = np.arange(oh).reshape(oh, 1) * g.sh + idx // g.kw - g.ph
    cols = np.arange(ow).reshape(1, ow) * g.sw + idx % g.kw - g.pw
    inside = (rows >= 0) & (rows < g.h) & (cols >= 0) & (cols < g.w)
    plane = np.arange(n * c).reshape(n, c, 1, 1) * (g.h * g.w)
    flat = plane + np.clip(rows, 0, g.h - 1) * g.w + np.clip(cols, 0, g.w - 1)
    return flat, inside


@exports(conv_ops.PoolScatter)
def _pool_scatter(b: Builder, f: conv_ops.PoolScatter, xs: list[Value]) -> Result:
    # max_pool2d's backward, recorded by create_graph passes: each gy element added at its
    # window's argmax, a ScatterND with reduction add into zeros (as scatter_add).
    (gy,) = xs
    shape, dt = b.outs[0]
    _fixed(gy, "pool_scatter")
    if b.opset < 16:
        raise UnsupportedOpError(
            "pool_scatter: needs opset 16 or newer (ScatterND with reduction add)"
        )
    flat, inside = _argmax_positions(f, shape)
    updates = b.node("Reshape", [b.name(gy, dt), b.ints([-1])])
    if not inside.all():
        # A window whose maximum is in the padding (all -inf) sends its gradient nowhere.
        updates = b.node("Gather", [updates, b.ints(np.flatnonzero(inside))], axis=0)
    zeros = b.const(np.zeros(int(np.prod(shape)), dtype=dt))
    pos = b.const(flat[inside].reshape(-1, 1))
    y = b.node("ScatterND", [zeros, pos, updates], reduction="add")
    return b.node("Reshape", [y, b.ints(list(shape))]), tuple(shape)


@exports(conv_ops.PoolGather)
def _pool_gather(b: Builder, f: conv_ops.PoolGather, xs: list[Value]) -> Result:
    # PoolScatter's adjoint: each window's element at its argmax, a Gather of the flat input.
    (x,) = xs
    shape, dt = b.outs[0]
    _fixed(x, "pool_gather")
    flat, inside = _argmax_positions(f, x.shape)
    y = b.node("Gather", [b.node("Reshape", [b.name(x, dt), b.ints([-1])]), b.const(flat)], axis=0)
    if not inside.all():
        # An argmax in the padding reads the padding's zero.
        y = b.node("Mul", [y, b.const(inside.astype(dt))])
    return y, tuple(shape)


@exports(conv_ops.AvgPoolScatter)
def _avg_pool_scatter(b: Builder, f: conv_ops.AvgPoolScatter, xs: list[Value]) -> Result:
    # avg_pool2d's backward: gy / (KH*KW) added onto every element of its window, a
    # ConvTranspose whose kernel maps each channel to itself with weights 1/(KH*KW).
    (gy,) = xs
    shape, dt = b.outs[0]
    _nchw(gy, "avg_pool_scatter")
    g = f.geometry
    c = shape[1]
    share = np.eye(c, dtype=dt).reshape(c, c, 1, 1) * dt.type(1 / (g.kh * g.kw))
    kernel = b.const(np.ascontiguousarray(np.broadcast_to(share, (c, c, g.kh, g.kw))))
    attrs = _window_attrs(g)
    y = b.node(
        "ConvTranspose", [b.name(gy, dt), kernel], output_padding=_output_padding(g), **attrs
    )
    return y, (gy.sym[0], *shape[1:])
