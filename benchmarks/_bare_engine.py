"""The floor of a pure-Python graph engine: the structure docs/architecture.md asks for, and nothing else.

Each op records a node object with its inputs (a tuple), the arrays its backward reads, a weak
reference to its output and its generation; the output is a variable object pointing back to
the node. `backward` walks the graph without recursion, sorts it by generation and sums
gradients in a dict. No checks, dtype rules, hooks, modes, module scopes, release of saved
arrays or errors: what any engine built to that structure ("The engine") costs per op in this interpreter
before its first feature. `bench_overhead.py` times it beside minigrad ("bare-engine").
Only the ops of the benchmark's graphs: `x * a`, `x + a`, `x + y`, `tanh(x)`.
"""

from __future__ import annotations

import operator
import weakref
from typing import Any

import numpy as np

__all__ = ["Var", "add", "backward", "mul", "tanh"]


class Var:
    """A value, the node that made it (None for a leaf) and, after backward, its gradient."""

    __slots__ = ("data", "grad", "creator", "__weakref__")

    def __init__(self, data: np.ndarray, creator: Node | None = None) -> None:
        self.data = data
        self.grad: np.ndarray | None = None
        self.creator = creator

    def __mul__(self, other: np.ndarray) -> Var:
        return mul(self, other)

    def __add__(self, other: Var | np.ndarray) -> Var:
        return add(self, other)


class Node:
    """One recorded op: inputs, saved arrays, a weak reference to the output, generation."""

    __slots__ = ("inputs", "saved", "out", "generation", "parents")

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError


_new = object.__new__


def _record(f: Node, inputs: tuple[Any, ...], saved: Any, y: np.ndarray, x: Var) -> Var:
    """The output of f, with f linked to the node that made x (the one input needing grad)."""
    # Made without calling __init__, as minigrad makes its outputs: 3-4% less per op.
    v = _new(Var)
    v.data = y
    v.grad = None
    v.creator = f
    f.inputs = inputs
    f.saved = saved
    f.out = weakref.ref(v)
    c = x.creator
    f.parents = () if c is None else (c,)
    f.generation = 0 if c is None else c.generation + 1
    return v


class _Mul(Node):
    __slots__ = ()

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return gy * self.saved, None


class _Add(Node):
    __slots__ = ()

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return gy, gy if type(self.inputs[1]) is Var else None


class _Tanh(Node):
    __slots__ = ()

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (gy * (1 - self.saved * self.saved),)


def mul(x: Var, a: np.ndarray) -> Var:
    """x * a for a constant array a."""
    return _record(_Mul(), (x, a), a, x.data * a, x)


def add(x: Var, y: Var | np.ndarray) -> Var:
    """x + y, y a Var or a constant array."""
    if type(y) is not Var:
        return _record(_Add(), (x, y), None, x.data + y, x)
    f = _Add()
    v = _record(f, (x, y), None, x.data + y.data, x)
    c = y.creator
    if c is not None:
        f.parents = (*f.parents, c)
        f.generation = max(f.generation, c.generation + 1)
    return v


def tanh(x: Var) -> Var:
    """tanh(x); its backward reads the output."""
    y = np.tanh(x.data)
    return _record(_Tanh(), (x,), y, y, x)


_generation = operator.attrgetter("generation")


def backward(root: Var, seed: np.ndarray) -> None:
    """Gradients of root (seeded with `seed`) on every leaf Var, in `.grad`."""
    seen = {root.creator}
    stack = [root.creator]
    order = []
    while stack:
        f = stack.pop()
        order.append(f)
        for p in f.parents:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    order.sort(key=_generation, reverse=True)
    grads: dict[Var, np.ndarray] = {root: seed}
    for f in order:
        y = f.out()
        gy = grads.pop(y, None) if y is not None else None
        if gy is None:
            continue
        for x, gx in zip(f.inputs, f.backward(gy)):
            if gx is not None:
                prev = grads.get(x)
                grads[x] = gx if prev is None else prev + gx
    for x, g in grads.items():
        x.grad = g
