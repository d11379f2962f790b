"""Steps 2 to 6 of the algorithm (core.py lists them; reference.py is the plain version):
order the recorded graph, run each Function's backward once, sum the gradients of a Variable
used several times, deliver the finished gradients, release what was saved.

A gradient travels as a pair `(g, mutable)`, as in HIPS autograd: `mutable` is True only for
an array nobody else holds (a sum this pass made, or a new array a built-in backward
returned), which may be added into in place and handed to a leaf's `.grad` as it is. Every
other gradient may be shared (the seed the user passed, the gradient a backward was given and
passed on, a view of it), so it is never written into and is copied on delivery.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad._modes import _local
from minigrad._record import _check_finite, _constant, check_versions
from minigrad.core import RELEASED, Function, Variable, _to_array

__all__ = ["grad", "run_backward"]

#: Called by `run_backward(..., observer=...)` after each Function's backward with
#: (function, gradients of its outputs, gradients returned for its inputs).
Observer = Callable[[Function, Sequence[Any], Sequence[Any]], None]

_generation = operator.attrgetter("generation")


def sort_functions(roots: Sequence[Variable]) -> list[Function]:
    """Step 2: the Functions the roots depend on, each after every Function that consumes
    its output.

    One iterative walk collects them (chains of any length work), then one sort by decreasing
    generation orders them: O(V log V) at worst, about O(V) for the nearly sorted lists that
    chains and wide graphs give.
    """
    seen = set()
    stack = []
    for r in roots:
        f = r.creator
        if f is not None and f not in seen:
            seen.add(f)
            stack.append(f)
    order = []
    while stack:
        f = stack.pop()
        order.append(f)
        p = f._parents
        if p is None:
            continue
        if isinstance(p, tuple):
            for c in p:
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        elif p not in seen:
            seen.add(p)
            stack.append(p)
    order.sort(key=_generation, reverse=True)
    return order


class _Pass:
    """What one backward pass needs besides the gradients: its options, and for `grad()`
    the Variables whose gradients it returns."""

    __slots__ = ("create_graph", "retain_graph", "anomaly", "wanted", "captured", "observer")

    def __init__(
        self,
        create_graph: bool,
        retain_graph: bool,
        anomaly: bool,
        wanted: set[Variable] | None,
        observer: Observer | None,
    ) -> None:
        self.create_graph = create_graph
        self.retain_graph = retain_graph
        self.anomaly = anomaly
        self.wanted = wanted
        self.captured: dict[Variable, Any] = {}
        self.observer = observer


def run_backward(
    outputs: Sequence[Variable],
    grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Variable] | None = None,
    observer: Observer | None = None,
) -> list[Variable | None] | None:
    """The backward pass behind `Variable.backward` and `grad()`.

    With `inputs` None, the leaves' gradients accumulate into their `.grad`; otherwise the
    gradients of `inputs` are returned and no `.grad` is touched. `observer`, if given, sees
    each Function's backward as it runs (the explorer of `minigrad.viz` uses it).
    """
    for out in outputs:
        if not out.requires_grad:
            raise _no_grad_error(out)
    mode = _local.mode
    p = _Pass(
        create_graph,
        retain_graph,
        mode.anomaly,
        None if inputs is None else set(inputs),
        observer,
    )
    acc: dict[Variable, tuple[Any, bool]] = {}
    for out, g in zip(outputs, grads):
        _add(acc, out, _seed(out, g, create_graph))
    order = sort_functions(outputs)
    saved = mode.grad_enabled, mode.create_graph, mode.retain_graph
    mode.grad_enabled = mode.create_graph = create_graph
    mode.retain_graph = retain_graph
    # The fast case below needs a pass with nothing to record, capture, check or report.
    plain = not (create_graph or p.wanted is not None or p.anomaly or observer is not None)
    try:
        for f in order:
            ref = f._out
            if not (plain and ref is not None and f.backward_on_arrays):
                _backward_one(f, acc, p)
                continue
            # Step 3's fast case, `_backward_one` inlined for a built-in one-output op on
            # arrays: bench_overhead.py's 1,000-op chain costs 47% more without it
            # (instructions per op under callgrind, as _record.py's figures).
            if f.saved_inputs is RELEASED:
                raise _released_error(f)
            y = ref()
            if y is None:
                continue
            entry = acc.pop(y, None)
            if entry is None:
                continue
            vs = f._versions
            if vs is not None and (type(vs) is not int or f.inputs[0]._version != vs):
                # A leaf this op saved may have changed since forward (check_versions says);
                # a bare int is input 0's version, compared here without a call.
                check_versions(f, vs)
            gy = entry[0]
            if y._meta is not None:
                gy = _output_grad(y, gy, p)
            gxs = f.backward(gy)
            # (gx, gx is not gy): what a backward made itself is this pass's own, unless it
            # is a view (`_owned` looks, when it matters). Without that, delivering it to a
            # leaf would copy it: bench_mnist.py's step costs 4.5% more.
            if type(gxs) is tuple:
                inputs_ = f.inputs
                for i, gx in enumerate(gxs):
                    if gx is not None:
                        x = inputs_[i]
                        if x in acc:
                            _add(acc, x, gx, gx is not gy)
                        else:
                            acc[x] = (gx, gx is not gy)
            else:
                x = f.inputs[0]
                if x in acc:
                    _add(acc, x, gxs, gxs is not gy)
                else:
                    acc[x] = (gxs, gxs is not gy)
            if not retain_graph:
                # Step 6, f.release() inlined (the chain costs 2.2% more without it).
                f.saved_inputs = f._saved_outputs = RELEASED
                if f.saves_attrs:
                    f.release()
        # Step 5: what is left belongs to leaves, each gradient complete only now.
        for x, (g, mutable) in acc.items():
            if x._meta is not None:
                g = _apply_hooks(x, g, create_graph)
                mutable = False
            if p.wanted is None:
                deliver(x, g, mutable)
            elif x in p.wanted:
                p.captured[x] = g
    finally:
        mode.grad_enabled, mode.create_graph, mode.retain_graph = saved
    if inputs is None:
        return None
    return [_as_result(p.captured.get(x)) for x in inputs]


def _backward_one(f: Function, acc: dict[Variable, tuple[Any, bool]], p: _Pass) -> None:
    """Step 3 for any Function: several outputs, a backward on Variables, create_graph,
    grad()'s captures, anomaly checks, an observer."""
    if f.saved_inputs is RELEASED:
        raise _released_error(f)
    gys = []
    for ref in f.outputs:
        y = ref()
        g = None
        if y is not None:
            entry = acc.pop(y, None)
            if entry is not None:
                g = entry[0]
                if y._meta is not None or p.wanted is not None:
                    g = _output_grad(y, g, p)
        gys.append(g)
    if all(g is None for g in gys):
        return
    if f._versions is not None:
        check_versions(f, f._versions)
    gxs = _call_backward(f, gys, p.create_graph)
    if p.anomaly:
        _check_finite(f, gxs, "backward")
    if p.observer is not None:
        p.observer(f, gys, gxs)
    for x, need, gx in zip(f.inputs, f.needs_input_grad, gxs):
        if need and gx is not None:
            _add(acc, x, gx)
    if not p.retain_graph:
        f.release()


def _call_backward(f: Function, gys: list[Any], create_graph: bool) -> tuple[Any, ...]:
    """Call f.backward with gradients and saved values of the kind the op dialect gives it:
    ndarrays for an op with `backward_on_arrays` when nothing is recorded, else Variables."""
    if any(g is None for g in gys):
        # The gradient of an output nobody used is zero.
        gys = [np.zeros_like(y) if g is None else g for g, y in zip(gys, f.saved_outputs)]
    if f.backward_on_arrays and not create_graph:
        gxs = f.backward(*gys)
        gxs = gxs if type(gxs) is tuple else (gxs,)
        return _check_grads(f, gxs)
    vgys = [g if isinstance(g, Variable) else _constant(g) for g in gys]
    xs, ys = f.saved_inputs, f._saved_outputs
    arrays = f.saved_outputs
    # The same values as Variables: the inputs themselves, the outputs while they live.
    f.saved_inputs = f.inputs
    f.saved_outputs = tuple(
        _constant(y) if (v := ref()) is None else v for ref, y in zip(f.outputs, arrays)
    )
    try:
        gxs = f.backward(*vgys)
    finally:
        f.saved_inputs, f._saved_outputs = xs, ys
    gxs = gxs if type(gxs) is tuple else (gxs,)
    if create_graph:
        gxs = tuple(g if g is None or isinstance(g, Variable) else _constant(g) for g in gxs)
    else:
        # Nothing was recorded (grad mode is off): go on with the arrays.
        gxs = tuple(g.data if isinstance(g, Variable) else g for g in gxs)
    return _check_grads(f, gxs)


def _check_grads(f: Function, gxs: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(gxs) != len(f.inputs):
        raise RuntimeError(
            f"{f.name}.backward returned {len(gxs)} gradients for {len(f.inputs)} inputs"
        )
    if not f.backward_on_arrays:
        # A user-defined backward may get shapes wrong; say so here, not deep in NumPy later.
        for i, (x, gx, need) in enumerate(zip(f.inputs, gxs, f.needs_input_grad)):
            if need and gx is not None and np.shape(gx) != x.shape:
                raise RuntimeError(
                    f"{f.name}.backward returned a gradient of shape {np.shape(gx)} for input "
                    f"{i} of shape {x.shape}{_broadcast_hint(x.shape, np.shape(gx))}"
                )
    return gxs


def _broadcast_hint(shape: tuple[int, ...], gshape: tuple[int, ...]) -> str:
    """What to do when a backward returned the gradient of a broadcast input unreduced."""
    try:
        broadcast = np.broadcast_shapes(shape, gshape) == gshape
    except ValueError:
        broadcast = False
    if not broadcast:
        return ""
    return (
        f": the input was broadcast to {gshape} in forward, so its gradient must be summed "
        f"back to its shape: return F.sum_to(gx, {shape}) (from minigrad import functions as "
        "F; in a backward that also runs on arrays, backward_on_arrays = True, the helper "
        "minigrad.functions._both.sum_to does the same for both kinds)"
    )


def _released_error(f: Function) -> RuntimeError:
    return RuntimeError(
        f"backward: trying to backward through the graph a second time (op {f.name}): its "
        "saved arrays were freed after the first backward; pass retain_graph=True to the "
        "first backward to keep them"
    )


# --------------------------------------------------------------------------- steps 4 and 5


def _owned(g: Any, mutable: bool) -> bool:
    """May the pass write into `g`, or hand it to a leaf as it is? Only a `mutable` gradient
    (a sum the pass made, or what a built-in backward made itself) that is an array of its
    own: not a view of another array, nor a NumPy scalar."""
    return mutable and type(g) is np.ndarray and g.base is None


def _add(
    acc: dict[Variable, tuple[Any, bool]], x: Variable, gx: Any, mutable: bool = False
) -> None:
    """Step 4: add a contribution to x's gradient, in place only into an array the pass owns
    (of the sum's dtype: a float32 sum must not swallow a float64 term); otherwise the sum is
    a new buffer, which it owns."""
    prev = acc.get(x)
    if prev is None:
        acc[x] = (gx, mutable)
        return
    g, g_mutable = prev
    if _owned(g, g_mutable) and g.dtype == gx.dtype:
        np.add(g, gx, out=g)
    elif _owned(gx, mutable) and gx.dtype == g.dtype:
        np.add(gx, g, out=gx)
        acc[x] = (gx, True)
    else:
        s = g + gx
        if type(s) is not Variable:
            # np.asarray: + on 0-d arrays gives a NumPy scalar, which cannot be added into.
            acc[x] = (np.asarray(s), True)
        else:
            acc[x] = (s, False)


def deliver(v: Variable, g: Any, mutable: bool) -> None:
    """Step 5: add the finished gradient `g` to `v.grad` (a leaf, or a Variable that asked
    `retain_grad()`). The grad keeps v's dtype, and never shares memory with an array someone
    else may hold or write: unless `mutable`, g is copied. Across backward calls the grads
    add up, out of place (the user may hold the old one)."""
    if isinstance(g, Variable):
        # Under create_graph the gradient is itself part of a graph.
        v.grad = g if v.grad is None else v.grad + g
        return
    dtype = v.data.dtype
    if g.dtype != dtype:
        g = g.astype(dtype)
    elif not _owned(g, mutable):
        g = g.copy()
    v.grad = _constant(g) if v.grad is None else _constant(v.grad.data + g)


def _output_grad(y: Variable, g: Any, p: _Pass) -> Any:
    """The finished gradient of a non-leaf y: run its hooks, keep it on y if retain_grad()
    asked for it, capture it if grad() wants it."""
    meta = y._meta
    if meta is not None:
        g = _apply_hooks(y, g, p.create_graph)
        if meta.retain and p.wanted is None:
            deliver(y, g, False)
    if p.wanted is not None and y in p.wanted:
        p.captured[y] = g
    return g


def _apply_hooks(v: Variable, g: Any, create_graph: bool) -> Any:
    assert v._meta is not None
    for hook in list(v._meta.hooks):
        gv = g if isinstance(g, Variable) else _constant(g)
        r = hook(gv)
        if r is None:
            continue
        r = r if isinstance(r, Variable) else Variable(np.asarray(r), requires_grad=False)
        if r.shape != v.shape:
            raise RuntimeError(
                f"hook returned a gradient of shape {r.shape} for a Variable of shape {v.shape}"
            )
        g = r if create_graph else r.data
    return g


# --------------------------------------------------------------------------- seeds, grad()


def _no_grad_error(out: Variable) -> RuntimeError:
    """backward on an output that does not require grad: why, and what to do."""
    if out.dtype.kind not in "fc":
        return RuntimeError(
            f"backward: the output has dtype {out.dtype}, so it does not require grad: it was "
            "computed from integer (or boolean) data, and such data does not require grad by "
            "default. Make the inputs floating: Variable(np.array([1.0, 2.0])), or "
            "Variable(a.astype(np.float32)) for an integer array a"
        )
    return RuntimeError(
        "backward: the output does not require grad: no input requires grad, or it was "
        "computed under no_grad. Integer (and boolean) Variables do not require grad by "
        "default: to differentiate with respect to one, make it floating "
        "(Variable(a.astype(np.float32)) for an integer array a)"
    )


def _seed(out: Variable, grad: Any, create_graph: bool) -> Any:
    """The gradient the pass starts from: `grad` checked against `out`, or a one for a
    one-element output."""
    if grad is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"backward: the output has shape {out.shape}; pass grad= for a non-scalar "
                "output (an array of its shape)"
            )
        g: Any = np.ones(out.shape, dtype=out.dtype)
    else:
        g = grad.data if isinstance(grad, Variable) else _to_array(grad, "backward")
        if g.shape != out.shape:
            if g.size == 1 and out.size == 1:
                g = g.reshape(out.shape)
            else:
                raise ValueError(
                    f"backward: grad has shape {g.shape} but the output has shape {out.shape}"
                )
        if g.dtype != out.dtype:
            g = g.astype(out.dtype)
    if create_graph:
        return grad if isinstance(grad, Variable) else Variable(g, requires_grad=False)
    return g


def _as_result(g: Any) -> Variable | None:
    if g is None:
        return None
    if isinstance(g, Variable):
        return g
    return Variable(g, requires_grad=False)


def grad(
    outputs: Variable | Sequence[Variable],
    inputs: Variable | Sequence[Variable],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = True,
) -> tuple[Variable | None, ...]:
    """The gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is untouched.

    `grad_outputs` (one per output) defaults to ones for one-element outputs. An input that
    the outputs do not depend on gets None. `retain_graph` defaults to `create_graph`.
    """
    outs = [outputs] if isinstance(outputs, Variable) else list(outputs)
    ins = [inputs] if isinstance(inputs, Variable) else list(inputs)
    for i, x in enumerate(ins):
        if not isinstance(x, Variable):
            raise TypeError(f"grad: inputs[{i}] is a {type(x).__name__}, not a Variable")
        if not x.requires_grad:
            hint = ""
            if x.dtype.kind not in "fc":
                hint = (
                    f": it has dtype {x.dtype}, and integer data does not require grad by "
                    "default; make it floating (Variable(a.astype(np.float32)))"
                )
            raise RuntimeError(f"grad: inputs[{i}] does not require grad{hint}")
    if grad_outputs is None:
        gos: list[Any] = [None] * len(outs)
    elif isinstance(grad_outputs, Variable | np.ndarray) and len(outs) == 1:
        gos = [grad_outputs]
    else:
        gos = list(grad_outputs)
        if len(gos) != len(outs):
            raise ValueError(f"grad: {len(gos)} grad_outputs for {len(outs)} outputs")
    if retain_graph is None:
        retain_graph = create_graph
    res = run_backward(outs, gos, retain_graph, create_graph, inputs=ins)
    assert res is not None
    if not allow_unused:
        for i, r in enumerate(res):
            if r is None:
                raise RuntimeError(f"grad: inputs[{i}] was not used to compute the outputs")
    return tuple(res)
