"""The backward pass: order the recorded graph, run each Function's backward once, deliver the
gradients to the leaves (`Variable.backward`) or return them (`grad`).

The order comes from one iterative walk and one sort by generation; gradients from several
consumers are summed, in place only into buffers this pass made itself.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.core import (
    _RELEASED,
    Function,
    Variable,
    _check_finite,
    _constant,
    _state,
    _to_array,
)

__all__ = ["grad"]


def _sort_functions(roots: Sequence[Variable]) -> list[Function]:
    """Functions reachable from the roots, every consumer before the functions it consumes from.

    One iterative walk collects them (chains of any length work), then one sort by decreasing
    generation orders them: O(V log V) at worst, and about O(V) for the nearly sorted lists
    that chains and wide graphs give.
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


_generation = operator.attrgetter("generation")


_SCALAR_ONES: dict[np.dtype, np.ndarray] = {}


def _ones_like_scalar(a: np.ndarray) -> np.ndarray:
    """A read-only 1 of a's shape and dtype, made once per dtype (np.ones costs ~1 us)."""
    one = _SCALAR_ONES.get(a.dtype)
    if one is None:
        one = np.ones((), dtype=a.dtype)
        one.flags.writeable = False
        _SCALAR_ONES[a.dtype] = one
    return one if a.shape == () else one.reshape(a.shape)


def _seed_grad(out: Variable, grad: Any, create_graph: bool) -> Any:
    if grad is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"backward: the output has shape {out.shape}; pass grad= for a non-scalar "
                "output (an array of its shape)"
            )
        g: Any = _ones_like_scalar(out.data)
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


def _run_backward(
    outputs: Sequence[Variable],
    grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Variable] | None,
) -> list[Any] | None:
    """The backward pass shared by `Variable.backward` and `grad()`.

    With `inputs` None, leaf gradients accumulate into `.grad`; otherwise the gradients of
    `inputs` are returned and no `.grad` is touched.
    """
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError(
                "backward: the output does not require grad (no input requires grad, or it "
                "was computed under no_grad)"
            )
    # gx arrays (or Variables) per Variable; `owned` holds the ids of buffers made here,
    # the only ones that may be accumulated into in place.
    acc: dict[Variable, Any] = {}
    owned: set[int] = set()
    for out, g in zip(outputs, grads):
        _add_grad(acc, owned, out, _seed_grad(out, g, create_graph), create_graph)

    wanted = None if inputs is None else set(inputs)
    captured: dict[Variable, Any] = {}
    order = _sort_functions(outputs)
    prev_cg = _state.create_graph
    prev_enabled = _state.grad_enabled
    prev_retain = _state.retain_graph
    _state.retain_graph = retain_graph
    _state.create_graph = create_graph
    _state.grad_enabled = create_graph
    anomaly = _state.anomaly
    try:
        if create_graph or wanted is not None or anomaly:
            for f in order:
                _backward_one(f, acc, owned, wanted, captured, create_graph, retain_graph, anomaly)
        else:
            _backward_plain(order, acc, owned, retain_graph)
        # What is left in acc belongs to leaves: each is complete only now. A leaf's .grad
        # must not share memory with the seed grad or with another leaf's .grad (add passes
        # one array to both inputs): an optimizer or user may write into it.
        handed = set()
        for g in grads:
            if type(g) is np.ndarray:
                handed.add(id(g))
        for x, g in acc.items():
            if x._meta is not None:
                g = _apply_hooks(x, g, create_graph)
            if wanted is not None:
                if x in wanted:
                    captured[x] = g
            elif type(g) is np.ndarray:
                if id(g) in handed:
                    g = g.copy()
                handed.add(id(g))
                if x.grad is None and (g.base is None or g.flags.writeable):
                    x.grad = _constant(g)  # the common case of _add_to_grad, inlined
                else:
                    _add_to_grad(x, g, create_graph)
            else:
                _add_to_grad(x, g, create_graph)
    finally:
        _state.create_graph = prev_cg
        _state.grad_enabled = prev_enabled
        _state.retain_graph = prev_retain
    if inputs is None:
        return None
    return [_as_result(captured.get(x)) for x in inputs]


def _backward_plain(
    order: list[Function], acc: dict[Variable, Any], owned: set[int], retain_graph: bool
) -> None:
    """Run the backward of each Function in `order` on ndarrays: no create_graph, no grad()
    captures, no anomaly checks. Built-in single-output ops take the inlined path below
    (they return None for the inputs that need no grad, so no flags are read)."""
    for f in order:
        ref = f._out
        if ref is None or not f.fast:
            _backward_one(f, acc, owned, None, {}, False, retain_graph, False)
            continue
        if f.saved_inputs is _RELEASED:
            raise _released_error(f)
        y = ref()
        if y is None:
            continue
        gy = acc.pop(y, None)
        if gy is None:
            continue
        if owned:
            # Once handed to a backward, a buffer may be passed on to several inputs.
            owned.discard(id(gy))
        if y._meta is not None:
            gy = _output_grad(y, gy, None, {}, False)
        gxs = f.backward(gy)
        if type(gxs) is tuple:
            inputs = f.inputs
            for i, gx in enumerate(gxs):
                if gx is not None:
                    x = inputs[i]
                    prev = acc.get(x)
                    if prev is None:
                        acc[x] = gx
                    else:
                        _accumulate(acc, owned, x, prev, gx, False)
        else:
            x = f.inputs[0]
            prev = acc.get(x)
            if prev is None:
                acc[x] = gxs
            else:
                _accumulate(acc, owned, x, prev, gxs, False)
        if not retain_graph:
            f.saved_inputs = _RELEASED
            if f.saves_attrs:
                f.__dict__.clear()


def _backward_one(
    f: Function,
    acc: dict[Variable, Any],
    owned: set[int],
    wanted: set[Variable] | None,
    captured: dict[Variable, Any],
    create_graph: bool,
    retain_graph: bool,
    anomaly: bool,
) -> None:
    """Run one Function's backward in the general way: several outputs, user-defined ops,
    create_graph, grad()'s captures, anomaly checks."""
    if f.saved_inputs is _RELEASED:
        raise _released_error(f)
    gys = []
    for ref in f.outputs:
        y = ref()
        g = None
        if y is not None:
            g = acc.pop(y, None)
            if owned and g is not None:
                owned.discard(id(g))
            if g is not None and (y._meta is not None or wanted is not None):
                g = _output_grad(y, g, wanted, captured, create_graph)
        gys.append(g)
    if all(g is None for g in gys):
        return
    gxs = _call_backward(f, gys, create_graph)
    if anomaly:
        _check_finite(f, gxs, "backward")
    for x, need, gx in zip(f.inputs, f.needs_input_grad, gxs):
        if need and gx is not None:
            _add_grad(acc, owned, x, gx, create_graph)
    if not retain_graph:
        f.saved_inputs = _RELEASED
        f.__dict__.clear()


def _released_error(f: Function) -> RuntimeError:
    return RuntimeError(
        f"backward: trying to backward through the graph a second time (op {f.name}): its "
        "saved arrays were freed after the first backward; pass retain_graph=True to the "
        "first backward to keep them"
    )


def _call_backward(f: Function, gys: list[Any], create_graph: bool) -> tuple[Any, ...]:
    """Call a backward off the fast path: a user-defined one (it works on Variables), any
    backward under create_graph (recorded), or one with several outputs."""
    if any(g is None for g in gys):
        # The gradient of an output nobody used is zero.
        gys = [np.zeros_like(y) if g is None else g for g, y in zip(gys, f.saved_outputs)]
    if create_graph:
        vgys = [g if isinstance(g, Variable) else Variable(g, requires_grad=False) for g in gys]
        xs, ys = f.saved_inputs, f.saved_outputs
        f.saved_inputs = f.inputs
        outs = []
        for ref, y in zip(f.outputs, ys):
            v = ref()
            outs.append(Variable(y, requires_grad=False) if v is None else v)
        f.saved_outputs = tuple(outs)
        try:
            gxs = f.backward(*vgys)
        finally:
            f.saved_inputs, f.saved_outputs = xs, ys
        gxs = gxs if type(gxs) is tuple else (gxs,)
        gxs = tuple(_as_variable_grad(g) for g in gxs)
    elif f.fast:
        gxs = f.backward(*gys)
        gxs = gxs if type(gxs) is tuple else (gxs,)
    else:
        # Off the recording path a user-defined backward records nothing (grad mode is off).
        gxs = f.backward(*[Variable(g, requires_grad=False) for g in gys])
        gxs = gxs if type(gxs) is tuple else (gxs,)
        gxs = tuple(g.data if isinstance(g, Variable) else g for g in gxs)
    return _check_grads(f, gxs)


def _as_variable_grad(g: Any) -> Any:
    if g is None or isinstance(g, Variable):
        return g
    return Variable(np.asarray(g), requires_grad=False)


def _check_grads(f: Function, gxs: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(gxs) != len(f.inputs):
        raise RuntimeError(
            f"{f.name}.backward returned {len(gxs)} gradients for {len(f.inputs)} inputs"
        )
    if not f.fast:
        # A user-defined backward may get shapes wrong; say so here, not deep in NumPy later.
        for i, (x, gx, need) in enumerate(zip(f.inputs, gxs, f.needs_input_grad)):
            if need and gx is not None and gx.shape != x.shape:
                raise RuntimeError(
                    f"{f.name}.backward returned a gradient of shape {gx.shape} for input {i} "
                    f"of shape {x.shape}"
                )
    return gxs


def _add_grad(
    acc: dict[Variable, Any], owned: set[int], x: Variable, gx: Any, create_graph: bool
) -> None:
    """Add a contribution to x's gradient (the fast path inlines the first-contribution case)."""
    prev = acc.get(x)
    if prev is None:
        acc[x] = gx
    else:
        _accumulate(acc, owned, x, prev, gx, create_graph)


def _accumulate(
    acc: dict[Variable, Any], owned: set[int], x: Variable, prev: Any, gx: Any, create_graph: bool
) -> None:
    """Add a second (third, ...) contribution to x's gradient."""
    if create_graph:
        acc[x] = prev + gx
    elif id(prev) in owned:
        np.add(prev, gx, out=prev)
    else:
        # np.asarray: on 0-d arrays, + returns a NumPy scalar, which cannot be added into.
        s = np.asarray(prev + gx)
        owned.add(id(s))
        acc[x] = s


def _output_grad(
    y: Variable,
    g: Any,
    wanted: set[Variable] | None,
    captured: dict[Variable, Any],
    create_graph: bool,
) -> Any:
    """Run y's hooks, keep its grad if retain_grad() asked for it or grad() wants it."""
    meta = y._meta
    if meta is not None:
        g = _apply_hooks(y, g, create_graph)
        if meta.retain and wanted is None:
            _add_to_grad(y, g, create_graph)
    if wanted is not None and y in wanted:
        captured[y] = g
    return g


def _apply_hooks(v: Variable, g: Any, create_graph: bool) -> Any:
    assert v._meta is not None
    for hook in list(v._meta.hooks):
        gv = g if isinstance(g, Variable) else Variable(g, requires_grad=False)
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


def _add_to_grad(v: Variable, g: Any, create_graph: bool) -> None:
    if create_graph:
        gv = g if isinstance(g, Variable) else Variable(g, requires_grad=False)
        v.grad = gv if v.grad is None else v.grad + gv
        return
    data = g if type(g) is np.ndarray else np.asarray(g.data if isinstance(g, Variable) else g)
    if data.base is not None and not data.flags.writeable:
        # A broadcast view (e.g. from sum's backward) would make .grad read-only.
        data = data.copy()
    if v.grad is None:
        v.grad = _constant(data)
    else:
        # Out of place: the old grad array may be held by the user or shared with another leaf.
        v.grad = _constant(v.grad.data + data)


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
            raise RuntimeError(f"grad: inputs[{i}] does not require grad")
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
    res = _run_backward(outs, gos, retain_graph, create_graph, inputs=ins)
    assert res is not None
    if not allow_unused:
        for i, r in enumerate(res):
            if r is None:
                raise RuntimeError(f"grad: inputs[{i}] was not used to compute the outputs")
    return tuple(res)
