"""Shape ops: reshape, transpose, flatten, broadcast_to, sum_to, getitem, embedding,
concatenate, stack, chunk, unbind.

They move elements without changing them, so each backward moves the gradient back:
reshape <-> reshape, transpose <-> inverse transpose, broadcast_to <-> sum_to, getitem <->
scatter-add (`np.add.at`, so repeated indices accumulate), embedding's row gather <-> rows
added back by id, concatenate/stack <-> slices, chunk/unbind (several outputs) <->
concatenate/stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.core import Function, Variable, _apply1, _apply2
from minigrad.functions import _both as both
from minigrad.functions._bases import AlongAxis, ToShape
from minigrad.functions._util import data_of, shape_of, shape_str, sum_to_array

__all__ = [
    "reshape",
    "transpose",
    "flatten",
    "broadcast_to",
    "sum_to",
    "getitem",
    "embedding",
    "concatenate",
    "stack",
    "chunk",
    "unbind",
]


def _shape_arg(shape: tuple[Any, ...], op: str) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, int | np.integer):
            raise TypeError(f"{op}: shape entries must be ints, got {shape!r}")
    return tuple(int(n) for n in shape)


class Reshape(ToShape):
    """y = x.reshape(shape).  Same elements, new shape; dx = gy.reshape(x.shape)."""

    rule = "gx = gy reshaped to x's shape"

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape an array of shape {shape_str(x.shape)} ({x.size} "
                f"elements) into shape {shape_str(self.shape)}"
            ) from None

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return gy.reshape(np.shape(x))


def reshape(x: Variable | Any, *shape: Any) -> Variable:
    """x with a new shape of the same size (one entry may be -1): `reshape(x, (2, 3))` or `reshape(x, 2, 3)`."""
    shape = _shape_arg(shape, "reshape")
    if shape_of(x) == shape:
        return x if isinstance(x, Variable) else Variable(data_of(x), requires_grad=False)
    return _apply1(Reshape(shape), x)


class Transpose(Function):
    """y = x.transpose(axes) (axes reversed if None).  dx = gy transposed by the inverse."""

    rule = "gx = gy transposed back (the inverse permutation)"
    backward_on_arrays = True
    saves_attrs = False
    __slots__ = ("axes",)

    def __init__(self, axes: tuple[int, ...] | None) -> None:
        self.axes = axes

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(self.axes)

    def backward(self, gy: Any) -> Any:
        if self.axes is None:
            return gy.transpose()
        return gy.transpose(tuple(np.argsort(self.axes)))

    def label(self) -> str:
        return "transpose" if self.axes is None else f"transpose {self.axes}"


def transpose(x: Variable | Any, *axes: Any) -> Variable:
    """x with its axes permuted (reversed if no axes are given).  (a, b, c) -> e.g. (c, b, a)."""
    ax: tuple[int, ...] | None = _shape_arg(axes, "transpose") if axes and axes != (None,) else None
    ndim = len(shape_of(x))
    if ax is not None and sorted(a % ndim if -ndim <= a < ndim else -1 for a in ax) != list(
        range(ndim)
    ):
        raise ValueError(
            f"transpose: axes {ax} are not a permutation of the {ndim} axes of an input of shape "
            f"{shape_str(shape_of(x))}"
        )
    if ax is not None:
        # Non-negative axes, so that the backward's argsort inverts the permutation.
        ax = tuple(a % ndim for a in ax)
    return _apply1(Transpose(ax), x)


def flatten(x: Variable | Any, start_dim: int = 0, end_dim: int = -1) -> Variable:
    """x with dims start_dim..end_dim merged into one (all of them by default, like PyTorch)."""
    shape = shape_of(x)
    nd = len(shape)
    if nd == 0:
        return reshape(x, (1,))
    if not (-nd <= start_dim < nd and -nd <= end_dim < nd) or start_dim % nd > end_dim % nd:
        raise ValueError(
            f"flatten: dims {start_dim}..{end_dim} are invalid for shape {shape_str(shape)}"
        )
    s, e = start_dim % nd, end_dim % nd
    return reshape(x, shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :])


class BroadcastTo(ToShape):
    """y = x broadcast to `shape` (NumPy's rules).  dx = gy summed back to x's shape."""

    rule = "gx = gy summed back to x's shape"

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return np.broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(
                f"broadcast_to: cannot broadcast shape {shape_str(x.shape)} to "
                f"{shape_str(self.shape)}"
            ) from None

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return both.sum_to(gy, np.shape(x))


def broadcast_to(x: Variable | Any, shape: tuple[int, ...]) -> Variable:
    """x broadcast to `shape` (NumPy's rules); its gradient is summed back to x's shape."""
    return BroadcastTo(_shape_arg((shape,), "broadcast_to"))(x)


class SumTo(ToShape):
    """y = x summed down to `shape` (a broadcast undone).  dx = gy broadcast back to x's shape."""

    rule = "gx = gy broadcast back to x's shape"

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            ok = np.broadcast_shapes(x.shape, self.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"sum_to: cannot sum shape {shape_str(x.shape)} down to {shape_str(self.shape)}"
            )
        return sum_to_array(x, self.shape)

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return both.broadcast_to(gy, np.shape(x))


def sum_to(x: Variable | Any, shape: tuple[int, ...]) -> Variable:
    """x summed down to `shape`, undoing a broadcast: (2, 3) -> (1, 3) or (3,)."""
    return SumTo(_shape_arg((shape,), "sum_to"))(x)


def _index_str(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            s = "" if p.start is None else str(p.start)
            s += ":" + ("" if p.stop is None else str(p.stop))
            if p.step is not None:
                s += f":{p.step}"
            out.append(s)
        elif p is Ellipsis:
            out.append("...")
        elif p is None:
            out.append("None")
        elif isinstance(p, np.ndarray):
            out.append(f"<{p.dtype} {shape_str(p.shape)}>")
        else:
            out.append(repr(p))
    return "[" + ", ".join(out) + "]"


class GetItem(Function):
    """y = x[index] (NumPy's basic and advanced indexing).  dx = zeros of x's shape with gy
    added at `index` (`np.add.at`, so an element picked twice receives both gradients)."""

    rule = "gx = zeros of x's shape with gy added at the index"
    backward_on_arrays = True
    saves_attrs = False
    name = "getitem"
    __slots__ = ("index",)

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return x[self.index]
        except IndexError as e:
            raise IndexError(
                f"getitem: index {_index_str(self.index)} is invalid for shape "
                f"{shape_str(x.shape)}: {e}"
            ) from None

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return both.scatter_add(gy, self.index, np.shape(x))

    def label(self) -> str:
        return f"getitem {_index_str(self.index)}"


def getitem(x: Variable | Any, index: Any) -> Variable:
    """x[index], NumPy's basic and advanced indexing; repeated indices accumulate in backward."""
    if isinstance(index, Variable):
        index = index.data
    elif isinstance(index, list):
        index = np.asarray(index)
    elif isinstance(index, tuple):
        # x[i, 0] with a Variable i: NumPy only knows arrays.
        index = tuple(p.data if isinstance(p, Variable) else p for p in index)
    return _apply1(GetItem(index), x)


class ScatterAdd(Function):
    """y = zeros(shape) with x added at `index`: getitem's backward as an op, so that a
    recorded backward (create_graph) can be differentiated again.  dx = gy[index]."""

    rule = "gx = gy[index]"
    backward_on_arrays = True
    saves_attrs = False
    name = "scatter_add"
    __slots__ = ("index", "shape")

    def __init__(self, index: Any, shape: tuple[int, ...]) -> None:
        self.index = index
        self.shape = shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        return both.scatter_add(x, self.index, self.shape)

    def backward(self, gy: Any) -> Any:
        return gy[self.index]


class Embedding(Function):
    """y = W[ids]: the rows of W picked by integer ids.  ids: any shape S, W: (V, D) -> y:
    S + (D,).  dW = zeros (V, D) with each gy row added at its id (repeated ids add up; no
    one-hot is built); the rows of `padding_idx` get no gradient. The ids are an input (so
    an exported model takes them as its input) that is never differentiated."""

    rule = "gW = zeros of W's shape with each gy row added at its id"
    backward_on_arrays = True
    saves_attrs = False
    nondiff_inputs = (0,)
    __slots__ = ("padding_idx",)

    def __init__(self, padding_idx: int | None = None) -> None:
        self.padding_idx = padding_idx

    def forward(self, ids: np.ndarray, W: np.ndarray) -> np.ndarray:
        return W[ids]

    def backward(self, gy: Any) -> tuple[None, Any]:
        ids, W = self.saved_inputs
        ids = data_of(ids)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, gy = ids[keep], gy[keep]
        return None, both.rows_add(gy, ids, np.shape(W))

    def label(self) -> str:
        return (
            "embedding" if self.padding_idx is None else f"embedding padding_idx={self.padding_idx}"
        )


def embedding(ids: Any, W: Variable | Any, padding_idx: int | None = None) -> Variable:
    """W[ids], the rows of the table W (V, D) for integer ids of any shape S -> S + (D,).

    As PyTorch's `F.embedding(input, weight, padding_idx)`: `ids` are never differentiated;
    W's gradient adds each output row's gradient at its id, except at `padding_idx`.
    Ids outside [0, V) and non-integer ids raise an error naming them.
    """
    if not isinstance(ids, Variable):
        ids = np.asarray(ids)
    w_shape = shape_of(W)
    if len(w_shape) != 2:
        raise ValueError(f"embedding: W must be a 2-D table (V, D), got shape {shape_str(w_shape)}")
    if ids.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: ids must be integers, got dtype {ids.dtype} (the order is "
            "F.embedding(ids, W); float ids can be cast with .astype(np.int64))"
        )
    V = w_shape[0]
    if ids.size:
        lo, hi = int(data_of(ids).min()), int(data_of(ids).max())
        if lo < 0 or hi >= V:
            bad = lo if lo < 0 else hi
            raise IndexError(
                f"embedding: id {bad} is out of range for a table of {V} rows "
                f"(W has shape {shape_str(w_shape)}; ids must be in [0, {V}))"
            )
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for {V} rows")
        padding_idx %= V
    return _apply2(Embedding(padding_idx), ids, W)


class Concatenate(AlongAxis):
    """y = concatenate(xs, axis).  Each dx is gy's slice for that input along `axis`."""

    rule = "gx_i = gy's slice for input i"

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=self.axis)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xs = self.saved_inputs
        axis = self.axis % gy.ndim
        gxs = []
        start = 0
        for x, need in zip(xs, self.needs_input_grad):
            n = np.shape(x)[axis]
            if need:
                gxs.append(gy[(slice(None),) * axis + (slice(start, start + n),)])
            else:
                gxs.append(None)
            start += n
        return tuple(gxs)


def _seq(xs: Sequence[Any], op: str) -> list[Any]:
    if isinstance(xs, Variable | np.ndarray) or not isinstance(xs, Sequence) or len(xs) == 0:
        raise TypeError(f"{op}: expected a non-empty list of arrays, got {type(xs).__name__}")
    return list(xs)


def concatenate(xs: Sequence[Variable | Any], axis: int = 0) -> Variable:
    """Join arrays along an existing axis; all other dims must match."""
    items = _seq(xs, "concatenate")
    shapes = [shape_of(x) for x in items]
    nd = len(shapes[0])
    if nd == 0 or not -nd <= axis < nd:
        raise ValueError(f"concatenate: axis {axis} is out of range for shapes {shapes}")
    ax = axis % nd
    for s in shapes:
        if len(s) != nd or s[:ax] + s[ax + 1 :] != shapes[0][:ax] + shapes[0][ax + 1 :]:
            raise ValueError(
                f"concatenate: shapes {', '.join(map(shape_str, shapes))} differ outside axis {axis}"
            )
    return Concatenate(ax)(*items)


class Chunk(AlongAxis):
    """ys = x split into `chunks` equal pieces along `axis` (several outputs, views of x).
    (..., k*m, ...) -> k arrays (..., m, ...).  dx = concatenate(gys, axis).

    One op where k getitems would each scatter into a zero array of x's shape (the gates of
    an LSTM step come out of one matmul this way)."""

    rule = "gx = concatenate(gys) along the axis"
    __slots__ = ("axis", "chunks")

    def __init__(self, axis: int, chunks: int) -> None:
        self.axis = axis
        self.chunks = chunks

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.split(x, self.chunks, axis=self.axis))

    def backward(self, *gys: Any) -> Any:
        if isinstance(gys[0], Variable):
            return Concatenate(self.axis)(*gys)
        return np.concatenate(gys, axis=self.axis)

    def label(self) -> str:
        return f"chunk {self.chunks} axis={self.axis}"


def chunk(x: Variable | Any, chunks: int, axis: int = 0) -> tuple[Variable, ...]:
    """`chunks` equal pieces of x along `axis` (PyTorch's `torch.chunk` for a size that
    divides evenly).  (..., chunks*m, ...) -> tuple of (..., m, ...)."""
    s = shape_of(x)
    if isinstance(chunks, bool) or not isinstance(chunks, int | np.integer) or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if len(s) == 0 or not -len(s) <= axis < len(s):
        raise ValueError(f"chunk: axis {axis} is out of range for shape {shape_str(s)}")
    ax = axis % len(s)
    if s[ax] % chunks:
        raise ValueError(
            f"chunk: axis {axis} of shape {shape_str(s)} has {s[ax]} elements, not divisible "
            f"into {chunks} equal chunks"
        )
    if chunks == 1:
        return (x if isinstance(x, Variable) else Variable(x, requires_grad=False),)
    return Chunk(ax, int(chunks))(x)


class Unbind(AlongAxis):
    """ys = the slices of x along `axis`, that axis removed (several outputs, views of x).
    (..., k, ...) -> k arrays (..., ...).  dx = stack(gys, axis).

    One op where k getitems would each scatter into a zero array of x's shape: a recurrent
    layer's inputs for all time steps, projected by one matmul, are taken apart this way."""

    rule = "gx = stack(gys) along the axis"

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        lead = (slice(None),) * self.axis
        return tuple(x[lead + (i,)] for i in range(x.shape[self.axis]))

    def backward(self, *gys: Any) -> Any:
        if isinstance(gys[0], Variable):
            return Stack(self.axis)(*gys)
        return np.stack(gys, axis=self.axis)


def unbind(x: Variable | Any, axis: int = 0) -> tuple[Variable, ...]:
    """The slices of x along `axis`, as PyTorch's `torch.unbind`.  (T, N, C) -> T of (N, C)."""
    s = shape_of(x)
    if len(s) == 0 or not -len(s) <= axis < len(s):
        raise ValueError(f"unbind: axis {axis} is out of range for shape {shape_str(s)}")
    ax = axis % len(s)
    if s[ax] == 0:
        raise ValueError(f"unbind: axis {axis} of shape {shape_str(s)} is empty")
    if s[ax] == 1:
        # A one-output op returns a Variable, not a tuple; keep the tuple.
        lead = (slice(None),) * ax
        return (getitem(x, lead + (0,)),)
    return Unbind(ax)(x)


class Stack(AlongAxis):
    """y = stack(xs, axis), a new axis.  Each dx is gy indexed at its position on that axis."""

    rule = "gx_i = gy[i] along the new axis"

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.stack(xs, axis=self.axis)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        axis = self.axis % gy.ndim
        lead = (slice(None),) * axis
        return tuple(
            gy[lead + (i,)] if need else None for i, need in enumerate(self.needs_input_grad)
        )


def stack(xs: Sequence[Variable | Any], axis: int = 0) -> Variable:
    """Join arrays of the same shape along a new axis.  k arrays of (a, b) -> (k, a, b) at axis 0."""
    items = _seq(xs, "stack")
    shapes = [shape_of(x) for x in items]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(
            f"stack: all inputs must have the same shape, got {', '.join(map(shape_str, shapes))}"
        )
    nd = len(shapes[0]) + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} is out of range for {nd} dimensions")
    return Stack(axis % nd)(*items)
