"""The engine's switches: grad mode, anomaly mode and the Module call being recorded, per
thread (as in PyTorch), and the default dtype, per process. Every op reads `_local.mode`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "detect_anomaly",
    "set_default_dtype",
    "get_default_dtype",
    "ModuleCall",
]


class _Mode:
    """One thread's engine switches (grad mode is per thread, as in PyTorch)."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "create_graph", "retain_graph", "stack")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        # The Module call that is running, recorded by every Function for the graph pictures.
        self.scope: ModuleCall | None = None
        # True while a backward records itself (create_graph=True).
        self.create_graph = False
        self.retain_graph = False
        # The grad modes that `no_grad`/`enable_grad` blocks replaced, innermost last.
        self.stack: list[bool] = []


class _Local(threading.local):
    """`_local.mode` is the running thread's `_Mode`, made on its first use in that thread."""

    def __init__(self) -> None:
        self.mode = _Mode()


# Ops read `_local.mode` once each: one thread-local lookup (~30 ns), then plain slots.
_local = _Local()


class _Defaults:
    """Process-wide settings."""

    __slots__ = ("dtype",)

    def __init__(self) -> None:
        self.dtype: np.dtype = np.dtype(np.float32)


_defaults = _Defaults()


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of new Parameters and of Variables made from Python numbers (float32 or
    float64). Process-wide, like PyTorch's."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _defaults.dtype = dt


def get_default_dtype() -> np.dtype:
    """The dtype of new Parameters (float32 unless `set_default_dtype` changed it)."""
    return _defaults.dtype


def is_grad_enabled() -> bool:
    """True when ops record the graph in this thread (outside `no_grad`)."""
    return _local.mode.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Sets whether ops record the graph in the running thread; a context manager and a
    decorator. The mode it replaces is kept per thread, so one object may be entered by
    several threads at once (a decorated function called from two threads)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        mode = _local.mode
        mode.stack.append(mode.grad_enabled)
        mode.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        mode = _local.mode
        mode.grad_enabled = mode.stack.pop()


def no_grad(fn: _F | None = None) -> Any:
    """Context manager (and decorator) inside which ops record nothing and need no grads.

    >>> with no_grad():
    ...     y = model(x)          # y.creator is None

    As a decorator both `@no_grad()` and `@no_grad` work. It affects the running thread only.
    """
    return _GradMode(False) if fn is None else _GradMode(False)(fn)


def enable_grad(fn: _F | None = None) -> Any:
    """Context manager (and decorator) that turns recording back on, e.g. inside `no_grad`."""
    return _GradMode(True) if fn is None else _GradMode(True)(fn)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise as soon as an op produces a NaN or inf, in forward or in backward.

    The error (`AnomalyError`) names the op and shows where in the user's code that op was
    called, so a NaN can be traced to its source. Slow (it records a stack per op): for
    debugging only. It affects the running thread only.
    """
    mode = _local.mode
    prev = mode.anomaly
    mode.anomaly = True
    try:
        yield
    finally:
        mode.anomaly = prev


class ModuleCall:
    """One running call of a Module (its `forward`, or a method such as `TwoLayerNet.loss`),
    recorded by each Function made inside it so that graph pictures box those ops.

    `parent` is the enclosing call (None at the top), so nested modules give nested boxes.
    Made by `Module.__call__` and by the methods `nn.module.runs_as_call` wraps.
    """

    __slots__ = ("module", "parent")

    def __init__(self, module: Any, parent: ModuleCall | None) -> None:
        self.module = module
        self.parent = parent
