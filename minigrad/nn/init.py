"""Weight initializers.

An initializer is any callable `init(shape, dtype) -> ndarray`. `he_normal`, `he_uniform`,
`xavier_normal`, `xavier_uniform` and `zeros` are initializers; `normal(std)` makes one (the
book's `weight_init_std * randn`). Layers also take their names as strings (`"he_normal"`)
and a number as `normal(number)`.

For a weight of shape (in, out) (minigrad's layout: `y = x @ W`), fan_in = in and
fan_out = out. Random numbers come from NumPy's global generator unless `rng` is given, so
`np.random.seed(0)` reproduces a model as it does the book's code. They are drawn in float64
and then cast, so a float32 model holds the float64 model's weights rounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.core import get_default_dtype

__all__ = [
    "Initializer",
    "normal",
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
    "get",
]

Initializer = Callable[..., np.ndarray]


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)


def _fans(shape: tuple[int, ...], name: str) -> tuple[int, int]:
    if len(shape) == 0:
        raise ValueError(f"{name}: a scalar has no fan-in; expected a shape like (in, out)")
    fan_in = shape[0]
    fan_out = shape[1] if len(shape) > 1 else shape[0]
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError(f"{name}: shape {shape} has an empty dimension")
    return fan_in, fan_out


def _randn(shape: tuple[int, ...], rng: np.random.Generator | None) -> np.ndarray:
    if rng is not None:
        return rng.standard_normal(shape)
    return np.random.randn(*shape)  # noqa: NPY002 - the book seeds the global generator


def _uniform(bound: float, shape: tuple[int, ...], rng: np.random.Generator | None) -> np.ndarray:
    if rng is not None:
        return rng.uniform(-bound, bound, shape)
    return np.random.uniform(-bound, bound, shape)  # noqa: NPY002 - as _randn


def _cast(a: np.ndarray, dtype: Any) -> np.ndarray:
    dt = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"init: expected a floating dtype, got {dt}")
    return a.astype(dt, copy=False)


def normal(std: float = 0.01, rng: np.random.Generator | None = None) -> Initializer:
    """An initializer drawing `std * N(0, 1)`: the book's `weight_init_std * randn(...)`."""
    if isinstance(std, bool) or not isinstance(std, int | float | np.floating):
        raise TypeError(f"normal: std must be a number, got {type(std).__name__}")
    if not std >= 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    std = float(std)

    def init(shape: Any, dtype: Any = None) -> np.ndarray:
        return _cast(std * _randn(_shape(shape), rng), dtype)

    init.__name__ = init.__qualname__ = f"normal(std={std})"
    return init


def he_normal(shape: Any, dtype: Any = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """N(0, 2 / fan_in): He et al. (2015), for layers followed by ReLU."""
    s = _shape(shape)
    fan_in, _ = _fans(s, "he_normal")
    return _cast(math.sqrt(2.0 / fan_in) * _randn(s, rng), dtype)


def he_uniform(shape: Any, dtype: Any = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """U(-b, b) with b = sqrt(6 / fan_in): the same variance as `he_normal`."""
    s = _shape(shape)
    fan_in, _ = _fans(s, "he_uniform")
    return _cast(_uniform(math.sqrt(6.0 / fan_in), s, rng), dtype)


def xavier_normal(
    shape: Any, dtype: Any = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out)): Glorot and Bengio (2010), for sigmoid and tanh layers."""
    s = _shape(shape)
    fan_in, fan_out = _fans(s, "xavier_normal")
    return _cast(math.sqrt(2.0 / (fan_in + fan_out)) * _randn(s, rng), dtype)


def xavier_uniform(
    shape: Any, dtype: Any = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """U(-b, b) with b = sqrt(6 / (fan_in + fan_out)): the same variance as `xavier_normal`."""
    s = _shape(shape)
    fan_in, fan_out = _fans(s, "xavier_uniform")
    return _cast(_uniform(math.sqrt(6.0 / (fan_in + fan_out)), s, rng), dtype)


def zeros(shape: Any, dtype: Any = None) -> np.ndarray:
    """All zeros (biases)."""
    return np.zeros(_shape(shape), dtype=_cast(np.zeros(0), dtype).dtype)


_BY_NAME: dict[str, Initializer] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "zeros": zeros,
}


def get(init: str | float | Initializer) -> Initializer:
    """The initializer for `init`: a name (`"he_normal"`, ...), a number (the std of
    `normal`) or an initializer callable, returned as it is."""
    if isinstance(init, str):
        try:
            return _BY_NAME[init]
        except KeyError:
            raise ValueError(
                f"init: unknown initializer {init!r}; expected one of {sorted(_BY_NAME)}, a "
                "number (a normal std) or a callable (shape, dtype) -> ndarray"
            ) from None
    if isinstance(init, int | float | np.floating) and not isinstance(init, bool):
        return normal(float(init))
    if callable(init):
        return init
    raise TypeError(
        f"init: expected a name, a number or a callable (shape, dtype) -> ndarray, got "
        f"{type(init).__name__}"
    )
