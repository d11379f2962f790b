"""The book's numerical gradients (`common.gradient`): central differences, h = 1e-4.

For checking the engine's gradients on small networks; each element costs two evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_2d"]


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    """(f(x + h e_i) - f(x - h e_i)) / 2h for every element i of x (any shape), with h = 1e-4.

    x is changed in place during the call (f usually reads it through a network's params)
    and restored element by element.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(
            "numerical_gradient: x must be a floating ndarray (changed in place), got "
            f"{type(x).__name__}{'' if not isinstance(x, np.ndarray) else ' of ' + str(x.dtype)}"
        )
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        kept = x[idx]
        x[idx] = kept + h
        above = f(x)
        x[idx] = kept - h
        below = f(x)
        grad[idx] = (above - below) / (2 * h)
        x[idx] = kept
    return grad


def numerical_gradient_2d(f: Callable[[np.ndarray], Any], X: np.ndarray) -> np.ndarray:  # noqa: N803
    """The gradient of f at each row of X (2-D) taken separately, or at X if it is 1-D."""
    X = np.asarray(X)
    if X.ndim == 1:
        return numerical_gradient(f, X)
    grad = np.zeros_like(X)
    for i, row in enumerate(X):
        grad[i] = numerical_gradient(f, row)
    return grad
