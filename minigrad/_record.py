"""Step 1 of the algorithm (core.py lists the steps; reference.py is the plain version):
calling a Function runs its forward on the inputs' arrays and, when an input requires grad,
records the node. Also anomaly mode's checks, which run here and in the backward pass."""

from __future__ import annotations

import sys
import traceback
import warnings
import weakref
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad._modes import _local, _Mode
from minigrad.core import Function, Variable, _describe, _to_array

__all__ = ["AnomalyError"]

# The hottest path of the library: each list, loop, helper call or tuple here costs about a
# fifth of a small NumPy op. Each fast path says what the 1,000-op chain (or the wide graph)
# of benchmarks/bench_overhead.py costs without it, in instructions per op counted by
# callgrind, which unlike a clock gives the same figure on every run of a shared machine.
# Step 1's fast path: `_apply1`/`_apply2` only unwrap one or two inputs, without `_apply`'s
# loop (the chain costs 16% more without them). `_record` is the one place a node is linked.

_new_variable = object.__new__
_ref = weakref.ref
# needs_input_grad of one- and two-input calls, indexed by the flags: shared, never rebuilt.
_NEEDS1 = (True,)
_NEEDS2 = (((False, False), (False, True)), ((True, False), (True, True)))
_FIRST = _NEEDS2[1][0]
# The same for a second input that is a Variable: equal tuples, but (True, False) is not
# _FIRST, so that _record's loop sees that Variable.
# (Built, not written out: the compiler would merge equal constant tuples into one object.)
_NEEDS2_VAR = (_NEEDS2[0], (tuple([True, False]), _NEEDS2[1][1]))


def _as_const(x: Any, op: str) -> Any:
    """An op's constant input: ndarrays and Python numbers stay as they are (no copy)."""
    if type(x) is np.ndarray or type(x) is float or type(x) is int:
        return x
    if isinstance(x, np.generic):
        # A NumPy scalar acts as a Python number (weakly typed), so np.float64(2.0) does not
        # upcast a float32 Variable under NumPy 2's promotion rules.
        return x.item()
    if isinstance(x, np.ndarray | bool | int | float | complex):
        return x
    if isinstance(x, list | tuple):
        return _to_array(x, op)
    raise TypeError(f"{op}: expected a Variable, an ndarray or a number, got {type(x).__name__}")


def _apply1(f: Function, x0: Any) -> Any:
    """`f(x0)`: run forward on x0's data; record the node if x0 requires grad."""
    mode = _local.mode
    if mode.anomaly:
        return _apply(f, (x0,))
    if isinstance(x0, Variable):
        d0 = x0.data
        y = f.forward(d0)
        if x0.requires_grad and mode.grad_enabled:
            return _record(f, (x0,), (d0,), _NEEDS1, y, mode)
    else:
        y = f.forward(x0 if type(x0) is np.ndarray else _as_const(x0, f.name))
    return _constant(y) if type(y) is np.ndarray else _constants(y)


def _apply2(f: Function, x0: Any, x1: Any) -> Any:
    """`f(x0, x1)`: run forward on the data; record the node if an input requires grad."""
    mode = _local.mode
    if mode.anomaly:
        return _apply(f, (x0, x1))
    if isinstance(x0, Variable):
        d0, r0 = x0.data, x0.requires_grad
    else:
        d0, r0 = (x0 if type(x0) is np.ndarray else _as_const(x0, f.name)), False
    if isinstance(x1, Variable):
        # _record's fast case does not look at a second input: a Variable there goes through
        # its loop (its version noted, its dtype checked), by a needs tuple of its own.
        d1, r1, table = x1.data, x1.requires_grad, _NEEDS2_VAR
    else:
        d1, r1 = (x1 if type(x1) is np.ndarray else _as_const(x1, f.name)), False
        table = _NEEDS2
    y = f.forward(d0, d1)
    if (r0 or r1) and mode.grad_enabled:
        return _record(f, (x0, x1), (d0, d1), table[r0][r1], y, mode)
    return _constant(y) if type(y) is np.ndarray else _constants(y)


def _apply(f: Function, inputs: tuple[Any, ...]) -> Any:
    """`f(*inputs)` for any number of inputs; the only front end that runs anomaly checks."""
    mode = _local.mode
    xs = []
    needs = []
    for x in inputs:
        if isinstance(x, Variable):
            xs.append(x.data)
            needs.append(x.requires_grad and mode.grad_enabled)
        else:
            xs.append(x if type(x) is np.ndarray else _as_const(x, f.name))
            needs.append(False)
    if mode.anomaly:
        f.stack = _user_stack()
    y = f.forward(*xs)
    if mode.anomaly:
        _check_finite(f, y if type(y) is tuple else (y,), "forward")
    if True in needs:
        out = _record(f, inputs, tuple(xs), tuple(needs), y, mode)
        if mode.anomaly:
            f._versions = _Checksums(f)
        return out
    return _constant(np.asarray(y)) if type(y) is not tuple else _constants(y)


def _record(
    f: Function,
    inputs: tuple[Any, ...],
    xs: tuple[Any, ...],
    needs: tuple[bool, ...],
    y: Any,
    mode: _Mode,
) -> Any:
    """Step 1: link f into the graph. Its output Variable(s) get f as creator; f keeps its
    inputs, what backward reads, weak references to its outputs, its parents and its
    generation. Returns the output (a tuple of them if forward returned a tuple)."""
    f.inputs = inputs
    f.needs_input_grad = needs
    f.saved_inputs = xs
    f.scope = mode.scope
    if type(y) is np.ndarray:
        # The output, made as _variable makes it, inlined: one call less per op (the chain
        # costs 1.4% more without it).
        v = _new_variable(Variable)
        v.data = y
        v.grad = v.name = v._meta = None
        v.creator = f
        v.requires_grad = True
        v._version = 0
        f._saved_outputs = None
        f._out = _ref(v)
        out: Any = v
    else:
        out = _record_outputs(f, y)
    if needs is _NEEDS1 or needs is _FIRST:
        # Step 1's common case, one input needing grad, linked without the loop below (the
        # chain costs 3.7% more without it); the other input, if any, is no Variable.
        x = inputs[0]
        c = x.creator
        if c is None:
            # A leaf: note its version, as a bare int (no tuple per op) for input 0 alone.
            f._parents = None
            f.generation = 0
            f._versions = x._version
        else:
            f._parents = c
            f.generation = c.generation + 1
            f._versions = None
        return out
    parents = None
    gen = 0
    versions = None
    i = -1
    for need in needs:  # indexing, not zip(inputs, needs): the wide graph costs 3.9% more
        i += 1
        if need:
            c = inputs[i].creator
            if c is not None:
                if parents is None:
                    parents = c
                elif type(parents) is tuple:
                    if c not in parents:
                        parents += (c,)
                elif c is not parents:
                    parents = (parents, c)
                if c.generation >= gen:
                    gen = c.generation + 1
                continue
        elif not isinstance(inputs[i], Variable):
            continue
        else:
            x = inputs[i]
            if x.creator is not None:
                continue
            _check_can_hold_grad(f, i, x)
        # A leaf Variable (the only kind minigrad changes in place): note its version.
        if versions is None:
            versions = [None] * len(needs)
        versions[i] = inputs[i]._version
    f._parents = parents
    f.generation = gen
    f._versions = None if versions is None else tuple(versions)
    return out


def _check_can_hold_grad(f: Function, i: int, x: Variable) -> None:
    """Warn when a recorded op's input is a leaf Variable that cannot hold a gradient (its
    data is not floating), unless the op never differentiates that input (labels): a
    backward through the op would otherwise leave its .grad None without a word."""
    if x.creator is None and x.data.dtype.kind not in "fc" and i not in f.nondiff_inputs:
        name = f" {x.name!r}" if x.name else ""
        _warn_user(
            f"{f.name}: input {i}{name} is a Variable of dtype {x.data.dtype}, which cannot "
            "hold a gradient: backward will leave its .grad None. Make it floating (Python "
            "numbers and lists are; for an array, x.astype(float)) to get its gradient."
        )


def _warn_user(message: str) -> None:
    """A UserWarning pointing at the first line of the user's code (outside minigrad)."""
    pkg = __file__.rsplit("/", 1)[0]
    level = 2  # stacklevel 2 is the frame of the caller, sys._getframe(1)
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(pkg):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _record_outputs(f: Function, y: Any) -> Any:
    """`_record`'s outputs for a forward that returned a tuple or a number (a function of its
    own: a generator expression in `_record` would make `f` a cell, slower to read there)."""
    ys = tuple(np.asarray(a) for a in y) if type(y) is tuple else (np.asarray(y),)
    outs = tuple(_variable(a, f) for a in ys)
    f.saved_outputs = ys
    f._out = None
    f._outs = tuple(_ref(o) for o in outs)
    return outs if type(y) is tuple else outs[0]


def _variable(data: np.ndarray, creator: Function | None) -> Variable:
    """A Variable made by the engine, without __init__'s checks (data is an ndarray): an op's
    output (it requires grad), or with no creator a constant (it does not)."""
    v = _new_variable(Variable)
    v.data = data
    v.grad = v.name = v._meta = None
    v.creator = creator
    v.requires_grad = creator is not None
    v._version = 0
    return v


def _constant(data: np.ndarray) -> Variable:
    """A Variable that needs no grad, made by the engine (data is an ndarray)."""
    return _variable(data, None)


def _constants(y: Any) -> Any:
    """The unrecorded output(s) of a forward that returned a tuple or a non-ndarray."""
    if type(y) is tuple:
        return tuple(_constant(np.asarray(a)) for a in y)
    return _constant(np.asarray(y))


# --------------------------------------------------------------------------- anomaly mode


class AnomalyError(FloatingPointError, RuntimeError):
    """Raised under `detect_anomaly` when an op produces a NaN or an inf; names the op and
    where it was called. A FloatingPointError, and a RuntimeError as PyTorch's is."""


def _user_stack() -> list[traceback.FrameSummary]:
    """The call stack, minus minigrad's own frames, for anomaly reports."""
    frames = traceback.extract_stack()[:-2]
    pkg = __file__.rsplit("/", 1)[0]
    return [f for f in frames if not f.filename.startswith(pkg)]


def _where(f: Function) -> str:
    try:
        stack = f.stack
    except AttributeError:
        stack = None
    if not stack:
        return " (no call site recorded: the op ran before detect_anomaly was entered)"
    return "; it was called at:\n" + "".join(traceback.format_list(stack[-3:]))


def _check_finite(f: Function, arrays: Iterable[Any], phase: str) -> None:
    for i, a in enumerate(arrays):
        if a is None:
            continue
        a = a.data if isinstance(a, Variable) else np.asarray(a)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            kind = "NaN" if np.isnan(a).any() else "inf"
            what = "output" if phase == "forward" else "gradient of input"
            raise AnomalyError(
                f"detect_anomaly: {f.name} produced {kind} in its {phase} ({what} {i}, "
                f"shape {a.shape}){_where(f)}"
            )


# --------------------------------------------------------------------------- versions


def check_versions(f: Function, versions: Any) -> None:
    """Before f's backward: raise if a leaf f saved was changed in place since f's forward
    (its version moved on), or, for an op recorded under anomaly mode, if the array of any
    Variable it saved no longer has its forward checksum (a write straight into `.data`).
    `versions` is f's `_versions` (not None)."""
    inputs = f.inputs
    if type(versions) is int:
        x = inputs[0]
        if x._version != versions:
            raise _modified_error(f, x, "input 0", versions)
        return
    for i, was in enumerate(versions):
        if was is not None and inputs[i]._version != was:
            raise _modified_error(f, inputs[i], f"input {i}", was)
    if type(versions) is _Checksums:
        versions.verify(f)


def _modified_error(f: Function, x: Variable, role: str, was: int, data_only: bool = False) -> Any:
    """The RuntimeError for a saved Variable changed since forward (as PyTorch's "modified by
    an inplace operation"): the op, the Variable, both versions and what to do."""
    if data_only:
        how = (
            f"its data differs from what the forward saw, at the same version {was} (a write "
            "straight into .data, which versions do not count; caught by detect_anomaly)"
        )
    else:
        how = f"it is at version {x._version}, the forward saw version {was}"
    where = _where(f) if getattr(f, "stack", None) else ""
    return RuntimeError(
        f"backward: {_describe(x)}, {role} of op {f.name}, was modified by an in-place "
        f"operation after the forward pass: {how}. {f.name}'s backward needs the value the "
        "forward saw (it would mix old and new values into a wrong gradient). Call backward "
        "before the update (e.g. before optimizer.step()), or compute the forward again after "
        "it" + (where or ".")
    )


def _crc(a: Any) -> int:
    return zlib.crc32(np.ascontiguousarray(a).data)


class _Checksums(tuple):
    """What an op recorded under `detect_anomaly` keeps as `_versions`: the versions as usual
    (a tuple by input position), plus a CRC-32 of the array of every Variable it saved, its
    inputs' and its outputs', taken at forward and compared before its backward, so that
    writes straight into `.data` are caught too."""

    inputs: list[tuple[int, int]]
    outputs: list[tuple[int, int]]

    def __new__(cls, f: Function) -> _Checksums:
        v = f._versions
        n = len(f.inputs)
        # As a tuple by position whatever _record noted: none, input 0's bare int, or a tuple.
        if v is None:
            v = (None,) * n
        elif type(v) is int:
            v = (v,) + (None,) * (n - 1)
        self = super().__new__(cls, v)
        xs = f.saved_inputs
        self.inputs = [(i, _crc(xs[i])) for i, x in enumerate(f.inputs) if isinstance(x, Variable)]
        self.outputs = [(j, _crc(a)) for j, a in enumerate(f.saved_outputs)]
        return self

    def verify(self, f: Function) -> None:
        """Raise if the array of a Variable f saved changed since forward."""
        xs = f.saved_inputs
        for i, crc in self.inputs:
            x = f.inputs[i]
            # What backward reads: the saved array, or (on Variables) the input's .data.
            if _crc(xs[i]) != crc or (x.data is not xs[i] and _crc(x.data) != crc):
                raise _modified_error(f, x, f"input {i}", x._version, data_only=True)
        saved = f.saved_outputs
        for j, crc in self.outputs:
            y = f.outputs[j]()
            a = saved[j] if j < len(saved) else None
            if a is not None and _crc(a) != crc:
                y = _constant(a) if y is None else y
            elif y is None or y.data is a or _crc(y.data) == crc:
                continue
            raise _modified_error(f, y, f"output {j}", y._version, data_only=True)
