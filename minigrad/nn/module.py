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

import contextlib
import functools
import os
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from minigrad.core import ModuleCall, Parameter, Variable, _local, enable_grad

__all__ = ["Module", "IncompatibleKeys"]


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


def _fingerprint(container: Any) -> Any:
    """What the parameter cache must see unchanged in a list, tuple or dict attribute: the
    identity of every item of a walked container, of the first item of a skipped one."""
    first = _first(container)
    if isinstance(first, Parameter | Module):
        return tuple(map(id, container.values() if isinstance(container, dict) else container))
    return id(first)


def _write_npz(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """What `np.savez` writes (one `name.npy` member per array, readable by `np.load`), but
    for any names: savez's keyword arguments clash with keys like `file`."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


# Bumped whenever any module gains, loses or replaces a Parameter, Module or container
# attribute: a module's cached parameter list is valid while this and its containers'
# fingerprints are unchanged.
_structure_version = 0


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
        if name[0] != "_" and (
            isinstance(value, _TRACKED) or isinstance(self.__dict__.get(name), _TRACKED)
        ):
            global _structure_version
            _structure_version += 1
            if isinstance(value, Parameter) and value.name is None:
                value.name = name
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if isinstance(self.__dict__.get(name), _TRACKED):
            global _structure_version
            _structure_version += 1
        object.__delattr__(self, name)

    def _members(self, containers: list[Any] | None = None) -> Iterator[tuple[str, Any]]:
        """The Parameters and Modules this module holds directly, as (name, object).
        The list, tuple and dict attributes seen are appended to `containers` if given."""
        for name, value in self.__dict__.items():
            if name[0] == "_":
                continue
            if isinstance(value, Parameter | Module):
                yield name, value
            elif isinstance(value, list | tuple | dict):
                if containers is not None:
                    containers.append(value)
                if not isinstance(_first(value), Parameter | Module):
                    continue
                items = value.items() if isinstance(value, dict) else enumerate(value)
                for key, item in items:
                    if isinstance(item, Parameter | Module):
                        yield f"{name}.{key}", item

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
        seen = {id(self)}
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            yield name, m
            kids = []
            for child_name, child in m.named_children():
                if id(child) not in seen:
                    seen.add(id(child))
                    kids.append((f"{name}.{child_name}" if name else child_name, child))
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule, each once."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every Parameter of the tree as (dotted name, Parameter), each once: a Parameter
        reachable by several paths keeps the first name (a module's own Parameters come
        before those of its submodules)."""
        if prefix == "":
            return iter(self._parameter_cache())
        return iter(self._walk_parameters(prefix, None))

    def parameters(self) -> Iterator[Parameter]:
        """Every Parameter of the tree, each once (what an optimizer takes)."""
        return iter([p for _, p in self._parameter_cache()])

    def _walk_parameters(
        self, prefix: str, containers: list[Any] | None
    ) -> list[tuple[str, Parameter]]:
        seen: set[int] = set()
        out = []
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._members(containers):
                if isinstance(p, Parameter) and id(p) not in seen:
                    seen.add(id(p))
                    out.append(((f"{mod_name}.{name}" if mod_name else name), p))
        return out

    def _parameter_cache(self) -> tuple[tuple[str, Parameter], ...]:
        # zero_grad runs every step: walking the tree each time would cost more than the
        # rest of a small model's step. The walk is redone only when some module's
        # attributes or one of the tree's containers changed.
        cache = self.__dict__.get("_param_cache")
        if cache is not None and cache[0] == _structure_version:
            for container, fp in cache[2]:
                if _fingerprint(container) != fp:
                    break
            else:
                return cache[1]
        containers: list[Any] = []
        items = tuple(self._walk_parameters("", containers))
        snapshot = tuple((c, _fingerprint(c)) for c in containers)
        object.__setattr__(self, "_param_cache", (_structure_version, items, snapshot))
        return items

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
        for _, p in self._parameter_cache():
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
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of name -> array, got "
                f"{type(state_dict).__name__}"
            )
        own: dict[str, Variable] = dict(self.named_parameters())
        # A buffer is filled in place like a parameter: a Variable holding it (not a copy).
        own.update((name, Variable(b, requires_grad=False)) for name, b in self.named_buffers())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        pairs = []
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
                problems.append(
                    f"{name!r} has dtype {value.dtype} in the state dict but {p.data.dtype} in "
                    "the model"
                )
            else:
                pairs.append((p, value))
        if problems:
            raise ValueError(
                f"load_state_dict: {type(self).__name__}: " + "; ".join(problems) + " (nothing "
                "was loaded)"
            )
        for p, value in pairs:
            np.copyto(p.data, value)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write `state_dict()` to `path` (exactly that name) as a `.npz` archive, atomically:
        a temporary file in the same folder, then a rename, so an interrupted or failed save
        leaves any earlier file at `path` intact. Returns the path."""
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"save: the folder {folder!r} does not exist")
        sd = self.state_dict()
        # Opened by hand rather than with mkstemp, so the file gets the usual permissions.
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
        f = open(tmp, "xb")
        try:
            with f:
                _write_npz(f, sd)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> IncompatibleKeys:
        """Load parameters saved by `save` (checked as by `load_state_dict`; no pickles)."""
        with np.load(os.fspath(path), allow_pickle=False) as archive:
            sd = OrderedDict((k, archive[k]) for k in archive.files)
        return self.load_state_dict(sd, strict=strict)

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
        lines = []
        for name, m in self.named_children():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


# What __setattr__ watches: assigning or replacing one of these may change the tree.
_TRACKED = (Parameter, Module, list, tuple, dict)
