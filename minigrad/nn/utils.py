"""Training tools beside the layers: gradient clipping (`clip_grad_norm_`,
`clip_grad_value_`, PyTorch's names and semantics) and `summary(model, example_input)`, a
table of a model's layers with their output shapes and parameter counts.

>>> import numpy as np
>>> from minigrad import nn
>>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
>>> print(nn.summary(net, np.zeros((5, 4), np.float32)))
Layer (type)   Output shape   Param #
=====================================
Sequential     (5, 2)              23
  0 (Linear)   (5, 3)              15
  1 (ReLU)     (5, 3)               0
  2 (Linear)   (5, 2)               8
=====================================
Total params: 23
Trainable params: 23
Non-trainable params: 0
Params size: 92 bytes (0.00 MB)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from minigrad.core import Variable, no_grad
from minigrad.nn.module import Module

__all__ = ["clip_grad_norm_", "clip_grad_value_", "summary", "ModelSummary", "LayerRow"]


def _with_grads(parameters: Any, who: str) -> list[Variable]:
    """The Variables of `parameters` (an iterable or one Variable) that have a gradient."""
    if isinstance(parameters, Variable):
        parameters = [parameters]
    elif isinstance(parameters, Module):
        raise TypeError(f"{who}: got a {type(parameters).__name__}; pass model.parameters()")
    elif not isinstance(parameters, Iterable):
        raise TypeError(
            f"{who}: parameters must be a Variable or an iterable of them, got "
            f"{type(parameters).__name__}"
        )
    out = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Variable):
            raise TypeError(f"{who}: parameters[{i}] is a {type(p).__name__}, not a Parameter")
        if p.grad is not None:
            out.append(p)
    return out


def _limit(who: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not v >= 0 or math.isinf(v):
        raise ValueError(f"{who}: {name} must be finite and >= 0, got {value}")
    return v


def clip_grad_norm_(
    parameters: Iterable[Variable] | Variable,
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> np.float64:
    """Scale the gradients of `parameters` together so that their total norm is at most
    `max_norm`, and return the total norm before clipping.

    The total norm is the `norm_type`-norm of all gradients as one vector (`float("inf")` or
    "inf": the largest absolute value). Each gradient is multiplied by
    min(1, max_norm / (total + 1e-6)) (a new array in `p.grad`). Parameters without a
    gradient are skipped; none at all gives 0. A NaN or infinite total raises a RuntimeError
    if `error_if_nonfinite`, else it scales the gradients as computed (NaN in, NaN out), as
    PyTorch does. The norm is a NumPy float64 (a `float`, with `.item()`; PyTorch returns a
    0-d tensor).
    """
    who = "clip_grad_norm_"
    max_norm = _limit(who, "max_norm", max_norm)
    if norm_type == "inf":
        norm_type = math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"{who}: norm_type must be a number or 'inf', got {norm_type!r}")
    p_norm = float(norm_type)
    if not p_norm > 0:
        raise ValueError(f"{who}: norm_type must be > 0, got {norm_type}")
    params = _with_grads(parameters, who)
    if not params:
        return np.float64(0.0)
    # Each gradient's norm first (in float64 for float16, whose squares overflow at 256),
    # then the norm of those norms: the norm of all the gradients as one vector.
    norms = [
        np.linalg.norm(
            (g := p.grad.data).ravel().astype(np.float64 if g.dtype.itemsize < 4 else g.dtype),
            ord=p_norm,
        )
        for p in params
        if p.grad is not None
    ]
    total = np.float64(np.linalg.norm(np.array(norms, np.float64), ord=p_norm))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"{who}: the total norm of order {norm_type} of the gradients is {total}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to scale them anyway"
        )
    coef = np.minimum(max_norm / (total + 1e-6), 1.0)
    if coef != 1.0:
        for p in params:
            g = p.grad.data
            # A new array: a gradient array may be shared (the engine hands one to two
            # leaves when it can), so scaling in place could scale it twice.
            p.grad = Variable(g * g.dtype.type(coef), requires_grad=False)
    return total


def clip_grad_value_(parameters: Iterable[Variable] | Variable, clip_value: float) -> None:
    """Clip every gradient of `parameters` elementwise into [-clip_value, clip_value] (a new
    array in `p.grad`); parameters without a gradient are skipped."""
    who = "clip_grad_value_"
    clip = _limit(who, "clip_value", clip_value)
    for p in _with_grads(parameters, who):
        g = p.grad.data  # type: ignore[union-attr]
        p.grad = Variable(np.clip(g, -clip, clip).astype(g.dtype, copy=False), requires_grad=False)


# --------------------------------------------------------------------------- summary


class LayerRow(NamedTuple):
    """One row of a summary: a call of a module (`name` its dotted path, "" for the model)."""

    name: str
    type: str
    depth: int
    output_shape: Any
    num_params: int


class ModelSummary:
    """What `summary` returns: `rows` (one `LayerRow` per module call, in call order, then
    the modules that were not called), `total_params`, `trainable_params` and
    `param_bytes`; `str()` (and `repr()`) is the table."""

    def __init__(
        self, rows: list[LayerRow], total_params: int, trainable_params: int, param_bytes: int
    ) -> None:
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.param_bytes = param_bytes

    def __str__(self) -> str:
        cells = [
            (
                "  " * r.depth + (f"{r.name} ({r.type})" if r.name else r.type),
                _shape_text(r.output_shape),
                f"{r.num_params:,}",
            )
            for r in self.rows
        ]
        head = ("Layer (type)", "Output shape", "Param #")
        w = [max(len(c[i]) for c in [head, *cells]) for i in range(3)]
        line = "=" * (w[0] + w[1] + w[2] + 6)

        def fmt(c: tuple[str, str, str]) -> str:
            return f"{c[0]:<{w[0]}}   {c[1]:<{w[1]}}   {c[2]:>{w[2]}}".rstrip()

        return "\n".join(
            [
                fmt(head),
                line,
                *map(fmt, cells),
                line,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                f"Params size: {self.param_bytes:,} bytes ({self.param_bytes / 1e6:.2f} MB)",
            ]
        )

    __repr__ = __str__


def _shape_of(out: Any) -> Any:
    if isinstance(out, Variable | np.ndarray):
        return tuple(out.shape)
    if isinstance(out, tuple | list):
        return [_shape_of(o) for o in out]
    return None


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "--"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return str(shape)


def summary(model: Module, example_input: Any) -> ModelSummary:
    """Run `model` once on `example_input` (a tuple is passed as several arguments) and
    return a `ModelSummary`: per module call its dotted name and type (indented by nesting),
    output shape and parameter count (its own and its submodules'), then the totals
    (all, trainable, non-trainable, size in bytes). `print(summary(model, x))` shows the
    table (torchinfo's and Keras's layout); nothing is printed by `summary` itself.

    The run is in evaluation mode (dropout off, batch norm's running statistics neither
    used for training nor updated) under `no_grad`, and each module's mode is restored
    after; modules that the run did not call are listed at the end with output "--".
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected a Module, got {type(model).__name__}")
    named = list(model.named_modules())
    rows: list[LayerRow | None] = []
    called: set[int] = set()
    depth = [0]

    def recording(name: str, m: Module, forward: Any) -> Any:
        def forward_recorded(*args: Any, **kwargs: Any) -> Any:
            i = len(rows)
            rows.append(None)  # the row's place: a parent comes before its children
            called.add(id(m))
            depth[0] += 1
            try:
                out = forward(*args, **kwargs)
            finally:
                depth[0] -= 1
            rows[i] = LayerRow(name, type(m).__name__, depth[0], _shape_of(out), _count(m))
            return out

        return forward_recorded

    # A module may hold its own `forward` attribute already: it is put back after.
    before = [(m, m.__dict__.get("forward")) for _, m in named]
    modes = [(m, m.training) for _, m in named]
    try:
        for name, m in named:
            # An instance attribute shadows the class's forward, for __call__ and for the
            # book's direct `layer.forward(x)` alike.
            object.__setattr__(m, "forward", recording(name, m, m.forward))
        model.eval()
        args = example_input if isinstance(example_input, tuple) else (example_input,)
        with no_grad():
            model(*args)
    finally:
        for m, forward in before:
            if forward is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", forward)
        for m, training in modes:
            m.training = training
    done = [r for r in rows if r is not None]
    done += [
        LayerRow(name, type(m).__name__, 1, None, _count(m))
        for name, m in named
        if id(m) not in called
    ]
    params = list(model.parameters())
    return ModelSummary(
        done,
        total_params=sum(p.data.size for p in params),
        trainable_params=sum(p.data.size for p in params if p.requires_grad),
        param_bytes=sum(p.data.nbytes for p in params),
    )


def _count(m: Module) -> int:
    return sum(p.data.size for p in m.parameters())
