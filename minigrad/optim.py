"""Optimizers: SGD (momentum, Nesterov, weight decay), AdaGrad, RMSprop, Adam, AdamW.

Two ways to use one:

- PyTorch's: `opt = SGD(model.parameters(), lr=0.1)`, then per step `opt.zero_grad()`,
  `loss.backward()`, `opt.step()`. `step` updates each `param.data` in place and skips
  parameters whose `grad` is None.
- the book's: `opt = SGD(lr=0.1)` (no params), then `opt.update(params, grads)` with dicts of
  ndarrays (`net.params`, `net.gradient(x, t)`); the arrays of `params` are updated in place.

The update rules follow PyTorch (momentum buffers start at the first gradient, Adam's bias
correction, AdamW's decoupled decay). Hyperparameters are kept as Python floats and state
buffers take the parameter's dtype, so float32 training stays float32.

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
from minigrad.core import Variable

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam", "AdamW"]


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


class Optimizer:
    """Base class: holds the parameters (a list fixed at construction) and per-parameter
    state. Subclasses define `_update(data, g, state)`, which updates the ndarray `data` in
    place from its gradient `g` and the dict `state` of that parameter."""

    def __init__(self, params: Iterable[Variable] | None) -> None:
        name = type(self).__name__
        self.params: list[Variable] | None = None
        if params is not None:
            if isinstance(params, Variable):
                raise TypeError(
                    f"{name}: params must be an iterable of Parameters; wrap one in a list"
                )
            if isinstance(params, Mapping):
                raise TypeError(
                    f"{name}: params is a dict; pass Parameters (e.g. model.parameters()), or "
                    "leave params out and call update(params, grads) with the book's dicts"
                )
            plist = list(params)
            for i, p in enumerate(plist):
                if not isinstance(p, Variable):
                    raise TypeError(
                        f"{name}: params[{i}] is a {type(p).__name__}, not a Parameter (for "
                        "dicts of ndarrays, call update(params, grads))"
                    )
                if not p.requires_grad or p.creator is not None:
                    raise ValueError(
                        f"{name}: params[{i}] ({p.name or 'unnamed'}) is not a leaf that "
                        "requires grad"
                    )
            if not plist:
                raise ValueError(f"{name}: got an empty parameter list")
            if len({id(p) for p in plist}) != len(plist):
                raise ValueError(f"{name}: a parameter appears more than once in params")
            self.params = plist
        # One state dict per parameter (by position) for step(), per key for update().
        self.state: list[dict[str, Any]] = [{} for _ in self.params or ()]
        self.key_state: dict[Any, dict[str, Any]] = {}

    def zero_grad(self) -> None:
        """Forget the gradients of the parameters (`grad` becomes None)."""
        for p in self._require_params("zero_grad"):
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place. A gradient of another shape
        than its parameter raises before anything is updated."""
        params = self._check_grads("step")
        for p, state in zip(params, self.state):
            g = p.grad
            if g is not None:
                self._update(p.data, g.data, state)
                p._version += 1  # an in-place change: graphs recorded before it must not backward

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
        place from `grads[key]` (ndarrays, or Parameters/Variables whose data is used). All
        keys and shapes are checked before anything is updated. An updated array is then
        assigned back (`params[key] = array`, as the book's `params[key] -= ...` does), so a
        model's `params` (TwoLayerNet's) knows that its parameters changed."""
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
        for key, p, data, gd in todo:
            state = self.key_state.get(key)
            if state is None:
                state = self.key_state[key] = {}
            self._update(data, gd, state)
            if isinstance(p, Variable):
                p._version += 1  # an in-place change: graphs recorded before it must not backward
            if p is data and isinstance(params, dict):
                params[key] = data

    # -- saving and resuming
    def state_dict(self) -> dict[str, Any]:
        """What resumes this optimizer exactly: `{"type", "settings", "state", "key_state"}`
        with copies of the buffers (momentum, Adam's moments and step count, ...). `state` is
        a list, one dict per parameter in the order given; `key_state` is that of `update`."""

        def copied(state: dict[str, Any]) -> dict[str, Any]:
            return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}

        return {
            "type": type(self).__name__,
            "settings": dict(self._settings()),
            "state": [copied(st) for st in self.state],
            "key_state": {k: copied(st) for k, st in self.key_state.items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned: the settings (lr, ...) and the buffers,
        copied and cast to the parameters' dtypes. Checked before anything changes: the
        optimizer's type, the number of parameters and each buffer's shape."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"settings", "state"} <= set(state_dict):
            raise TypeError(
                f"{where}: expected what state_dict() returns (a dict with settings and state)"
            )
        kind = state_dict.get("type", name)
        if kind != name:
            raise ValueError(f"{where}: the state dict is of a {kind}, not of a {name}")
        settings = dict(state_dict["settings"])
        own = self._settings()
        if set(settings) != set(own):
            raise ValueError(f"{where}: settings {sorted(settings)}, expected {sorted(own)}")
        settings = {k: _like(own[k], v) for k, v in settings.items()}
        type(self)(None, **settings)  # validates the values, as the constructor does
        states = list(state_dict["state"])
        params = self.params or []
        if len(states) != len(params):
            raise ValueError(
                f"{where}: the state dict has state for {len(states)} parameters, this "
                f"optimizer has {len(params)}"
            )
        new_states = [
            _restored(st, p.data, f"{where}: params[{i}] ({p.name or 'unnamed'})")
            for i, (p, st) in enumerate(zip(params, states))
        ]
        key_state = {
            k: _restored(st, None, f"{where}: key_state[{k!r}]")
            for k, st in dict(state_dict.get("key_state", {})).items()
        }
        for k, v in settings.items():
            setattr(self, k, v)
        self.state = new_states
        self.key_state = key_state

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write `state_dict()` to `path` as a `.npz` archive, atomically (as `Module.save`
        does); `load(path)` restores it. The keys of `update` must be strings here."""
        sd = self.state_dict()
        arrays: dict[str, np.ndarray] = {"type": np.array(sd["type"])}
        for k, v in sd["settings"].items():
            arrays[f"settings/{k}"] = np.asarray(v)
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
        for name, a in arrays.items():
            part = name.split("/")
            value = a[()] if a.ndim == 0 else a
            if part[0] == "settings":
                sd["settings"][part[1]] = value
            elif part[0] == "state" and len(part) == 3:
                sd["state"][int(part[1])][part[2]] = value
            elif part[0] == "key_state":
                st = sd["key_state"].setdefault(part[1], {})
                if part[2]:
                    st[part[2]] = value
        self.load_state_dict(sd)

    def _require_params(self, what: str) -> list[Variable]:
        if self.params is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what}: no parameters were given at construction; pass "
                "them (e.g. model.parameters()) or use update(params, grads)"
            )
        return self.params

    def _update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self._settings().items())
        return f"{type(self).__name__}({settings})"

    def _settings(self) -> dict[str, Any]:
        return {}


def _like(template: Any, value: Any) -> Any:
    """A setting read back (from a state dict or a file) in the type of the current one."""
    if isinstance(template, bool):
        return bool(value)
    if isinstance(template, tuple):
        return tuple(float(v) for v in value)
    return float(value)


def _restored(state: Any, like: np.ndarray | None, where: str) -> dict[str, Any]:
    """One parameter's state from a state dict: arrays copied (in `like`'s shape and dtype
    when given), numbers as Python numbers; a wrong shape raises."""
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
            out[k] = np.array(a, dtype=None if like is None else like.dtype)
    return out


class SGD(Optimizer):
    """p -= lr * g, with optional momentum, Nesterov momentum and L2 weight decay.

    With weight decay g += weight_decay * p; with momentum, buf = g at the first step and
    buf = momentum * buf + g after, and the step uses buf (or g + momentum * buf with
    `nesterov`). The book's Momentum (v = momentum * v - lr * g; p += v) is the same update.
    """

    def __init__(
        self,
        params: Iterable[Variable] | None = None,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.lr = _at_least_zero("SGD", "lr", lr)
        self.momentum = _at_least_zero("SGD", "momentum", momentum)
        self.weight_decay = _at_least_zero("SGD", "weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov needs a momentum > 0")
        super().__init__(params)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (see Optimizer.step)."""
        if self.momentum or self.weight_decay:
            super().step()
            return
        # Plain SGD, the hot loop of most training: one multiply and one in-place subtract.
        lr = self.lr
        for p in self._check_grads("step"):
            g = p.grad
            if g is not None:
                d = p.data
                d -= lr * g.data  # in place (cheaper than np.subtract(..., out=d))
                p._version += 1  # an in-place change: graphs recorded before it must not backward

    def _update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * data
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=data.dtype)
            else:
                buf *= self.momentum
                buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        data -= self.lr * g

    def _settings(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }


def _zeros_in(state: dict[str, Any], key: str, like: np.ndarray) -> np.ndarray:
    """The parameter's buffer `state[key]`, made as zeros like the parameter on first use."""
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.zeros_like(like)
    return buf


class AdaGrad(Optimizer):
    """h += g * g; p -= lr * g / (sqrt(h) + eps)  (h starts at zero)."""

    def __init__(
        self, params: Iterable[Variable] | None = None, lr: float = 0.01, eps: float = 1e-8
    ) -> None:
        self.lr = _at_least_zero("AdaGrad", "lr", lr)
        self.eps = _at_least_zero("AdaGrad", "eps", eps)
        super().__init__(params)

    def _update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        h = _zeros_in(state, "sum", data)
        h += g * g
        data -= self.lr * g / (np.sqrt(h) + self.eps)

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr, "eps": self.eps}


class RMSprop(Optimizer):
    """v = alpha * v + (1 - alpha) * g * g; p -= lr * g / (sqrt(v) + eps)  (v starts at zero)."""

    def __init__(
        self,
        params: Iterable[Variable] | None = None,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
    ) -> None:
        self.lr = _at_least_zero("RMSprop", "lr", lr)
        self.alpha = _unit("RMSprop", "alpha", alpha)
        self.eps = _at_least_zero("RMSprop", "eps", eps)
        super().__init__(params)

    def _update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        v = _zeros_in(state, "square_avg", data)
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        data -= self.lr * g / (np.sqrt(v) + self.eps)

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps}


class Adam(Optimizer):
    """Adam (Kingma and Ba), with PyTorch's bias correction. At step k (from 1):
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr * (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps).
    `weight_decay` adds weight_decay * p to g first (L2, as torch.optim.Adam); see AdamW.
    `weight_decay=None` means the class's default: 0 for Adam, 0.01 for AdamW (as PyTorch).
    """

    _decoupled = False
    default_weight_decay = 0.0

    def __init__(
        self,
        params: Iterable[Variable] | None = None,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | None = None,
    ) -> None:
        name = type(self).__name__
        if weight_decay is None:
            weight_decay = self.default_weight_decay
        self.lr = _at_least_zero(name, "lr", lr)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"{name}: betas must be a pair of numbers, got {betas!r}") from None
        self.betas = (_unit(name, "betas[0]", b1), _unit(name, "betas[1]", b2))
        self.eps = _at_least_zero(name, "eps", eps)
        self.weight_decay = _at_least_zero(name, "weight_decay", weight_decay)
        super().__init__(params)

    def _update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            if self._decoupled:
                data *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * data
        m = state.get("exp_avg")
        if m is None:
            m = state["exp_avg"] = np.zeros_like(data)
            state["exp_avg_sq"] = np.zeros_like(data)
            state["step"] = 0
        v = state["exp_avg_sq"]
        k = state["step"] = state["step"] + 1
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        step_size = self.lr / (1 - b1**k)
        denom = np.sqrt(v)
        denom /= math.sqrt(1 - b2**k)
        denom += self.eps
        data -= step_size * (m / denom)

    def _settings(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr * weight_decay
    before each Adam step, instead of adding the decay to the gradient (default 0.01)."""

    _decoupled = True
    default_weight_decay = 0.01
