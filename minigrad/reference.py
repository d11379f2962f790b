"""The whole autograd algorithm in one place: minigrad's engine without its speed-ups.

`minigrad/_record.py` (recording) and `minigrad/_engine.py` (backward) do exactly this, with
a few fast paths, each of which names the step below that it speeds up; tests/test_reference.py
checks that both give the same gradients on random graphs, and the docs page "How the engine
works" walks through this file. It runs the same `Function`s on the same `Variable`s:

    y = apply(Mul(), x, w)        # instead of x * w
    backward(y.sum() ...)         # instead of .backward()

It leaves out what the real engine adds: grad modes, hooks, `retain_graph`/`create_graph`,
`grad()`, anomaly checks, the checks that a graph is not run through twice and that no
saved leaf was changed in place since (it notes the versions, for the real engine), and the
dtype and memory rules of `.grad`.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from minigrad.core import Function, Variable

__all__ = ["apply", "backward"]


def apply(f: Function, *inputs: Any) -> Any:
    """Step 1, record: run `f.forward` on the inputs' arrays; if an input requires grad, link
    the output to `f` (its creator) and `f` to its inputs, parents and generation."""
    xs = tuple(x.data if isinstance(x, Variable) else x for x in inputs)
    needs = tuple(isinstance(x, Variable) and x.requires_grad for x in inputs)
    y = Variable(np.asarray(f.forward(*xs)), requires_grad=False)
    if any(needs):
        y.requires_grad, y.creator = True, f
        f.inputs, f.needs_input_grad = inputs, needs
        f.saved_inputs, f.saved_outputs = xs, (y.data,)
        f._out = weakref.ref(y)  # weak: dropping the output frees the graph
        # The versions of the leaves, which the real engine's backward checks (not this one's).
        f._versions = tuple(
            x._version if isinstance(x, Variable) and x.is_leaf else None for x in inputs
        )
        parents = {x.creator for x, need in zip(inputs, needs) if need and x.creator}
        f._parents = tuple(parents)
        f.generation = 1 + max((p.generation for p in parents), default=-1)
    return y


def backward(y: Variable, gy: np.ndarray | None = None) -> None:
    """Steps 2 to 6: the gradient of `y` with respect to every leaf it depends on, added to
    the leaves' `.grad`."""
    # Step 2, order: one walk finds every Function y depends on; one sort by generation puts
    # each Function after all the Functions that consume its output.
    funcs: set[Function] = set()
    stack = [y.creator]
    while stack:
        f = stack.pop()
        if f is not None and f not in funcs:
            funcs.add(f)
            stack.extend(f.parents)
    order = sorted(funcs, key=lambda f: f.generation, reverse=True)

    grads = {y: np.ones_like(y.data) if gy is None else gy}
    for f in order:
        # Step 3: run each backward once; its outputs' gradients are complete by now.
        outputs = [ref() for ref in f.outputs]
        gys = [grads.pop(o, None) if o is not None else None for o in outputs]
        if all(g is None for g in gys):
            continue  # no gradient reached this Function
        gys = [np.zeros_like(s) if g is None else g for g, s in zip(gys, f.saved_outputs)]
        if not f.backward_on_arrays:  # the op's backward works on Variables (the op dialect)
            f.saved_inputs = f.inputs
            f.saved_outputs = tuple(Variable(s, requires_grad=False) for s in f.saved_outputs)
            gys = [Variable(g, requires_grad=False) for g in gys]  # type: ignore[misc]
        gxs = f.backward(*gys)
        gxs = gxs if isinstance(gxs, tuple) else (gxs,)
        # Step 4: sum the gradients of a Variable that several Functions consumed.
        for x, need, gx in zip(f.inputs, f.needs_input_grad, gxs):
            if need and gx is not None:
                gx = gx.data if isinstance(gx, Variable) else gx
                grads[x] = grads[x] + gx if x in grads else gx
        # Step 6: release what forward saved for backward.
        f.release()

    # Step 5: what is left in `grads` belongs to the leaves; deliver it.
    for x, g in grads.items():
        total = g.copy() if x.grad is None else x.grad.data + g
        x.grad = Variable(total, requires_grad=False)
