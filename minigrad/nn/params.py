"""The book's `params` dict, kept in step with the model, and the graphs it frees.

`TwoLayerNet.params` is a dict of the very ndarrays its Parameters hold. The book's loop
updates it with `params[key] -= lr * grad[key]`, which Python runs as `params[key] =
params[key].__isub__(...)`: an in-place update followed by an assignment of the same array.
That assignment tells the model that its parameters changed. A new array assigned to a key
(`params[key] = w`) is copied into the Parameter in place (shape checked), so the model
never silently loses track of its weights.

When its parameters change, the model frees the graphs of the outputs it handed out before
(a loss kept in a list by the book's `train_loss_list.append(loss)` would otherwise pin its
mini-batch and activations, about 0.3 MiB a step). A freed output keeps its value, so
`float(loss)`, `plt.plot(losses)` and the like work; its `creator` becomes a `FreedGraph` whose
backward raises an error saying why. Its gradients could not be right anyway: the ops saved
the parameters' arrays, which now hold other values. PyTorch raises in the same situation
("a variable needed for gradient computation has been modified by an inplace operation").

Each such change also bumps the Parameter's version (`minigrad.increment_version`), which
alone would make a backward through an older output raise. Freeing the graphs is for the
memory: the book's loop (float64 784-50-10, batch 100, its losses kept in a list) grew by
212 MiB over 300 steps without it, 3.5 MiB with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from minigrad.core import Function, Parameter, Variable, enable_grad, increment_version

__all__ = ["ParamDict", "FreedGraph", "HandedOut"]


class FreedGraph(Function):
    """What `creator` becomes for an output whose graph a model freed when its parameters
    changed: the value stays, the graph is gone, and a backward through it raises."""

    # Slots: a kept loss of the book's loop holds one, 10,000 of them in a run.
    __slots__ = ("model", "why", "_target")

    def __init__(self, output: Variable, model: str, why: str) -> None:
        self.model = model
        self.why = why
        self._target = weakref.ref(output)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, gy: Any) -> Any:
        raise RuntimeError(
            f"backward: this output of {self.model} was computed before its parameters "
            f"changed ({self.why}), so its graph was freed then: its gradients would use the "
            "new parameter values. Compute it again after the update (loss = net.loss(x, t)) "
            "and call backward on that."
        )

    @property
    def outputs(self) -> tuple[weakref.ref[Variable], ...]:
        """The output whose graph was freed (the engine asks it for its gradient)."""
        return (self._target,)

    def label(self) -> str:
        return "graph freed: parameters changed"


# The one input of every FreedGraph node: an op is recorded only when an input requires grad.
_FREED = Variable(np.zeros(()), name="freed graph")


class HandedOut:
    """Weak references to the outputs a model handed out since its parameters last changed;
    `free()` cuts their graphs. Cheap to feed on every call: dead references are dropped in
    batches, so the list stays as long as the outputs still alive."""

    __slots__ = ("_refs", "_limit", "__weakref__")

    def __init__(self) -> None:
        self._refs: list[weakref.ref[Variable]] = []
        self._limit = 64

    def add(self, out: Variable) -> None:
        """Remember `out` (an output with a graph)."""
        refs = self._refs
        refs.append(weakref.ref(out))
        if len(refs) >= self._limit:
            refs[:] = [r for r in refs if r() is not None]
            self._limit = max(64, 2 * len(refs))

    def free(self, model: str, why: str) -> None:
        """Cut the graph of every output still alive: its `creator` becomes a FreedGraph."""
        refs = self._refs
        if not refs:
            return
        self._refs = []
        self._limit = 64
        for r in refs:
            v = r()
            if v is None or v.creator is None or isinstance(v.creator, FreedGraph):
                continue
            cut = FreedGraph(v, model, why)
            with enable_grad():  # recorded like any op, even in no_grad; its output is dropped
                cut(_FREED)
            v.creator = cut

    def __len__(self) -> int:
        return len(self._refs)

    def __reduce__(self) -> Any:
        # A copy of a model has handed out nothing yet.
        return (HandedOut, ())


class ParamDict(dict[str, np.ndarray]):
    """The book's `params`: {name: the ndarray the Parameter holds}, in step with the model.

    - `params[k] -= lr * g` updates the Parameter in place (it is the same array) and tells
      the model, which frees the graphs of the outputs it handed out before;
    - `params[k] = w` copies `w` into the Parameter in place (same shape; cast to its dtype),
      so the model trains on; a wrong shape or an unknown key raises, naming both shapes;
    - `params[k][...] = w` writes into the array directly, as with a plain dict.

    Keys cannot be added or removed. If a Parameter's `.data` is replaced by a new array,
    `params[k]` returns the new one.
    """

    def __init__(
        self, owner: Mapping[str, Parameter], handed_out: HandedOut, model: str = "model"
    ) -> None:
        super().__init__((k, p.data) for k, p in owner.items())
        self._owner = dict(owner)
        self._handed_out = handed_out
        self._model = model

    def _sync(self) -> None:
        for k, p in self._owner.items():
            if dict.__getitem__(self, k) is not p.data:
                dict.__setitem__(self, k, p.data)

    def __getitem__(self, key: Any) -> np.ndarray:
        p = self._owner.get(key)
        if p is None:
            raise KeyError(key)
        data = p.data
        if dict.__getitem__(self, key) is not data:
            dict.__setitem__(self, key, data)
        return data

    def __setitem__(self, key: Any, value: Any) -> None:
        p = self._owner.get(key)
        if p is None:
            self._checked(key, value)  # raises, naming the keys
            return
        if value is not p.data:
            np.copyto(p.data, self._checked(key, value))
        dict.__setitem__(self, key, p.data)
        increment_version(p)
        self._handed_out.free(self._model, f"params[{key!r}] was updated")

    def _checked(self, key: Any, value: Any) -> np.ndarray:
        """`value` as an array of the Parameter's shape and dtype, or a clear error."""
        p = self._owner.get(key)
        where = f"{self._model}.params[{key!r}] = ..."
        if p is None:
            raise KeyError(
                f"{where}: no such parameter (the keys are {', '.join(self._owner)}); keys "
                "cannot be added"
            )
        if isinstance(value, Variable):
            value = value.data
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{where}: cannot make an array of {type(value).__name__}") from e
        if arr.shape != p.data.shape:
            raise ValueError(
                f"{where}: the new array has shape {arr.shape}, but {key} has shape "
                f"{p.data.shape}; nothing was assigned"
            )
        if not np.can_cast(arr.dtype, p.data.dtype, casting="same_kind"):
            raise TypeError(
                f"{where}: cannot store an array of dtype {arr.dtype} in {key} ({p.data.dtype})"
            )
        return arr

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self._owner else default

    def items(self) -> Any:
        self._sync()
        return super().items()

    def values(self) -> Any:
        self._sync()
        return super().values()

    def copy(self) -> dict[Any, np.ndarray]:
        """A plain dict of the same arrays (not copies of them)."""
        self._sync()
        return dict(super().items())

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """`params[k] = v` for each pair, copied in place; all are checked before any is
        copied, so on error nothing changed."""
        pairs: list[tuple[Any, Any]] = list(other.items() if isinstance(other, Mapping) else other)
        pairs += kwargs.items()
        checked = [(k, self._checked(k, v)) for k, v in pairs]
        for k, arr in checked:
            np.copyto(self._owner[k].data, arr)
            dict.__setitem__(self, k, self._owner[k].data)
            increment_version(self._owner[k])
        if checked:
            self._handed_out.free(self._model, "params.update() was called")

    def __ior__(self, other: Any) -> ParamDict:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self._owner:
            raise KeyError(f"{self._model}.params: no parameter {key!r}; keys cannot be added")
        return self[key]

    def _fixed(self, *args: Any) -> Any:
        raise TypeError(f"{self._model}.params: parameters cannot be removed")

    __delitem__ = pop = popitem = clear = _fixed

    def __iter__(self) -> Iterator[Any]:
        return iter(self._owner)

    def __repr__(self) -> str:
        self._sync()
        return dict.__repr__(self)

    def __reduce__(self) -> Any:
        return (ParamDict, (self._owner, self._handed_out, self._model))
