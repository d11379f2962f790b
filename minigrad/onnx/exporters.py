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
| softmax, log_softmax | Softmax, LogSoftmax |
| dropout (recorded in training mode) | Dropout (an identity at inference) |
| sum, mean, max, min, logsumexp | ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceLogSumExp |
| reshape (flatten) | Reshape (Flatten for (N, ...) -> (N, -1)) |
| transpose, broadcast_to, sum_to | Transpose, Expand, ReduceSum (+ Squeeze) |
| getitem | Slice, Squeeze, Unsqueeze, Gather, GatherND (+ Range for arange(N)) |
| concatenate, stack | Concat, Unsqueeze + Concat |
| matmul, linear | MatMul, Gemm |
| softmax_cross_entropy (labels / one-hot) | SoftmaxCrossEntropyLoss / LogSoftmax, Mul, ReduceSum, ReduceMean, Neg |
| mean_squared_error | Sub, Mul, ReduceMean |
| binary_cross_entropy_with_logits | Relu, Mul, Sub, Abs, Neg, Softplus, Add, ReduceMean |
| scatter_add (getitem's backward) | ScatterND (reduction add, opset 16+), Reshape |
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from minigrad.core import Function
from minigrad.functions._util import normalize_axes
from minigrad.functions.activations import (
    Dropout,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
)
from minigrad.functions.arithmetic import Add, Div, Mul, Neg, Pow, Sub
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
from minigrad.functions.reductions import LogSumExp, Max, Mean, Min, Sum
from minigrad.functions.shape import (
    BroadcastTo,
    Concatenate,
    GetItem,
    Reshape,
    ScatterAdd,
    Stack,
    SumTo,
    Transpose,
)
from minigrad.onnx._builder import (
    INT64_MAX,
    INT64_MIN,
    Batch,
    Builder,
    Dim,
    UnsupportedOpError,
    Value,
    broadcast_sym,
    reshape_sym,
)

#: (output name, output dims)
Result = tuple[str, tuple[Dim, ...]]
Exporter = Callable[[Builder, Any, list[Value]], Result]

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
    """NumPy indexing in three steps: one Slice for the slices and integers, then either a
    Squeeze and an Unsqueeze (basic indexing) or a Gather / GatherND (integer arrays)."""
    (x,) = xs
    shape, dt = b.outs[0]
    entries = _index_entries(b, f.index, x)
    advanced = any(isinstance(e, Value) for e in entries)
    if advanced and any(e is None for e in entries):
        raise UnsupportedOpError(
            "getitem: an index that mixes None (np.newaxis) with integer arrays has no ONNX "
            "form here; add the axis with reshape instead"
        )
    if advanced:
        entries = [
            Value(None, np.dtype(np.int64), (), (), const=np.int64(e)) if isinstance(e, int) else e
            for e in entries
        ]

    # 1. Slices (and, in basic indexing, integers as one-element slices).
    starts, ends, axes, steps = [], [], [], []
    sym: list[Dim] = list(x.sym)
    squeeze = []
    axis = 0
    for e in entries:
        if e is None:
            continue
        if isinstance(e, slice) and e != slice(None):
            start, stop, step = _slice_bounds(e)
            starts.append(start)
            ends.append(stop)
            axes.append(axis)
            steps.append(step)
            sym[axis] = _sliced_dim(e, x.sym[axis], x.shape[axis])
        elif isinstance(e, int):
            starts.append(e)
            ends.append(e + 1 if e != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    y = b.name(x, dt)
    if axes:
        y = b.node("Slice", [y, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)])
    if not advanced:
        if squeeze:
            y = b.node("Squeeze", [y, b.ints(squeeze)])
        out: list[Dim] = []
        axis = 0
        for e in entries:
            if e is None:
                out.append(1)
                continue
            if not isinstance(e, int):
                out.append(sym[axis])
            axis += 1
        news = [i for i, e in enumerate(_output_slots(entries)) if e is None]
        if news:
            y = b.node("Unsqueeze", [y, b.ints(news)])
        if y == x.name:
            y = b.node("Identity", [y])
        return y, tuple(out)

    # 2. Integer arrays: one -> Gather on its axis; several -> GatherND on the axes moved first.
    adv_axes = [i for i, e in enumerate(entries) if isinstance(e, Value)]
    arrays: list[Value] = [e for e in entries if isinstance(e, Value)]
    indices = [_index_array(b, a, y, sym, ax) for a, ax in zip(arrays, adv_axes)]
    if len(arrays) == 1:
        (ax,) = adv_axes
        name, isym = indices[0]
        out_sym = tuple(sym[:ax]) + isym + tuple(sym[ax + 1 :])
        return b.node("Gather", [y, name], axis=ax), out_sym
    idx_shape = np.broadcast_shapes(*[a.shape for a in arrays])
    idx_sym = broadcast_sym(
        idx_shape, *[Value(None, a.dtype, a.shape, s) for a, (_, s) in zip(arrays, indices)]
    )
    names = [name for name, _ in indices]
    if any(a.shape != idx_shape for a in arrays):
        # Broadcast the index arrays against each other for any batch size: each plus zeros
        # of the common shape (Expand would need that shape as numbers).
        total = names[0]
        for n in names[1:]:
            total = b.node("Add", [total, n])
        zero = b.node("Mul", [total, b.const(np.int64(0))])
        names = [b.node("Add", [n, zero]) for n in names]
    cols = [b.node("Unsqueeze", [n, b.ints([-1])]) for n in names]
    nd_index = b.node("Concat", cols, axis=-1)
    rest = [i for i in range(len(sym)) if i not in adv_axes]
    perm = adv_axes + rest
    if perm != list(range(len(sym))):
        y = b.node("Transpose", [y], perm=perm)
    y = b.node("GatherND", [y, nd_index])
    out_sym = idx_sym + tuple(sym[i] for i in rest)
    first = adv_axes[0]
    if adv_axes == list(range(first, first + len(adv_axes))) and first > 0:
        # NumPy keeps adjacent index arrays' result where they stood; apart, it goes first.
        s = len(idx_shape)
        perm2 = (
            [s + i for i in range(first)]
            + list(range(s))
            + [s + i for i in range(first, len(rest))]
        )
        y = b.node("Transpose", [y], perm=perm2)
        out_sym = tuple(out_sym[p] for p in perm2)
    return y, out_sym


def _output_slots(entries: list[Any]) -> list[Any]:
    """The entries that give an output axis, in output order (integers give none)."""
    return [e for e in entries if not isinstance(e, int)]


def _index_entries(b: Builder, index: Any, x: Value) -> list[Any]:
    """`index` as one entry per input axis (plus None for new axes): slice, int, None, or a
    Value for an integer array; Ellipsis expanded, boolean masks turned into integer arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    entries: list[Any] = []
    for p in parts:
        if isinstance(p, bool | np.bool_):
            raise UnsupportedOpError("getitem: a boolean scalar index has no ONNX form here")
        if isinstance(p, int | np.integer):
            entries.append(int(p))
        elif p is None or p is Ellipsis or isinstance(p, slice):
            entries.append(p)
        elif isinstance(p, list):
            entries.append(b.lookup(np.asarray(p)))
        elif isinstance(p, np.ndarray) and p.dtype == np.bool_:
            v = b.lookup(p)
            if not v.is_const:
                raise UnsupportedOpError(
                    "getitem: a boolean mask that is a model input selects a data-dependent "
                    "number of elements; ONNX shapes cannot follow it"
                )
            entries.extend(b.lookup(np.asarray(i, dtype=np.int64)) for i in np.nonzero(p))
        elif isinstance(p, np.ndarray) and p.dtype.kind in "iu":
            v = b.lookup(p)
            if v.is_const and p.ndim == 0:
                entries.append(int(p))
            else:
                entries.append(v)
        else:
            raise UnsupportedOpError(
                f"getitem: an index of type {type(p).__name__} has no ONNX form here"
            )
    used = sum(1 for e in entries if e is not None and e is not Ellipsis)
    if Ellipsis in entries:
        i = entries.index(Ellipsis)
        entries[i : i + 1] = [slice(None)] * (x.ndim - used)
    else:
        entries += [slice(None)] * (x.ndim - used)
    return entries


def _slice_bounds(s: slice) -> tuple[int, int, int]:
    step = 1 if s.step is None else int(s.step)
    if s.start is not None:
        start = int(s.start)
    else:
        start = 0 if step > 0 else INT64_MAX
    if s.stop is not None:
        stop = int(s.stop)
    else:
        stop = INT64_MAX if step > 0 else INT64_MIN
    return start, stop, step


def _sliced_dim(s: slice, d: Dim, size: int) -> Dim:
    """A sliced dimension: fixed if it was, or if the slice has a fixed length (`[:5]`);
    `[1:]` or `[::2]` of the batch follows N in no way a reshape could use."""
    length = len(range(size)[s])
    if not isinstance(d, Batch):
        return length
    start, stop, step = s.start, s.stop, s.step
    fixed = step in (None, 1) and (start is None or start >= 0) and stop is not None and stop >= 0
    return length if fixed else Batch(None)


def _index_array(
    b: Builder, a: Value, y: str, sym: list[Dim], axis: int
) -> tuple[str, tuple[Dim, ...]]:
    """An integer index array as an int64 ONNX value, with its dims. `np.arange(n)` over a
    whole batch axis (the rows of `p[np.arange(N), t]`) becomes Range(0, N), so that it
    follows the batch."""
    if (
        a.is_const
        and a.ndim == 1
        and isinstance(sym[axis], Batch)
        and b.batch is not None
        and a.shape[0] == b.batch * (sym[axis].k or 0)  # type: ignore[union-attr]
        and np.array_equal(a.const, np.arange(a.shape[0]))
    ):
        n = b.node("Squeeze", [b.dim(y, axis), b.ints([0])])
        zero, one = b.const(np.int64(0)), b.const(np.int64(1))
        return b.node("Range", [zero, n, one]), (sym[axis],)
    return b.name(a, np.int64), a.sym


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
