"""getitem as ONNX nodes: NumPy's indexing in three steps, one Slice for the slices and
integers, then either a Squeeze and an Unsqueeze (basic indexing) or a Gather / GatherND
(integer arrays, moved and broadcast as NumPy's rules say). `exporters.py` registers it."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.onnx import _builder as B


def export_index(b: B.Builder, x: B.Value, index: Any) -> tuple[str, tuple[B.Dim, ...]]:
    """`x[index]` as ONNX nodes; returns the output's name and dims."""
    shape, dt = b.outs[0]
    entries = _index_entries(b, index, x)
    advanced = any(isinstance(e, B.Value) for e in entries)
    if advanced and any(e is None for e in entries):
        raise B.UnsupportedOpError(
            "getitem: an index that mixes None (np.newaxis) with integer arrays has no ONNX "
            "form here; add the axis with reshape instead"
        )
    if advanced:
        entries = [
            B.Value(None, np.dtype(np.int64), (), (), const=np.int64(e))
            if isinstance(e, int)
            else e
            for e in entries
        ]

    # 1. Slices (and, in basic indexing, integers as one-element slices).
    starts, ends, axes, steps = [], [], [], []
    sym: list[B.Dim] = list(x.sym)
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
            ends.append(e + 1 if e != -1 else B.INT64_MAX)
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
        out: list[B.Dim] = []
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
    adv_axes = [i for i, e in enumerate(entries) if isinstance(e, B.Value)]
    arrays: list[B.Value] = [e for e in entries if isinstance(e, B.Value)]
    indices = [_index_array(b, a, y, sym, ax) for a, ax in zip(arrays, adv_axes)]
    if len(arrays) == 1:
        (ax,) = adv_axes
        name, isym = indices[0]
        out_sym = tuple(sym[:ax]) + isym + tuple(sym[ax + 1 :])
        return b.node("Gather", [y, name], axis=ax), out_sym
    idx_shape = np.broadcast_shapes(*[a.shape for a in arrays])
    idx_sym = B.broadcast_sym(
        idx_shape, *[B.Value(None, a.dtype, a.shape, s) for a, (_, s) in zip(arrays, indices)]
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


def _index_entries(b: B.Builder, index: Any, x: B.Value) -> list[Any]:
    """`index` as one entry per input axis (plus None for new axes): slice, int, None, or a
    B.Value for an integer array; Ellipsis expanded, boolean masks turned into integer arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    entries: list[Any] = []
    for p in parts:
        if isinstance(p, bool | np.bool_):
            raise B.UnsupportedOpError("getitem: a boolean scalar index has no ONNX form here")
        if isinstance(p, int | np.integer):
            entries.append(int(p))
        elif p is None or p is Ellipsis or isinstance(p, slice):
            entries.append(p)
        elif isinstance(p, list):
            entries.append(b.lookup(np.asarray(p)))
        elif isinstance(p, np.ndarray) and p.dtype == np.bool_:
            v = b.lookup(p)
            if not v.is_const:
                raise B.UnsupportedOpError(
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
            raise B.UnsupportedOpError(
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
        start = 0 if step > 0 else B.INT64_MAX
    if s.stop is not None:
        stop = int(s.stop)
    else:
        stop = B.INT64_MAX if step > 0 else B.INT64_MIN
    return start, stop, step


def _sliced_dim(s: slice, d: B.Dim, size: int) -> B.Dim:
    """A sliced dimension: fixed if it was, or if the slice has a fixed length (`[:5]`);
    `[1:]` or `[::2]` of the batch follows N in no way a reshape could use."""
    length = len(range(size)[s])
    if not isinstance(d, B.Batch):
        return length
    start, stop, step = s.start, s.stop, s.step
    fixed = step in (None, 1) and (start is None or start >= 0) and stop is not None and stop >= 0
    return length if fixed else B.Batch(None)


def _index_array(
    b: B.Builder, a: B.Value, y: str, sym: list[B.Dim], axis: int
) -> tuple[str, tuple[B.Dim, ...]]:
    """An integer index array as an int64 ONNX value, with its dims. `np.arange(n)` over a
    whole batch axis (the rows of `p[np.arange(N), t]`) becomes Range(0, N), so that it
    follows the batch."""
    if (
        a.is_const
        and a.ndim == 1
        and isinstance(sym[axis], B.Batch)
        and b.batch is not None
        and a.shape[0] == b.batch * (sym[axis].k or 0)  # type: ignore[union-attr]
        and np.array_equal(a.const, np.arange(a.shape[0]))
    ):
        n = b.node("Squeeze", [b.dim(y, axis), b.ints([0])])
        zero, one = b.const(np.int64(0)), b.const(np.int64(1))
        return b.node("Range", [zero, n, one]), (sym[axis],)
    return b.name(a, np.int64), a.sym
