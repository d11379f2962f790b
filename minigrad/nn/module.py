"""`Module`: the base class of layers and models.

A module finds its parameters and submodules by looking at its attributes, so a model is
written as plain Python:

>>> class Net(Module):
...     def __init__(self):
...         super().__init__()
...         self.fc1 = Linear(784, 50)
...         self.blocks = [Linear(50, 50), Linear(50, 50)]   # listed: blocks.0, blocks.1
...     def forward(self, x):
...         ...

What counts, among the attributes whose names do not start with `_`: a `Parameter`, a
`Module`, and a list, tuple or dict (an `OrderedDict` like the book's `layers`) whose first item
is a Module or Parameter; its Module and Parameter items are then named `attr.index` or
`attr.key`. Attributes starting with `_` are private: never walked (a model may keep a cached
tuple of its layers there).
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from minigrad._archive import read_archive, write_archive
from minigrad.core import ModuleCall, Parameter, Variable, _local, enable_grad, increment_version

__all__ = ["Module", "IncompatibleKeys"]


def compare_keys(
    own: Mapping[str, Any], state_dict: Any, strict: bool, who: str
) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, problems) of loading `state_dict` into the names `own`:
    with `strict`, a missing or unexpected key is a problem. A non-mapping is a TypeError."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"{who}: expected a mapping of name -> array, got {type(state_dict).__name__}"
        )
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    problems = []
    if strict and missing:
        problems.append(f"missing keys {missing}")
    if strict and unexpected:
        problems.append(f"unexpected keys {unexpected}")
    return missing, unexpected, problems


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _first(container: Any) -> Any:
    if isinstance(container, dict):
        for v in container.values():
            return v
        return None
    return container[0] if len(container) else None


def _call(module: Module, method: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run `method(*args, **kwargs)` as a call of `module`: the ops it runs record the call,
    so graph pictures box them under the module's name."""
    mode = _local.mode
    prev = mode.scope
    mode.scope = ModuleCall(module, prev)
    try:
        return method(*args, **kwargs)
    finally:
        mode.scope = prev


def runs_as_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a module's method (like `TwoLayerNet.loss`) as a call of the module, as `__call__`
    does, unless it already runs inside one: its ops are then boxed under the module's name
    in graph pictures, however the user calls it."""

    @functools.wraps(method)
    def wrapper(self: Module, *args: Any, **kwargs: Any) -> Any:
        scope = _local.mode.scope
        if scope is not None and scope.module is self:
            return method(self, *args, **kwargs)
        return _call(self, method, (self, *args), kwargs)

    return wrapper


class Module:
    """Base class of layers and models: subclass it, assign parameters and submodules as
    attributes in `__init__` (after `super().__init__()`), and define `forward`.

    Calling a module runs `forward` and records the call, so graph pictures box its ops.
    """

    #: True in training mode (the default); `eval()` sets it False in the whole tree.
    training: bool = True

    def __init__(self) -> None:
        self.training = True

    # -- attribute registration
    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter) and value.name is None and name[0] != "_":
            value.name = name
        object.__setattr__(self, name, value)

    def _members(self) -> Iterator[tuple[str, Any]]:
        """The Parameters and Modules this module holds directly, as (name, object)."""
        for name, value in self.__dict__.items():
            if name[0] == "_":
                continue
            if isinstance(value, _NODES):
                yield name, value
            elif isinstance(value, _CONTAINERS):
                if not isinstance(_first(value), _NODES):
                    continue
                items = value.items() if isinstance(value, dict) else enumerate(value)
                for key, item in items:
                    if isinstance(item, _NODES):
                        yield f"{name}.{key}", item

    def _tree(self, prefix: str) -> tuple[list[tuple[str, Module]], list[tuple[str, Parameter]]]:
        """One walk of the tree: the modules (parents before children, in the order they were
        assigned) and the Parameters (a module's own before its submodules'), each once,
        with dotted names."""
        modules: list[tuple[str, Module]] = []
        params: list[tuple[str, Parameter]] = []
        seen = {id(self)}
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            modules.append((name, m))
            kids = []
            for key, obj in m._members():
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                full = f"{name}.{key}" if name else key
                if isinstance(obj, Module):
                    kids.append((full, obj))
                else:
                    params.append((full, obj))
            stack.extend(reversed(kids))
        return modules, params

    # -- the tree
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules as (name, module), in the order they were assigned."""
        seen: set[int] = set()
        for name, m in self._members():
            if isinstance(m, Module) and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named `prefix`, "" by default) and every submodule below it, each once,
        parents before children, with dotted names (`layers.Affine1`)."""
        return iter(self._tree(prefix)[0])

    def modules(self) -> Iterator[Module]:
        """This module and every submodule, each once."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every Parameter of the tree as (dotted name, Parameter), each once: a Parameter
        reachable by several paths keeps the first name (a module's own Parameters come
        before those of its submodules)."""
        return iter(self._tree(prefix)[1])

    def parameters(self) -> Iterator[Parameter]:
        """Every Parameter of the tree, each once (what an optimizer takes)."""
        return iter([p for _, p in self._tree("")[1]])

    # -- running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of this module; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self, self.forward, args, kwargs)

    def train(self, mode: bool = True) -> Module:
        """Set training mode (`mode=True`) or evaluation mode on this module and all below it."""
        mode = bool(mode)
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (e.g. Dropout passes its input through); same as `train(False)`."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients of every Parameter (`grad` becomes None)."""
        for p in self.parameters():
            p.grad = None

    # -- buffers: arrays saved with the model but not trained (batch norm's running statistics)
    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Keep the ndarray `value` as the attribute `name`: saved by `state_dict()` (and so by
        `save`) and filled in place by `load_state_dict()`, but not a Parameter, so no
        optimizer sees it. Assigning a new array to the attribute later replaces the buffer."""
        if not isinstance(name, str) or not name.isidentifier() or name[0] == "_":
            raise ValueError(f"register_buffer: {name!r} is not a public attribute name")
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"register_buffer: {name!r} must be an ndarray, got {type(value).__name__}"
            )
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        object.__setattr__(self, name, value)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer of the tree as (dotted name, ndarray), after the module's walk order."""
        for mod_name, m in self.named_modules(prefix):
            for name in m.__dict__.get("_buffer_names", ()):
                yield (f"{mod_name}.{name}" if mod_name else name), getattr(m, name)

    def buffers(self) -> Iterator[np.ndarray]:
        """Every buffer of the tree (see `register_buffer`)."""
        for _, b in self.named_buffers():
            yield b

    # -- saving and loading
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """The parameters, then the buffers, as an OrderedDict of dotted name -> a copy of the
        array."""
        sd = OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())
        sd.update((name, b.copy()) for name, b in self.named_buffers())
        return sd

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy the arrays of `state_dict` into the parameters and buffers, in place (so arrays
        shared with the model, like `TwoLayerNet.params`, stay valid).

        Shapes and dtypes must match exactly; with `strict`, so must the keys. Everything is
        checked before anything is copied: on error the model is unchanged, and the error
        names the missing and unexpected keys and the mismatched shapes and dtypes.
        Returns the skipped keys (both lists are empty when `strict`).
        """
        own: dict[str, Variable] = dict(self.named_parameters())
        # A buffer is filled in place like a parameter: a Variable holding it (not a copy).
        own.update((name, Variable(b, requires_grad=False)) for name, b in self.named_buffers())
        missing, unexpected, problems = compare_keys(own, state_dict, strict, "load_state_dict")
        pairs = []
        saved_dtypes: set[str] = set()  # of the arrays refused for their dtype alone
        pairs_refused: list[str] = []
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if isinstance(value, Variable):
                value = value.data
            if not isinstance(value, np.ndarray):
                raise TypeError(
                    f"load_state_dict: {name!r} is a {type(value).__name__}, expected an ndarray"
                )
            if value.shape != p.data.shape:
                problems.append(
                    f"{name!r} has shape {value.shape} in the state dict but {p.data.shape} in "
                    "the model"
                )
            elif value.dtype != p.data.dtype:
                saved_dtypes.add(str(value.dtype))
                pairs_refused.append(name)
                problems.append(
                    f"{name!r} has dtype {value.dtype} in the state dict but {p.data.dtype} in "
                    "the model"
                )
            else:
                pairs.append((p, value))
        if problems:
            hint = ""
            if len(saved_dtypes) == 1 and len(problems) == len(pairs_refused):
                hint = f"; make the model with dtype=np.{saved_dtypes.pop()} to load them"
            raise ValueError(
                f"load_state_dict: {type(self).__name__}: " + "; ".join(problems) + " (nothing "
                f"was loaded{hint})"
            )
        for p, value in pairs:
            np.copyto(p.data, value)
            increment_version(p)
        if pairs:
            self._params_changed("load_state_dict")
        return IncompatibleKeys(missing, unexpected)

    def _params_changed(self, why: str) -> None:
        """Called after this module's parameters were overwritten in place (`why` says how);
        a model that hands out graphs may free them here (see TwoLayerNet)."""

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write `state_dict()` to `path` (exactly that name) as a `.npz` archive, atomically:
        a temporary file in the same folder, then a rename, so an interrupted or failed save
        leaves any earlier file at `path` intact (and a later save or load removes what a
        killed one left). Returns the path."""
        return write_archive(path, self.state_dict(), "save")

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> IncompatibleKeys:
        """Load parameters saved by `save` (checked as by `load_state_dict`; no pickles). A
        file that is not such an archive raises a ValueError naming it."""
        sd = read_archive(path, "load")
        try:
            return self.load_state_dict(sd, strict=strict)
        except ValueError as e:
            raise ValueError(f"{e} [from {os.fspath(path)!r}]") from None

    # -- pictures and printing
    def draw_graph(
        self, x: Any, path: str | os.PathLike[str] = "graph.png", t: Any = None, **options: Any
    ) -> str:
        """Run one forward pass on `x` (and `t`, for models whose forward takes targets and
        returns the loss) and draw its graph with `minigrad.viz.draw_graph`, modules boxed.
        Returns the path written. `options` go to `minigrad.viz.to_dot`."""
        from minigrad.viz import draw_graph

        # A fresh graph, recorded even inside no_grad.
        with enable_grad():
            out = self(x) if t is None else self(x, t)
        return draw_graph(out, path=os.fspath(path), **options)

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in `repr` (its settings); override it."""
        return ""

    def __repr__(self) -> str:
        # PyTorch's layout: settings on one line when there are no children, else the
        # settings and then each child on lines of their own, the parenthesis closed last.
        lines = []
        for name, m in self.named_children():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        if extra:
            lines.insert(0, "  " + extra)
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


# What the walk looks at: the nodes of the tree, and the containers that may hold them.
_NODES = (Parameter, Module)
_CONTAINERS = (list, tuple, dict)
