"""Optimizers: SGD (momentum, Nesterov, weight decay), AdaGrad, RMSprop, Adam, AdamW.

Two ways to use one:

- PyTorch's: `opt = SGD(model.parameters(), lr=0.1)`, then per step `opt.zero_grad()`,
  `loss.backward()`, `opt.step()`. `step` updates each `param.data` in place and skips
  parameters whose `grad` is None.
- the book's: `opt = SGD(lr=0.1)` (no params), then `opt.update(params, grads)` with dicts of
  ndarrays (`net.params`, `net.gradient(x, t)`); the arrays of `params` are updated in place.

The update rules follow PyTorch (momentum buffers start at the first gradient, Adam's bias
correction, AdamW's decoupled decay). Hyperparameters are kept as Python floats in PyTorch's
`param_groups` (a list of dicts with 'params', 'lr', ...; `defaults` holds the constructor's
values) and read as attributes too (`opt.lr`); a list of dicts as `params` gives each group
its own settings, and the schedulers of `minigrad.optim.lr_scheduler` change a group's 'lr'.
State buffers take the parameter's dtype, so float32 training stays float32. A float16
parameter is the exception: its optimizer keeps a float32 master copy (state 'master') and
float32 buffers, so that each step is the float32 step rounded to float16.

A gradient whose shape differs from its parameter's is an error naming the parameter, raised
before anything is updated. `state_dict()`/`load_state_dict()` (and `save(path)`/`load(path)`)
hold the settings and the buffers, so a run saved with the model's weights resumes exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from minigrad._archive import read_archive, write_archive
from minigrad.core import Variable, increment_version

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam", "AdamW", "lr_scheduler"]


def __dir__() -> list[str]:
    # dir(minigrad.optim) shows the optimizers, not the names this module imports.
    return sorted(__all__)


def _number(opt: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{opt}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{opt}: {name} is NaN")
    return value


def _at_least_zero(opt: str, name: str, value: Any) -> float:
    v = _number(opt, name, value)
    if v < 0:
        raise ValueError(f"{opt}: invalid {name} {value} (must be >= 0)")
    return v


def _unit(opt: str, name: str, value: Any) -> float:
    v = _number(opt, name, value)
    if not 0 <= v < 1:
        raise ValueError(f"{opt}: invalid {name} {value} (must be in [0, 1))")
    return v


# Keys a param group may hold besides the optimizer's settings: the schedulers' own (PyTorch's
# names), so that a group saved while a schedule ran can be given back to a constructor.
_SCHEDULER_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


def _master_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of the state (and master copy) of a parameter of `dtype`: float32 for float16,
    whose 10-bit mantissa loses small updates and whose range turns Adam's eps and v into 0."""
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize < 4 else dtype


class _Setting:
    """A hyperparameter read and set as an attribute (`opt.lr`), kept in `param_groups`:
    reading needs every group to agree; setting checks the value and sets it in `defaults`
    and in every group."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, opt: Optimizer | None, owner: type) -> Any:
        if opt is None:
            return self
        values = [g[self.name] for g in opt.param_groups]
        if any(v != values[0] for v in values[1:]):
            raise ValueError(
                f"{type(opt).__name__}.{self.name}: the param groups have different values "
                f"{values}; read optimizer.param_groups[i][{self.name!r}]"
            )
        return values[0]

    def __set__(self, opt: Optimizer, value: Any) -> None:
        checked = [
            opt._checked({**_settings_of(g, opt.defaults), self.name: value})[self.name]
            for g in opt.param_groups
        ]
        opt.defaults[self.name] = checked[0]
        for g, v in zip(opt.param_groups, checked):
            g[self.name] = v


def _settings_of(group: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A group's values of the optimizer's settings (the keys of `defaults`)."""
    return {k: group[k] for k in defaults}


class Optimizer:
    """Base class: holds the parameters (fixed at construction, or added by
    `add_param_group`) in `param_groups`, the settings given to the constructor in `defaults`,
    and per-parameter state. A subclass passes its settings to `__init__(params, defaults)`
    (a dict such as `{"lr": lr}`), may check them in the classmethod `_checked(settings)`,
    and defines `_update(data, g, state, group)`, which updates the ndarray `data` in place
    from its gradient `g`, the dict `state` of that parameter and the settings of its
    `group` (`group["lr"]`, ...)."""

    lr = _Setting()

    def __init__(self, params: Any, defaults: Mapping[str, Any] | None = None) -> None:
        name = type(self).__name__
        self.defaults: dict[str, Any] = self._checked(defaults or {})
        self.param_groups: list[dict[str, Any]] = []
        self.params: list[Variable] | None = None
        # One state dict per parameter (by position in `params`) for step(), per key for update().
        self.state: list[dict[str, Any]] = []
        self.key_state: dict[Any, dict[str, Any]] = {}
        # Counted so that a scheduler can tell when its step() comes before the first update.
        self._step_count = 0
        if params is None:
            # The book's way: one group without parameters, whose settings update() uses.
            self.param_groups.append({"params": [], **self.defaults})
            return
        if isinstance(params, Variable):
            raise TypeError(f"{name}: params must be an iterable of Parameters; wrap one in a list")
        if isinstance(params, Mapping):
            raise TypeError(
                f"{name}: params is a dict; pass Parameters (e.g. model.parameters()), or "
                "leave params out and call update(params, grads) with the book's dicts"
            )
        if callable(getattr(params, "parameters", None)):
            raise TypeError(
                f"{name}: got a {type(params).__name__} (a model); pass its parameters: "
                f"{name}(model.parameters(), ...)"
            )
        try:
            used_once = iter(params) is params
        except TypeError:
            raise TypeError(
                f"{name}: params must be an iterable of Parameters (e.g. model.parameters()), "
                f"got {type(params).__name__}"
            ) from None
        items = list(params)
        if not items:
            if used_once:
                raise ValueError(
                    f"{name}: params is an iterator that gave no parameters; was it used up "
                    "already (by another optimizer, or a list() of it)? model.parameters() can "
                    "be read once: call it again for each optimizer"
                )
            raise ValueError(f"{name}: got an empty parameter list")
        self.params = []
        if all(isinstance(g, Mapping) for g in items):
            for group in items:
                self.add_param_group(group)
        else:
            self.add_param_group({"params": items})

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own settings (those it lacks come from
        `defaults`), as PyTorch's: `{"params": [...], "lr": 0.01}`."""
        name = type(self).__name__
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(
                f"{name}: a param group must be a dict with a 'params' key, got "
                f"{type(param_group).__name__}"
            )
        unknown = set(param_group) - {"params"} - set(self.defaults) - _SCHEDULER_KEYS
        if unknown:
            raise ValueError(
                f"{name}: a param group has unknown settings {sorted(unknown)} (the settings "
                f"are {sorted(self.defaults)})"
            )
        group_params = param_group["params"]
        if isinstance(group_params, Variable):
            group_params = [group_params]
        elif isinstance(group_params, Mapping) or not isinstance(group_params, Iterable):
            raise TypeError(
                f"{name}: a param group's 'params' must be an iterable of Parameters, got "
                f"{type(group_params).__name__}"
            )
        plist = list(group_params)
        start = len(self.params or ())
        for i, p in enumerate(plist, start):
            if not isinstance(p, Variable):
                raise TypeError(
                    f"{name}: params[{i}] is a {type(p).__name__}, not a Parameter (for "
                    "dicts of ndarrays, call update(params, grads))"
                )
            if not p.requires_grad or p.creator is not None:
                raise ValueError(
                    f"{name}: params[{i}] ({p.name or 'unnamed'}) is not a leaf that requires grad"
                )
        if not plist:
            raise ValueError(f"{name}: got an empty parameter list")
        seen = {id(p) for p in self.params or ()}
        if len({id(p) for p in plist} | seen) != len(plist) + len(seen):
            raise ValueError(f"{name}: a parameter appears more than once in params")
        settings = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        group = {"params": plist, **self._checked(_settings_of(settings, self.defaults))}
        group.update((k, v) for k, v in settings.items() if k in _SCHEDULER_KEYS)
        if self.params is None:
            self.params = []
        self.params.extend(plist)
        self.state.extend({} for _ in plist)
        self.param_groups.append(group)

    def zero_grad(self) -> None:
        """Forget the gradients of the parameters (`grad` becomes None)."""
        for p in self._require_params("zero_grad"):
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place. A gradient of another shape
        than its parameter raises before anything is updated."""
        self._check_grads("step")
        states = iter(self.state)
        for group in self.param_groups:
            for p, state in zip(group["params"], states):
                g = p.grad
                if g is not None:
                    self._apply(p.data, g.data, state, group)
                    # An in-place change: graphs recorded before it must not backward.
                    increment_version(p)
        self._step_count += 1

    def _apply(
        self, data: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """`_update` on `data`, or for float16 on its float32 master copy, which is then
        rounded into `data`: a float16 step is the float32 step rounded."""
        if _master_dtype(data.dtype) == data.dtype:
            self._update(data, g, state, group)
            return
        master = state.get("master")
        if master is None or not np.array_equal(master.astype(data.dtype), data):
            # First step, or the weights were changed outside the optimizer (loaded, set):
            # the master copy starts again from them.
            master = state["master"] = data.astype(np.float32)
        self._update(master, g.astype(np.float32), state, group)
        data[...] = master

    def _check_grads(self, what: str) -> list[Variable]:
        """The parameters, after checking that each gradient has its parameter's shape."""
        params = self._require_params(what)
        for i, p in enumerate(params):
            g = p.grad
            if g is not None and g.data.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.{what}: params[{i}] ({p.name or 'unnamed'}) has a "
                    f"gradient of shape {g.data.shape} but the parameter has shape "
                    f"{p.data.shape} (was its .data replaced by an array of another shape?); "
                    "nothing was updated"
                )
        return params

    def update(self, params: Mapping[Any, Any], grads: Mapping[Any, Any]) -> None:
        """The book's interface: for each key of `grads`, update the array `params[key]` in
        place from `grads[key]` (ndarrays, or Parameters/Variables whose data is used), with
        the settings of the first param group. All keys and shapes are checked before
        anything is updated. An updated array is then assigned back (`params[key] = array`,
        as the book's `params[key] -= ...` does), so a model's `params` (TwoLayerNet's) knows
        that its parameters changed."""
        name = type(self).__name__
        todo = []
        for key, g in grads.items():
            if key not in params:
                raise KeyError(f"{name}.update: grads has key {key!r}, which params lacks")
            p = params[key]
            data = p.data if isinstance(p, Variable) else p
            gd = g.data if isinstance(g, Variable) else g
            if not isinstance(data, np.ndarray):
                raise TypeError(
                    f"{name}.update: params[{key!r}] is a {type(p).__name__}; it must be an "
                    "ndarray to be updated in place"
                )
            if np.shape(gd) != data.shape:
                raise ValueError(
                    f"{name}.update: grads[{key!r}] has shape {np.shape(gd)} but params[{key!r}] "
                    f"has shape {data.shape}; nothing was updated"
                )
            todo.append((key, p, data, gd))
        group = self.param_groups[0]
        for key, p, data, gd in todo:
            state = self.key_state.get(key)
            if state is None:
                state = self.key_state[key] = {}
            self._apply(data, np.asarray(gd), state, group)
            if isinstance(p, Variable):
                p._version += 1  # an in-place change: graphs recorded before it must not backward
            if p is data and isinstance(params, dict):
                params[key] = data
        self._step_count += 1

    # -- saving and resuming
    def state_dict(self) -> dict[str, Any]:
        """What resumes this optimizer exactly: `{"type", "settings", "param_groups",
        "state", "key_state"}` with copies of the buffers (momentum, Adam's moments and step
        count, float16 parameters' float32 master copies, ...). `settings` is `defaults`;
        `param_groups` holds each group's settings (as changed by a scheduler) with 'params'
        the positions of its parameters; `state` is a list, one dict per parameter in the
        order given; `key_state` is that of `update`."""

        def copied(state: dict[str, Any]) -> dict[str, Any]:
            return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}

        groups, start = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append(
                {
                    **{k: v for k, v in g.items() if k != "params"},
                    "params": list(range(start, start + n)),
                }
            )
            start += n
        return {
            "type": type(self).__name__,
            "settings": dict(self.defaults),
            "param_groups": groups,
            "state": [copied(st) for st in self.state],
            "key_state": {k: copied(st) for k, st in self.key_state.items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned: the settings (lr, ...) of `defaults` and of
        each param group, and the buffers, copied and cast to the parameters' dtypes (float32
        for float16 parameters). Checked before anything changes: the optimizer's type, the
        settings, the number of groups and of parameters and each buffer's shape."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"settings", "state"} <= set(state_dict):
            raise TypeError(
                f"{where}: expected what state_dict() returns (a dict with settings and state)"
            )
        kind = state_dict.get("type", name)
        if kind != name:
            raise ValueError(f"{where}: the state dict is of a {kind}, not of a {name}")
        own = self.defaults
        settings = dict(state_dict["settings"])
        if set(settings) != set(own):
            raise ValueError(f"{where}: settings {sorted(settings)}, expected {sorted(own)}")
        defaults = self._checked({k: _like(own[k], v) for k, v in settings.items()})
        states = list(state_dict["state"])
        params = self.params or []
        if len(states) != len(params):
            raise ValueError(
                f"{where}: the state dict has state for {len(states)} parameters, this "
                f"optimizer has {len(params)}"
            )
        # A state dict from before param groups: one setting for every group.
        saved_groups = state_dict.get("param_groups")
        if saved_groups is None:
            saved_groups = [dict(defaults, params=g["params"]) for g in self.param_groups]
        saved_groups = list(saved_groups)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: the state dict has {len(saved_groups)} param groups, this optimizer "
                f"has {len(self.param_groups)}"
            )
        groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{where}: param group {i} has {len(saved['params'])} parameters in the "
                    f"state dict and {len(group['params'])} here"
                )
            missing = set(own) - set(saved)
            if missing:
                raise ValueError(f"{where}: param group {i} lacks {sorted(missing)}")
            values = self._checked({k: _like(own[k], saved[k]) for k in own})
            values.update((k, float(v)) for k, v in saved.items() if k in _SCHEDULER_KEYS)
            groups.append(values)
        new_states = [
            _restored(st, p.data, f"{where}: params[{i}] ({p.name or 'unnamed'})")
            for i, (p, st) in enumerate(zip(params, states))
        ]
        key_state = {
            k: _restored(st, None, f"{where}: key_state[{k!r}]")
            for k, st in dict(state_dict.get("key_state", {})).items()
        }
        self.defaults = defaults
        for group, values in zip(self.param_groups, groups):
            for k in [k for k in group if k in _SCHEDULER_KEYS]:
                del group[k]
            group.update(values)
        self.state = new_states
        self.key_state = key_state

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write `state_dict()` to `path` as a `.npz` archive, atomically (as `Module.save`
        does); `load(path)` restores it. The keys of `update` must be strings here."""
        sd = self.state_dict()
        arrays: dict[str, np.ndarray] = {"type": np.array(sd["type"])}
        for k, v in sd["settings"].items():
            arrays[f"settings/{k}"] = np.asarray(v)
        for i, group in enumerate(sd["param_groups"]):
            arrays.update((f"param_groups/{i}/{k}", np.asarray(v)) for k, v in group.items())
        for i, st in enumerate(sd["state"]):
            arrays.update((f"state/{i}/{k}", np.asarray(v)) for k, v in st.items())
        arrays["state/count"] = np.array(len(sd["state"]))
        for key, st in sd["key_state"].items():
            if not isinstance(key, str) or "/" in key:
                raise TypeError(
                    f"{type(self).__name__}.save: update() keys must be strings without '/', "
                    f"got {key!r}"
                )
            arrays[f"key_state/{key}/"] = np.array(0)  # a key with no state yet
            arrays.update((f"key_state/{key}/{k}", np.asarray(v)) for k, v in st.items())
        return write_archive(path, arrays, f"{type(self).__name__}.save")

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the state written by `save(path)` (checked as by `load_state_dict`)."""
        who = f"{type(self).__name__}.load"
        arrays = read_archive(path, who)
        if "type" not in arrays or "state/count" not in arrays:
            raise ValueError(
                f"{who}: {os.fspath(path)!r} is a minigrad archive but not an optimizer's "
                "(was it written by Module.save?)"
            )
        sd: dict[str, Any] = {
            "type": str(arrays["type"]),
            "settings": {},
            "state": [{} for _ in range(int(arrays["state/count"]))],
            "key_state": {},
        }
        groups: dict[int, dict[str, Any]] = {}
        for name, a in arrays.items():
            part = name.split("/")
            value = a[()] if a.ndim == 0 else a
            if part[0] == "settings":
                sd["settings"][part[1]] = value
            elif part[0] == "param_groups":
                groups.setdefault(int(part[1]), {})[part[2]] = value
            elif part[0] == "state" and len(part) == 3:
                sd["state"][int(part[1])][part[2]] = value
            elif part[0] == "key_state":
                st = sd["key_state"].setdefault(part[1], {})
                if part[2]:
                    st[part[2]] = value
        if groups:  # archives written before param groups have none
            sd["param_groups"] = [groups[i] for i in sorted(groups)]
        self.load_state_dict(sd)

    def _require_params(self, what: str) -> list[Variable]:
        if self.params is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what}: no parameters were given at construction; pass "
                "them (e.g. model.parameters()) or use update(params, grads)"
            )
        return self.params

    @classmethod
    def _checked(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The settings, checked and normalised (Python floats); raises on a bad one. The
        base class takes them as they are."""
        return dict(settings)

    def _update(
        self, data: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        def listed(settings: Mapping[str, Any]) -> str:
            return ", ".join(f"{k}={settings[k]}" for k in self.defaults)

        if len(self.param_groups) == 1:
            return f"{type(self).__name__}({listed(self.param_groups[0])})"
        groups = "; ".join(f"group {i}: {listed(g)}" for i, g in enumerate(self.param_groups))
        return f"{type(self).__name__}({groups})"


def _like(template: Any, value: Any) -> Any:
    """A setting read back (from a state dict or a file) in the type of the current one."""
    if isinstance(template, bool):
        return bool(value)
    if isinstance(template, tuple):
        return tuple(float(v) for v in value)
    return float(value)


def _restored(state: Any, like: np.ndarray | None, where: str) -> dict[str, Any]:
    """One parameter's state from a state dict: arrays copied (in `like`'s shape and state
    dtype when given), numbers as Python numbers; a wrong shape raises."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{where}: expected a dict of buffers, got {type(state).__name__}")
    out: dict[str, Any] = {}
    for k, v in state.items():
        a = np.asarray(v)
        if a.ndim == 0 and k == "step":
            out[k] = int(a)
        elif like is not None and a.shape != like.shape:
            raise ValueError(
                f"{where}: its {k!r} has shape {a.shape} but the parameter has shape "
                f"{like.shape}; nothing was loaded"
            )
        else:
            out[k] = np.array(a, dtype=None if like is None else _master_dtype(like.dtype))
    return out


# The schedulers and the update rules; both import the base class above.
from minigrad.optim import lr_scheduler  # noqa: E402 - it imports Optimizer from here
from minigrad.optim.rules import SGD, AdaGrad, Adam, AdamW, RMSprop  # noqa: E402
