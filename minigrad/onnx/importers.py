"""The op mapping, import side: one small importer per ONNX op type, running it with minigrad.

An importer gets the node's inputs (Variables, ndarrays, or None for an absent optional input)
and its attributes as a dict, and returns its output (or a tuple of outputs). Inputs that
depend on Parameters are Variables, so the ops are recorded and a loaded model trains; shape
arithmetic (Shape, Range, ...) stays in NumPy. It covers every op `exporters.py` writes, with
the attributes those nodes use, and a few variants other exporters write for the same
computations (Gemm with transB, as PyTorch writes it).

To import a new op type, write its importer here, decorated with `@imports("OpType")`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Variable
from minigrad.functions import _both as both
from minigrad.functions._special import erf_array
from minigrad.onnx._builder import UnsupportedOpError

Importer = Callable[[list[Any], dict[str, Any], "Context"], Any]
#: A check of a node before anything runs: (attributes, number of outputs) -> what minigrad
#: cannot run in it (`group 2 (a grouped convolution)`), or None.
Check = Callable[[dict[str, Any], int], "str | None"]

#: ONNX op type -> its importer.
IMPORTERS: dict[str, Importer] = {}
#: ONNX op type -> the check `load` runs on each such node when it reads the file.
CHECKS: dict[str, Check] = {}


class Context:
    """What an importer may need besides its inputs: the node's op type (for importers of
    several types) and the module's training mode (Dropout, BatchNormalization)."""

    def __init__(self, training: bool) -> None:
        self.training = training
        self.op = ""


def imports(*op_types: str, check: Check | None = None) -> Callable[[Importer], Importer]:
    """Register the decorated function as the importer of `op_types`, and `check` as the
    check of their nodes' settings when a file is loaded."""

    def register(fn: Importer) -> Importer:
        for op in op_types:
            IMPORTERS[op] = fn
            if check is not None:
                CHECKS[op] = check
        return fn

    return register


def _live(*xs: Any) -> bool:
    """True if any input is a Variable (depends on the model's parameters or inputs)."""
    return any(isinstance(x, Variable) for x in xs)


def _array(x: Any, what: str) -> np.ndarray:
    """The data of an input that must be known when the node runs (a shape, axes, indices)."""
    if x is None:
        raise ValueError(f"load: {what} is missing")
    return np.asarray(x.data if isinstance(x, Variable) else x)


def _ints(x: Any, what: str) -> list[int]:
    return [int(v) for v in _array(x, what).reshape(-1)]


# --------------------------------------------------------------------------- elementwise


def _elementwise(fn: Callable[..., Any], np_fn: Callable[..., Any]) -> Importer:
    def run(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
        return fn(*xs) if _live(*xs) else np_fn(*xs)

    return run


_elementwise_ops: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("Add", F.add, np.add),
    ("Sub", F.sub, np.subtract),
    ("Mul", F.mul, np.multiply),
    ("Div", F.div, np.divide),
    ("Pow", F.pow, np.power),
    ("Neg", F.neg, np.negative),
    ("Exp", F.exp, np.exp),
    ("Log", F.log, np.log),
    ("Sqrt", F.sqrt, np.sqrt),
    ("Abs", F.abs, np.abs),
    ("Tanh", F.tanh, np.tanh),
    ("Sin", F.sin, np.sin),
    ("Cos", F.cos, np.cos),
    ("Sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    ("Relu", F.relu, lambda x: np.maximum(x, 0)),
    ("Erf", F.erf, erf_array),
]
for _op, _fn, _np in _elementwise_ops:
    IMPORTERS[_op] = _elementwise(_fn, _np)


@imports("Max", "Min")
def _max_min(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    fn = F.maximum if ctx.op == "Max" else F.minimum
    np_fn = np.maximum if ctx.op == "Max" else np.minimum
    return reduce(fn if _live(*xs) else np_fn, xs)


@imports("LeakyRelu")
def _leaky_relu(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    return F.leaky_relu(xs[0], attrs.get("alpha", 0.01))


@imports("Clip")
def _clip(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, lo, hi = (xs + [None, None])[:3]
    lo = None if lo is None else _array(lo, "Clip min").item()
    hi = None if hi is None else _array(hi, "Clip max").item()
    if lo is None and hi is None:
        return x
    return F.clip(x, lo, hi)


@imports("Gelu")
def _gelu(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    return F.gelu(xs[0], attrs.get("approximate", "none"))


@imports("IsNaN")
def _is_nan(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    return np.isnan(_array(xs[0], "IsNaN input"))


@imports("Where")
def _where(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    cond, x0, x1 = xs
    return F.where(_array(cond, "Where condition"), x0, x1)


@imports("Softmax", "LogSoftmax")
def _softmax(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    fn = F.softmax if ctx.op == "Softmax" else F.log_softmax
    return fn(xs[0], axis=attrs.get("axis", -1))


@imports("Softplus")
def _softplus(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x = xs[0]
    if _live(x):
        # ONNX's Softplus has no threshold: linear from beta * x > 1e30 on is none at all.
        return F.softplus(x, threshold=np.inf)
    return np.logaddexp(0, x)


@imports("Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal")
def _compare(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    # On the values (a boolean array, not recorded), as comparisons of Variables are.
    fn = {
        "Greater": np.greater,
        "Less": np.less,
        "GreaterOrEqual": np.greater_equal,
        "LessOrEqual": np.less_equal,
        "Equal": np.equal,
    }[ctx.op]
    a, c = (x.data if isinstance(x, Variable) else x for x in xs)
    return fn(a, c)


@imports("Dropout")
def _dropout(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    # Identity in eval mode, as ONNX runs it for inference; drops again when training.
    ratio = 0.5 if len(xs) < 2 or xs[1] is None else float(_array(xs[1], "Dropout ratio"))
    if not ctx.training or ratio == 0:
        return xs[0]
    return F.dropout(xs[0], ratio, training=True)


@imports("Identity")
def _identity(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    return xs[0]


@imports("Cast")
def _cast(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    from onnx.helper import tensor_dtype_to_np_dtype

    x = xs[0]
    dt = np.dtype(tensor_dtype_to_np_dtype(attrs["to"]))
    if not isinstance(x, Variable):
        return np.asarray(x).astype(dt)
    if x.dtype == dt:
        return x
    if x.dtype.kind == dt.kind == "f" and dt.itemsize > x.dtype.itemsize:
        # NumPy's promotion widens it, as the op that needed the cast did in minigrad.
        return x + np.zeros((), dtype=dt)
    raise UnsupportedOpError(
        f"load: Cast of a computed value from {x.dtype} to {dt} has no minigrad op (minigrad "
        "only widens a float when it meets a wider one)"
    )


# --------------------------------------------------------------------------- reductions


def _axes(xs: list[Any], attrs: dict[str, Any]) -> list[int] | None:
    """The axes of a reduction, Squeeze or Unsqueeze: the second input (ReduceSum from opset
    13, every reduction from 18) or the `axes` attribute (older opsets)."""
    if len(xs) > 1 and xs[1] is not None:
        return _ints(xs[1], "axes")
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return None


@imports("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceLogSumExp")
def _reduce(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    fn = {
        "ReduceSum": F.sum,
        "ReduceMean": F.mean,
        "ReduceMax": F.max,
        "ReduceMin": F.min,
        "ReduceLogSumExp": F.logsumexp,
    }[ctx.op]
    x = xs[0]
    axes = _axes(xs, attrs)
    if not axes:
        if axes is not None and attrs.get("noop_with_empty_axes", 0):
            return x
        axes = None
    keepdims = bool(attrs.get("keepdims", 1))
    out = fn(x, axis=None if axes is None else tuple(axes), keepdims=keepdims)
    return out if _live(x) else out.data


# --------------------------------------------------------------------------- shape


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x.data if isinstance(x, Variable) else x))


def _reshaped(x: Any, shape: tuple[int, ...]) -> Any:
    return F.reshape(x, shape) if _live(x) else np.reshape(x, shape)


@imports("Reshape")
def _reshape(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, shape = xs
    target = _ints(shape, "Reshape shape")
    if not attrs.get("allowzero", 0):
        # A 0 copies the input's dimension at that position.
        target = [_shape_of(x)[i] if n == 0 else n for i, n in enumerate(target)]
    return _reshaped(x, tuple(target))


@imports("Flatten")
def _flatten(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x = xs[0]
    shape = _shape_of(x)
    axis = attrs.get("axis", 1) % (len(shape) + 1)
    return _reshaped(x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))


@imports("Split")
def _split(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x = xs[0]
    shape = _shape_of(x)
    axis = attrs.get("axis", 0) % len(shape)
    if len(xs) > 1 and xs[1] is not None:
        sizes = _ints(xs[1], "Split's split")
    else:
        k = int(attrs.get("num_outputs") or len(attrs.get("split", ())) or 1)
        sizes = list(attrs.get("split", ())) or [-(-shape[axis] // k)] * k
    out, start = [], 0
    lead = (slice(None),) * axis
    for n in sizes:
        n = min(n, shape[axis] - start)
        piece = lead + (slice(start, start + n),)
        out.append(F.getitem(x, piece) if isinstance(x, Variable) else np.asarray(x)[piece])
        start += n
    return tuple(out)


@imports("Squeeze")
def _squeeze(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    shape = _shape_of(xs[0])
    axes = _axes(xs, attrs)
    if axes is None:
        axes = [i for i, n in enumerate(shape) if n == 1]
    drop = {a % len(shape) for a in axes}
    return _reshaped(xs[0], tuple(n for i, n in enumerate(shape) if i not in drop))


@imports("Unsqueeze")
def _unsqueeze(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    shape = list(_shape_of(xs[0]))
    axes = _axes(xs, attrs) or []
    rank = len(shape) + len(axes)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return _reshaped(xs[0], tuple(shape))


@imports("Transpose")
def _transpose(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x = xs[0]
    perm = attrs.get("perm")
    axes = tuple(int(p) for p in perm) if perm is not None else None
    if not _live(x):
        return np.transpose(x, axes)
    return F.transpose(x, *axes) if axes is not None else F.transpose(x)


@imports("Expand")
def _expand(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, shape = xs
    target = np.broadcast_shapes(_shape_of(x), tuple(_ints(shape, "Expand shape")))
    if target == _shape_of(x):
        return x
    return F.broadcast_to(x, target) if _live(x) else np.broadcast_to(x, target)


@imports("Concat")
def _concat(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    axis = attrs["axis"]
    return F.concatenate(xs, axis=axis) if _live(*xs) else np.concatenate(xs, axis=axis)


@imports("Slice")
def _slice(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, starts, ends = xs[:3]
    rank = len(_shape_of(x))
    starts_, ends_ = _ints(starts, "Slice starts"), _ints(ends, "Slice ends")
    axes = _ints(xs[3], "Slice axes") if len(xs) > 3 and xs[3] is not None else range(len(starts_))
    steps = _ints(xs[4], "Slice steps") if len(xs) > 4 and xs[4] is not None else [1] * len(starts_)
    index = [slice(None)] * rank
    # Python's slices clamp out-of-range bounds as ONNX's Slice does.
    for a, s, e, st in zip(axes, starts_, ends_, steps):
        index[a % rank] = slice(s, e, st)
    return _getitem(x, tuple(index))


def _getitem(x: Any, index: Any) -> Any:
    return F.getitem(x, index) if _live(x) else np.asarray(x)[index]


@imports("Gather")
def _gather(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, idx = xs
    axis = attrs.get("axis", 0) % len(_shape_of(x))
    if _live(idx) and axis == 0 and len(_shape_of(x)) == 2:
        # Ids that come from the model's input: the rows of a table, as an embedding.
        return F.embedding(idx, x)
    indices = _array(idx, "Gather indices")
    return _getitem(x, (slice(None),) * axis + (indices,))


@imports("GatherND")
def _gather_nd(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    if attrs.get("batch_dims", 0):
        raise UnsupportedOpError("load: GatherND with batch_dims is not supported")
    x, idx = xs
    indices = _array(idx, "GatherND indices")
    return _getitem(x, tuple(indices[..., k] for k in range(indices.shape[-1])))


@imports("ScatterND")
def _scatter_nd(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    if attrs.get("reduction", "none") != "add":
        raise UnsupportedOpError("load: ScatterND is supported with reduction 'add' only")
    data, idx, updates = xs
    indices = _array(idx, "ScatterND indices")
    index = tuple(indices[..., k] for k in range(indices.shape[-1]))
    added = both.scatter_add(updates, index, _shape_of(data))
    if not _live(data) and not np.any(_array(data, "ScatterND data")):
        return added
    return data + added


@imports("Shape")
def _shape(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    shape = np.array(_shape_of(xs[0]), dtype=np.int64)
    return shape[attrs.get("start", 0) : attrs.get("end", len(shape))]


@imports("Range")
def _range(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    start, limit, delta = (_array(x, "Range input") for x in xs)
    dtype = np.result_type(start, limit, delta)
    return np.arange(start.item(), limit.item(), delta.item()).astype(dtype)


@imports("Constant")
def _constant(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            value = attrs[key]
            if key.startswith("value_float"):
                return np.asarray(value, dtype=np.float32)
            if key.startswith("value_int"):
                return np.asarray(value, dtype=np.int64)
            return value
    raise UnsupportedOpError(
        f"load: a Constant node with attributes {sorted(attrs)} is not supported"
    )


# --------------------------------------------------------------------------- linalg


@imports("MatMul")
def _matmul(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    return F.matmul(*xs) if _live(*xs) else np.matmul(*xs)


@imports("Gemm")
def _gemm(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    a, w = xs[:2]
    c = xs[2] if len(xs) > 2 else None
    if attrs.get("transA", 0):
        a = F.transpose(a)
    if attrs.get("transB", 0):
        # PyTorch writes its (out, in) weights this way.
        w = F.transpose(w)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha == 1 and beta == 1 and (c is None or _shape_of(c) == (_shape_of(w)[1],)):
        return F.linear(a, w, c)
    y = F.matmul(a, w) * alpha
    return y if c is None else y + c * beta


# --------------------------------------------------------------------------- losses


@imports("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    if len(xs) > 2 and xs[2] is not None:
        raise UnsupportedOpError(
            "load: SoftmaxCrossEntropyLoss with class weights is not supported"
        )
    if attrs.get("reduction", "mean") != "mean" or "ignore_index" in attrs:
        raise UnsupportedOpError(
            "load: SoftmaxCrossEntropyLoss is supported with reduction 'mean' and no ignore_index"
        )
    return F.softmax_cross_entropy(xs[0], _array(xs[1], "labels"))


# --------------------------------------------------------------------------- convolution


def _window_problems(attrs: dict[str, Any], ceil: bool = True) -> list[str]:
    """What the windows of a Conv, ConvTranspose or pooling node set that minigrad's ops do
    not have: other than 2-D windows, dilation, uneven padding, auto_pad, ceil_mode."""
    out = []
    kernel = attrs.get("kernel_shape")
    if kernel is not None and len(kernel) != 2:
        out.append(f"a {len(kernel)}-D kernel {list(kernel)} (minigrad has 2-D windows)")
    if any(d != 1 for d in attrs.get("dilations", [])):
        out.append(f"dilations {list(attrs['dilations'])}")
    pads = list(attrs.get("pads", []))
    if pads and (len(pads) != 4 or pads[:2] != pads[2:]):
        out.append(f"pads {pads} (minigrad pads both sides alike)")
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        out.append(f"auto_pad {attrs['auto_pad']} (give explicit pads)")
    if ceil and attrs.get("ceil_mode", 0):
        out.append("ceil_mode 1")
    return out


def _windows(attrs: dict[str, Any], w: Any = None) -> tuple[tuple[int, int], Any, Any]:
    """kernel (from kernel_shape or the weights' last two sides), strides and pads as pairs."""
    if "kernel_shape" in attrs:
        kh, kw = (int(k) for k in attrs["kernel_shape"])
    else:
        kh, kw = _shape_of(w)[-2:]
    sh, sw = (int(v) for v in attrs.get("strides", [1, 1]))
    pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
    if attrs.get("auto_pad") == "VALID":
        pads = [0, 0, 0, 0]
    return (kh, kw), (sh, sw), (pads[0], pads[1])


def _conv_check(attrs: dict[str, Any], n_outputs: int) -> str | None:
    problems = _window_problems(attrs, ceil=False)
    if attrs.get("group", 1) != 1:
        problems.append(f"group {attrs['group']} (a grouped convolution)")
    if attrs.get("output_shape") is not None:
        problems.append("output_shape (give pads and output_padding)")
    return ", ".join(problems) or None


@imports("Conv", check=_conv_check)
def _conv(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, w = xs[:2]
    b = xs[2] if len(xs) > 2 else None
    kernel, stride, pad = _windows(attrs, w)
    if tuple(_shape_of(w)[-2:]) != kernel:
        raise ValueError(f"kernel_shape {list(kernel)} but weights of shape {_shape_of(w)}")
    return F.conv2d(x, w, b, stride, pad)


@imports("ConvTranspose", check=_conv_check)
def _conv_transpose(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, w = xs[:2]
    b = xs[2] if len(xs) > 2 else None
    kernel, stride, pad = _windows(attrs, w)
    if tuple(_shape_of(w)[-2:]) != kernel:
        raise ValueError(f"kernel_shape {list(kernel)} but weights of shape {_shape_of(w)}")
    extra = [int(v) for v in attrs.get("output_padding", [0, 0])]
    return F.conv_transpose2d(x, w, b, stride, pad, (extra[0], extra[1]))


def _pool_check(attrs: dict[str, Any], n_outputs: int) -> str | None:
    problems = _window_problems(attrs)
    if n_outputs > 1:
        problems.append("the Indices output")
    if attrs.get("storage_order", 0):
        problems.append("storage_order 1")
    kernel, _, pads = _windows(attrs)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        problems.append(f"pads {list(attrs['pads'])} beyond half the kernel {list(kernel)}")
    return ", ".join(problems) or None


@imports("MaxPool", check=_pool_check)
def _max_pool(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    # ONNX's MaxPool never takes a padded element, as minigrad's -inf padding.
    kernel, stride, pad = _windows(attrs)
    return F.max_pool2d(xs[0], kernel, stride, pad)


def _average_pool_check(attrs: dict[str, Any], n_outputs: int) -> str | None:
    problem = _pool_check(attrs, n_outputs)
    if any(attrs.get("pads", [])) and not attrs.get("count_include_pad", 0):
        extra = "count_include_pad 0 with padding (minigrad counts the padding's zeros)"
        problem = f"{problem}, {extra}" if problem else extra
    return problem


@imports("AveragePool", check=_average_pool_check)
def _average_pool(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    kernel, stride, pad = _windows(attrs)
    return F.avg_pool2d(xs[0], kernel, stride, pad)


# --------------------------------------------------------------------------- batch norm


def _batch_norm_check(attrs: dict[str, Any], n_outputs: int) -> str | None:
    if attrs.get("training_mode", 0) or n_outputs > 1:
        return "training_mode 1 (the running statistics as outputs)"
    return None


def _layer_norm_check(attrs: dict[str, Any], n_outputs: int) -> str | None:
    return "the mean and inverse deviation as outputs" if n_outputs > 1 else None


@imports("LayerNormalization", check=_layer_norm_check)
def _layer_norm(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    x, scale, bias = (xs + [None, None])[:3]
    shape = _shape_of(x)
    axis = int(attrs.get("axis", -1)) % len(shape)
    return F.layer_norm(x, shape[axis:], scale, bias, float(attrs.get("epsilon", 1e-5)))


@imports("BatchNormalization", check=_batch_norm_check)
def _batch_norm(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    # The running statistics are buffers of the loaded module (see load.py): read in
    # evaluation mode; in training mode the batch's statistics normalize and the buffers are
    # updated in place, with PyTorch's momentum (ONNX's weighs the old value: 1 - it).
    x, scale, bias, mean, var = xs
    momentum = 1.0 - float(attrs.get("momentum", 0.9))
    return F.batch_norm(
        x,
        scale,
        bias,
        _array(mean, "BatchNormalization mean"),
        _array(var, "BatchNormalization var"),
        training=ctx.training,
        momentum=momentum,
        eps=float(attrs.get("epsilon", 1e-5)),
    )
