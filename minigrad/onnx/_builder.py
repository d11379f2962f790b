"""The ONNX graph under construction: values with their shapes, nodes, constants.

Each exporter (`exporters.py`) receives its op's inputs as `Value`s and adds nodes through a
`Builder`. A Value knows the shape it had when the model ran and, for a dynamic batch, which
of its dimensions follow the batch size: `Batch(k)` is a dimension of k times the batch size
N (k = 1 for the batch axis itself, 2 for a batch concatenated with itself, ...), an int is a
fixed size. Exporters use that to write shapes that hold for any batch (`-1` in a Reshape
where the batch goes, a `1` in an Expand), and say for each output which dimensions follow N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Batch:
    """A dimension of `k` times the batch size N; `k` None: follows N in a way no shape
    expression here can state (a part of the batch sliced off), so no reshape may use it."""

    k: Fraction | None = Fraction(1)

    def __repr__(self) -> str:
        return "N" if self.k == 1 else f"{self.k}*N"


N = Batch()
#: A dimension: a fixed size or one that follows the batch size.
Dim = int | Batch
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def is_batch(d: Dim) -> bool:
    return isinstance(d, Batch)


@dataclass(eq=False)
class Value:
    """An ONNX value, or a constant that becomes one when an op first needs it."""

    #: The ONNX name; None for a constant not yet written into the graph.
    name: str | None
    dtype: np.dtype
    #: The shape it had when the model ran.
    shape: tuple[int, ...]
    #: `shape` with Batch(k) where a dimension follows the batch size.
    sym: tuple[Dim, ...]
    #: The data of a constant (an ndarray, or a Python number), else None.
    const: Any = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_const(self) -> bool:
        return self.const is not None


def constant(data: Any) -> Value:
    """A constant Value (an ndarray or a Python number), written into the graph when used."""
    shape = tuple(np.shape(data))
    return Value(None, np.asarray(data).dtype, shape, shape, const=data)


class UnsupportedOpError(ValueError):
    """An op with no ONNX form here: a user `Function` or an op setting `export` cannot write,
    or in `load` an ONNX op minigrad does not run. The message names it and where it is."""


class Builder:
    """Collects the nodes and constants of one ONNX graph.

    `node(op_type, inputs, **attributes)` adds a node and returns its output name(s);
    `name(value, dtype)` writes a constant into the graph (or casts a value) on first use;
    `ints([...])` is an int64 constant (axes, shapes). The op being exported sets `scope`
    (the module path, for readable node names) and `batch` is the example's batch size
    (None without a dynamic batch).
    """

    def __init__(self, onnx: Any, opset: int, batch: int | None) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.opset = opset
        self.batch = batch
        self.nodes: list[Any] = []
        self.scope = ""
        self.op = ""
        #: (shape, dtype) of each output of the op being exported, as it ran.
        self.outs: list[tuple[tuple[int, ...], np.dtype]] = []
        #: An ndarray met in an op's settings (an index array) -> its Value: a model input
        #: when it is one (labels used as an index), else a constant. Set by the exporter.
        self.lookup: Callable[[Any], Value] = constant
        self._used: set[str] = set()
        self._consts: dict[tuple[Any, ...], str] = {}
        self._casts: dict[tuple[str, str], str] = {}

    # -- names
    def reserve(self, name: str) -> str:
        """`name`, or `name_1`, `name_2`, ... if it is taken; marked as taken."""
        out = name
        k = 0
        while out in self._used:
            k += 1
            out = f"{name}_{k}"
        self._used.add(out)
        return out

    def _prefix(self) -> str:
        return f"{self.scope}/" if self.scope else ""

    # -- nodes
    def node(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        """Add an `op_type` node on `inputs` ("" for an absent optional input); returns the
        output name, or a list of `outputs` names."""
        base = f"{self._prefix()}{self.op or op_type}"
        names = [self.reserve(base if i == 0 else f"{base}:{i}") for i in range(outputs)]
        node_name = self.reserve(f"{self._prefix()}{op_type}")
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, inputs, names, name=node_name, **attrs))
        return names[0] if outputs == 1 else names

    def const(self, array: Any, dtype: Any = None, base: str = "const") -> str:
        """A Constant node holding `array` (in `dtype` if given); equal small constants are
        written once."""
        a = np.asarray(array, dtype=dtype)
        key = None
        if a.size <= 64:
            key = (a.dtype.str, a.shape, a.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.reserve(base)
        tensor = self.onnx.numpy_helper.from_array(
            a if a.flags.c_contiguous else a.copy(order="C"), name=name
        )
        node = self.helper.make_node(
            "Constant", [], [name], name=self.reserve(f"{name}/Constant"), value=tensor
        )
        self.nodes.append(node)
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values: Any) -> str:
        """A 1-D int64 constant (axes, shapes, starts, ...)."""
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), base="ints")

    def name(self, v: Value, dtype: Any = None) -> str:
        """The ONNX name of `v` in `dtype` (default: its own): a constant is written into the
        graph converted to it; a graph value of another dtype goes through a Cast."""
        dt = v.dtype if dtype is None else np.dtype(dtype)
        if v.name is None:
            return self.const(v.const, dtype=dt)
        if dt == v.dtype:
            return v.name
        key = (v.name, dt.str)
        if key not in self._casts:
            self._casts[key] = self.node("Cast", [v.name], to=self.tensor_type(dt))
        return self._casts[key]

    def tensor_type(self, dtype: Any) -> int:
        """ONNX's element type number for a NumPy dtype."""
        return int(self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    # -- helpers most exporters need
    def reduce(
        self, op_type: str, x: str, axes: list[int] | None, keepdims: bool, **attrs: Any
    ) -> str:
        """A Reduce* node over `axes` (None: all). Opset 18 moved the axes of every reduction
        from an attribute to an input; ReduceSum did so at 13."""
        keep = int(keepdims)
        if axes is None:
            return self.node(op_type, [x], keepdims=keep, **attrs)
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.node(op_type, [x, self.ints(axes)], keepdims=keep, **attrs)
        return self.node(op_type, [x], axes=list(axes), keepdims=keep, **attrs)

    def dim(self, x: str, axis: int) -> str:
        """A 1-element int64 tensor holding the size of `x` along `axis` when the graph runs."""
        if self.opset >= 15:
            return self.node("Shape", [x], start=axis, end=axis + 1)
        shape = self.node("Shape", [x])
        return self.node("Gather", [shape, self.ints([axis])], axis=0)

    def batch_dims(self, shape: tuple[int, ...], sym: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """Check that `sym` fits `shape` (an exporter's claim about its output)."""
        if len(sym) != len(shape):
            raise AssertionError(f"{self.op}: dims {sym} for an output of shape {shape}")
        for d, s in zip(sym, shape):
            if isinstance(d, Batch):
                if d.k is not None and self.batch is not None and d.k * self.batch != s:
                    raise AssertionError(f"{self.op}: dims {sym} for an output of shape {shape}")
            elif d != s:
                raise AssertionError(f"{self.op}: dims {sym} for an output of shape {shape}")
        return sym


# --------------------------------------------------------------------------- shape rules


def broadcast_sym(out_shape: tuple[int, ...], *values: Value) -> tuple[Dim, ...]:
    """The dims of an elementwise op's output: NumPy's broadcasting, right-aligned; a
    dimension follows the batch if an input's dimension of the same size there does."""
    out: list[Dim] = list(out_shape)
    n = len(out_shape)
    for v in values:
        off = n - v.ndim
        for i, d in enumerate(v.sym):
            if isinstance(d, Batch) and v.shape[i] == out_shape[off + i]:
                out[off + i] = d
    return tuple(out)


def reshape_sym(x: Value, out_shape: tuple[int, ...], batch: int, op: str) -> tuple[Dim, ...]:
    """The dims of `x` reshaped to `out_shape`.

    The batch goes to the output dimension that holds, in row-major order, the element where
    the batch dimension of `x` starts, or the nearest one that is a multiple of the batch
    size: (N, 28, 28) -> (N, 784), (N*T, C) -> (N, T, C), (6, N) -> (3, 2N), 2N -> (2, N).
    That one dimension then follows the batch; the others are fixed.
    """
    axes = [i for i, d in enumerate(x.sym) if isinstance(d, Batch)]
    if not axes:
        return tuple(out_shape)
    if len(axes) > 1 or x.sym[axes[0]].k is None:  # type: ignore[union-attr]
        raise UnsupportedOpError(
            f"{op}: cannot reshape a value of shape {x.sym} for any batch size (it has "
            "more than one batch-sized dimension); export with dynamic_batch=False"
        )
    before = int(np.prod(x.shape[: axes[0]]))
    acc = 1
    straddle = -1
    for i, o in enumerate(out_shape):
        acc *= o
        if acc > before:
            straddle = i
            break
    if straddle < 0:
        raise UnsupportedOpError(f"{op}: cannot place the batch of {x.sym} in shape {out_shape}")
    # Of the dimensions that are whole multiples of the batch size, the one nearest to where
    # the batch starts: 2N -> (2, N) puts it second, (6, N) -> (3, 2N) too.
    multiples = [j for j, o in enumerate(out_shape) if o and o % batch == 0]
    j = min(multiples, key=lambda j: (abs(j - straddle), j)) if multiples else straddle
    out: list[Dim] = list(out_shape)
    out[j] = Batch(Fraction(out_shape[j], batch))
    return tuple(out)
