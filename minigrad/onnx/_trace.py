"""Running a model once and reading back what it recorded: the ops in the order they ran, the
graph's inputs, its parameters and the module each op was called in.

This module knows the engine's structures (`Function.inputs`, `.outputs`, `.scope`, the
generation) and nothing of ONNX; `export.py` turns a `Trace` into an ONNX graph.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.core import Function, ModuleCall, Parameter, Variable, enable_grad
from minigrad.nn import recurrent
from minigrad.nn.module import Module


@dataclass
class Trace:
    """One recorded run of a model on example inputs."""

    #: What the model was given, one per example input: a Variable that requires grad for
    #: floating data (so that every op that depends on it is recorded, reshapes of the raw
    #: batch included), the int64 ndarray itself for integer data (labels).
    feeds: list[Any]
    #: The model's outputs (Variables), in order.
    outputs: list[Variable]
    #: The recorded ops the outputs depend on, in an order they can run in.
    functions: list[Function]
    #: The Module the model is (or whose method it is), else None for a plain function.
    module: Module | None
    #: id(Parameter) -> its dotted name in `module` (`fc1.W`).
    param_names: dict[int, str] = field(default_factory=dict)
    #: id(module) -> its dotted path in `module` (`layers.Affine1`; "" for the model itself).
    module_paths: dict[int, str] = field(default_factory=dict)
    #: id(ndarray) -> the dotted name of a buffer of `module` (`bn1.running_mean`).
    buffer_names: dict[int, str] = field(default_factory=dict)
    #: The calls of recurrent layers (nn.RNN, LSTM, GRU), each (its ModuleCall, input,
    #: initial state, outputs): exported as ONNX RNN/LSTM/GRU nodes, not op by op.
    layer_calls: list[tuple[Any, Any, Any, Any]] = field(default_factory=list)
    #: id(module) -> {id(Parameter): its name within that module}, filled as needed.
    _own_names: dict[int, dict[int, str]] = field(default_factory=dict)

    def own_name(self, m: Module, p: Variable) -> str | None:
        """The name of `p` among `m`'s parameters (`W`, or `fc1.W` deeper down), or None."""
        names = self._own_names.get(id(m))
        if names is None:
            names = self._own_names[id(m)] = {id(q): n for n, q in m.named_parameters()}
        return names.get(id(p))


def owning_module(model: Any) -> Module | None:
    """The Module `model` is, or whose bound method it is (`net.predict`), else None."""
    if isinstance(model, Module):
        return model
    owner = getattr(model, "__self__", None)
    return owner if isinstance(owner, Module) else None


def argument_names(model: Callable[..., Any], n: int) -> list[str] | None:
    """The names of the first `n` positional parameters of `model` (its `forward`'s for a
    Module), or None when they cannot be read (a builtin, *args)."""
    fn = model.forward if isinstance(model, Module) else model
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    names = []
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        names.append(p.name)
    return names[:n] if len(names) >= n else None


def run(model: Callable[..., Any], inputs: Sequence[np.ndarray]) -> Trace:
    """Run `model(*inputs)` once under recording, in eval mode, and collect its graph.

    The model's modules are put in eval mode (dropout off, batch norm on running stats) and
    each gets its own mode back afterwards, also when the model raises.
    """
    module = owning_module(model)
    feeds: list[Any] = []
    for a in inputs:
        if a.dtype.kind == "f":
            feeds.append(Variable(a, requires_grad=True))
        else:
            feeds.append(a)
    modes = [(m, m.training) for m in module.modules()] if module is not None else []
    calls: list[tuple[Any, Any, Any, Any]] = []
    try:
        if module is not None:
            module.eval()
        recurrent.export_calls = calls
        with enable_grad():
            out = model(*feeds)
    finally:
        recurrent.export_calls = None
        for m, training in modes:
            object.__setattr__(m, "training", training)
    outputs = _as_outputs(out)
    trace = Trace(feeds=feeds, outputs=outputs, functions=ordered_functions(outputs), module=module)
    trace.layer_calls = calls
    if module is not None:
        trace.param_names = {id(p): name for name, p in module.named_parameters()}
        trace.module_paths = {id(m): name for name, m in module.named_modules()}
        trace.buffer_names = {id(b): name for name, b in module.named_buffers()}
    return trace


def _as_outputs(out: Any) -> list[Variable]:
    items = list(out) if isinstance(out, tuple | list) else [out]
    # An LSTM's (output, (h_n, c_n)): nested tuples are flattened, in order.
    while any(isinstance(y, tuple | list) for y in items):
        items = [z for y in items for z in (y if isinstance(y, tuple | list) else (y,))]
    if not items:
        raise TypeError("export: the model returned nothing to export (an empty tuple)")
    for i, y in enumerate(items):
        if not isinstance(y, Variable):
            where = "the model's output" if len(items) == 1 else f"output {i} of the model"
            raise TypeError(
                f"export: {where} is a {type(y).__name__}; the model must return a Variable "
                "or a tuple of Variables (computed with minigrad ops, so that they are recorded)"
            )
    return items


def ordered_functions(outputs: Sequence[Variable]) -> list[Function]:
    """The recorded ops the outputs depend on, each once, sorted by generation: every op
    comes after the ops that made its inputs. Iterative, like the engine's walk."""
    seen: set[int] = set()
    found: list[Function] = []
    stack = [y.creator for y in outputs if y.creator is not None]
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        found.append(f)
        for x in f.inputs:
            if isinstance(x, Variable) and x.creator is not None:
                stack.append(x.creator)
    # A stable sort keeps the discovery order among ops of one generation.
    found.sort(key=lambda f: f.generation)
    return found


def output_index(f: Function, y: Variable) -> int:
    """The position of `y` among the outputs of its creator `f`."""
    for i, ref in enumerate(f.outputs):
        if ref() is y:
            return i
    raise RuntimeError(f"export: a Variable made by {f.name} is not among its outputs")


def where_called(f: Function, trace: Trace) -> str:
    """Words for the module call `f` ran in: `module 'fc1' (Linear)`, or `outside any
    module`. Nested calls of one module (a model's `loss` calling `predict`) are one place."""
    call: ModuleCall | None = getattr(f, "scope", None)
    if call is None:
        return "outside any module"
    path = trace.module_paths.get(id(call.module))
    cls = type(call.module).__name__
    if path:
        return f"module '{path}' ({cls})"
    if path == "":
        return f"the model ({cls})"
    return f"a {cls} module"


def scope_path(f: Function, trace: Trace) -> str:
    """The dotted path of the module `f` ran in ("" at the top or outside the model)."""
    call = getattr(f, "scope", None)
    while call is not None:
        path = trace.module_paths.get(id(call.module))
        if path is not None:
            return path
        call = call.parent
    return ""


def parameter_name(p: Variable, users: Sequence[Function], trace: Trace) -> str | None:
    """The name of a Parameter (or a leaf Variable that requires grad) used by `users`.

    By the layer that used it: the module path of the innermost module call (of the exported
    model) around its first user that holds it, plus its name in that module: `fc1.W`, or
    `layers.Affine1.W` for TwoLayerNet's W1, which the model also holds as `W1`. Used outside
    any of the model's modules: its path in the model (its `state_dict` key), else its path in
    the outermost module that used it, else its own `name`.
    """
    for f in users:
        call = getattr(f, "scope", None)
        while call is not None:
            path = trace.module_paths.get(id(call.module))
            if path is not None:
                key = trace.own_name(call.module, p)
                if key:
                    return f"{path}.{key}" if path else key
            call = call.parent
    name = trace.param_names.get(id(p))
    if name:
        return name
    for f in users:
        call = getattr(f, "scope", None)
        root = None
        while call is not None:
            root = call.module
            call = call.parent
        if isinstance(root, Module):
            for n, q in root.named_parameters():
                if q is p:
                    return n
    if isinstance(p, Parameter) or p.name:
        return p.name
    return None
