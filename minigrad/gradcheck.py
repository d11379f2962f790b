"""Numerical differentiation, and checks of the engine's gradients against it.

`numerical_grad` uses central differences, (f(x + eps) - f(x - eps)) / (2 eps), whose error
is O(eps**2); run it in float64 (in float32 the rounding error of f swamps the difference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.core import Variable, grad

__all__ = ["numerical_grad", "gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised by `gradcheck` when an analytic gradient differs from the numerical one."""


def _as_inputs(inputs: Sequence[Any]) -> list[Variable]:
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, Variable):
            out.append(x)
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {x.dtype}; numerical checks need float64 "
                "(float32 rounding swamps the central differences)"
            )
        elif isinstance(x, np.ndarray | float | int | list):
            arr = np.asarray(x, dtype=np.float64)
            out.append(Variable(arr))
        else:
            raise TypeError(f"gradcheck: input {i} is a {type(x).__name__}, not an array")
    return out


def _scalar_of(y: Any) -> float:
    """f's value reduced to a number: outputs that are not scalars are summed."""
    if isinstance(y, tuple | list):
        return float(sum(_scalar_of(v) for v in y))
    d = y.data if isinstance(y, Variable) else np.asarray(y)
    return float(np.sum(d, dtype=np.float64))


def numerical_grad(f: Callable[..., Any], *inputs: Any, eps: float = 1e-6) -> list[np.ndarray]:
    """d sum(f(*inputs)) / d input, for each input, by central differences.

    `f` takes the inputs (Variables or ndarrays) and returns a Variable (or ndarray); a
    non-scalar output is summed. Returns one float64 array per input, of its shape. The
    inputs' data is perturbed in place and restored.
    """
    xs = _as_inputs(inputs)
    grads = []
    for x in xs:
        data = x.data
        if data.dtype.kind != "f":
            raise TypeError(f"numerical_grad: input of dtype {data.dtype} is not floating-point")
        g = np.zeros(data.shape, dtype=np.float64)
        flat = data.reshape(-1) if data.flags.c_contiguous else None
        if flat is None:
            raise ValueError("numerical_grad: inputs must be C-contiguous arrays")
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            fp = _scalar_of(f(*xs))
            flat[i] = orig - eps
            fm = _scalar_of(f(*xs))
            flat[i] = orig
            g.reshape(-1)[i] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def _sum_outputs(y: Any) -> Variable:
    from minigrad.functions import sum as vsum

    if isinstance(y, tuple | list):
        total = vsum(y[0])
        for v in y[1:]:
            total = total + vsum(v)
        return total
    return vsum(y)


def _compare(
    analytic: Sequence[Any],
    numeric: Sequence[np.ndarray],
    atol: float,
    rtol: float,
    what: str,
) -> None:
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        a_arr = (
            np.zeros_like(n) if a is None else np.asarray(a.data if isinstance(a, Variable) else a)
        )
        if a_arr.shape != n.shape:
            raise GradcheckError(
                f"{what}: input {i}: analytic gradient has shape {a_arr.shape}, expected {n.shape}"
            )
        err = np.abs(a_arr - n)
        bad = err > atol + rtol * np.abs(n)
        if bad.any():
            j = np.unravel_index(np.argmax(np.where(bad, err, -1)), n.shape)
            raise GradcheckError(
                f"{what}: input {i}: gradients differ at index {tuple(int(k) for k in j)}: "
                f"analytic {float(a_arr[j])!r}, numerical {float(n[j])!r} (largest mismatch {err.max():.3g}, "
                f"{int(bad.sum())} of {n.size} elements outside atol={atol}, rtol={rtol})"
            )


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check the engine's gradient of sum(f(*inputs)) against central differences.

    Inputs should be float64. Raises `GradcheckError` naming the input, the index and the
    largest mismatch; returns True when every gradient agrees.
    """
    xs = _as_inputs(inputs)
    for i, x in enumerate(xs):
        if x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; gradcheck needs float64")
    y = _sum_outputs(f(*xs))
    wanted = [x for x in xs if x.requires_grad]
    # An f whose value does not depend on the inputs has zero gradients.
    analytic = grad(y, wanted) if wanted and y.requires_grad else [None] * len(wanted)
    by_input = dict(zip(map(id, wanted), analytic))
    numeric = numerical_grad(f, *xs, eps=eps)
    _compare(
        [by_input.get(id(x)) for x in xs],
        [n if x.requires_grad else np.zeros_like(n) for n, x in zip(numeric, xs)],
        atol,
        rtol,
        "gradcheck",
    )
    return True


def gradgradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check second derivatives: the gradient of <grad f, v> (v random, fixed) numerically.

    It differentiates the recorded backward pass (`create_graph=True`), so it checks that
    every op's backward is itself differentiable and correct.
    """
    xs = _as_inputs(inputs)
    rng = np.random.default_rng(seed)
    vs: list[np.ndarray] = [rng.standard_normal(x.shape) for x in xs]

    def first_order(*args: Variable) -> Variable:
        y = _sum_outputs(f(*args))
        if not y.requires_grad:
            return Variable(np.zeros((), dtype=np.float64))
        live = [(a, v) for a, v in zip(args, vs) if a.requires_grad]
        gs = grad(y, [a for a, _ in live], create_graph=True)
        total: Any = None
        for g, (_, v) in zip(gs, live):
            if g is None:
                continue
            term = _sum_outputs(g * v)
            total = term if total is None else total + term
        if total is None:
            return Variable(np.zeros((), dtype=np.float64))
        return total

    return gradcheck(first_order, *xs, eps=eps, atol=atol, rtol=rtol)
