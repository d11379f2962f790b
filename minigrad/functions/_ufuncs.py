"""NumPy's ufuncs on Variables, and the comparison operators.

NumPy hands a ufunc call with a Variable operand (`np.exp(v)`, and `ndarray + v`, which
NumPy runs as `np.add(ndarray, v)`) to `Variable.__array_ufunc__`, which looks the ufunc up
in `UFUNC_OPS` (copied into core's table when the operators are attached): a ufunc with a
minigrad op runs that op, recorded and differentiable; a comparison gives a boolean ndarray
(not differentiable); any other call is a TypeError that says what to use (`refuse_ufunc`).

`==` and `!=` are not comparisons here: Variables compare by identity (the engine keys dicts
and sets on them), so `np.equal(a, v)` (which `a == v` runs) is `a is v`, as `v == a` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from minigrad.core import _UFUNC_OPS, Variable
from minigrad.functions import arithmetic as ar
from minigrad.functions import elementwise as E
from minigrad.functions import linalg as L
from minigrad.functions._util import data_of, shape_of, shape_str


def _compare(np_op: np.ufunc, symbol: str) -> Callable[[Any, Any], np.ndarray]:
    """The elementwise comparison `x0 <symbol> x1` on the data: a boolean ndarray."""

    def compare(x0: Any, x1: Any) -> np.ndarray:
        try:
            return np_op(data_of(x0), data_of(x1))
        except ValueError:
            raise ValueError(
                f"{symbol}: shapes {shape_str(shape_of(x0))} and {shape_str(shape_of(x1))} "
                "cannot be broadcast together"
            ) from None

    compare.__name__ = np_op.__name__
    compare.__doc__ = f"x0 {symbol} x1 elementwise on the data: a boolean ndarray (no gradient)."
    return compare


less = _compare(np.less, "<")
less_equal = _compare(np.less_equal, "<=")
greater = _compare(np.greater, ">")
greater_equal = _compare(np.greater_equal, ">=")


def _operator(compare: Callable[[Any, Any], np.ndarray]) -> Callable[[Variable, Any], Any]:
    """A comparison as a Variable's operator: NotImplemented for an operand that is not a
    Variable, an ndarray or a number, so Python gives its usual TypeError."""

    def operator(self: Variable, other: Any) -> Any:
        if not isinstance(other, Variable | np.ndarray | np.generic | int | float):
            return NotImplemented
        return compare(self, other)

    operator.__doc__ = compare.__doc__
    return operator


#: The comparison operators of Variable (`v < 0`, `a >= b`): boolean ndarrays.
COMPARISONS: dict[str, Any] = {
    "__lt__": _operator(less),
    "__le__": _operator(less_equal),
    "__gt__": _operator(greater),
    "__ge__": _operator(greater_equal),
}


def _square(x: Any) -> Variable:
    return ar.pow(x, 2)


def _reciprocal(x: Any) -> Variable:
    return ar.div(1.0, x)


def _positive(x: Any) -> Any:
    return x


def _isnan(x: Any) -> np.ndarray:
    return np.isnan(data_of(x))


def _isinf(x: Any) -> np.ndarray:
    return np.isinf(data_of(x))


def _isfinite(x: Any) -> np.ndarray:
    return np.isfinite(data_of(x))


#: ufunc -> what `ufunc(*inputs)` runs when an input is a Variable.
UFUNC_OPS: dict[np.ufunc, Callable[..., Any]] = {
    np.add: ar.add,
    np.subtract: ar.sub,
    np.multiply: ar.mul,
    np.divide: ar.div,
    np.power: ar.pow,
    np.negative: ar.neg,
    np.positive: _positive,
    np.square: _square,
    np.reciprocal: _reciprocal,
    np.matmul: L.matmul,
    np.exp: E.exp,
    np.log: E.log,
    np.sqrt: E.sqrt,
    np.absolute: E.abs,
    np.tanh: E.tanh,
    np.sin: E.sin,
    np.cos: E.cos,
    np.maximum: E.maximum,
    np.minimum: E.minimum,
    np.less: less,
    np.less_equal: less_equal,
    np.greater: greater,
    np.greater_equal: greater_equal,
    # Identity, as == and != on Variables (see the module's docstring).
    np.equal: lambda x0, x1: x0 is x1,
    np.not_equal: lambda x0, x1: x0 is not x1,
    # Predicates on the values: boolean ndarrays, as the comparisons.
    np.isnan: _isnan,
    np.isinf: _isinf,
    np.isfinite: _isfinite,
}

#: What to write instead of a ufunc minigrad has no op for (v: the Variable).
_INSTEAD = {
    "log1p": "F.log(1 + v)",
    "expm1": "F.exp(v) - 1",
    "exp2": "2 ** v",
    "log2": "F.log(v) / np.log(2)",
    "log10": "F.log(v) / np.log(10)",
    "tan": "F.sin(v) / F.cos(v)",
    "sinh": "(F.exp(v) - F.exp(-v)) / 2",
    "cosh": "(F.exp(v) + F.exp(-v)) / 2",
    "arcsinh": "F.log(v + F.sqrt(v * v + 1))",
    "cbrt": "v ** (1 / 3) (for v > 0)",
    "hypot": "F.sqrt(a * a + b * b)",
    "logaddexp": "F.logsumexp(F.stack([a, b]), axis=0)",
    "fmax": "F.maximum(a, b)",
    "fmin": "F.minimum(a, b)",
    "float_power": "a ** b",
}
#: Ufuncs whose derivative is zero almost everywhere: the plain array is the answer.
_STEPS = {"sign", "floor", "ceil", "trunc", "rint", "floor_divide", "remainder", "fmod"}
#: ufunc methods (np.add.reduce, ...) -> the minigrad form, where there is one.
_METHOD_INSTEAD = {
    ("add", "reduce"): "F.sum(v, axis) (or v.sum(axis))",
    ("maximum", "reduce"): "F.max(v, axis) (or v.max(axis))",
    ("minimum", "reduce"): "F.min(v, axis) (or v.min(axis))",
    ("multiply", "outer"): "a.reshape(-1, 1) * b.reshape(1, -1) (broadcasting)",
    ("add", "outer"): "a.reshape(-1, 1) + b.reshape(1, -1) (broadcasting)",
}


def refuse_ufunc(ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict) -> NoReturn:
    """Raise the TypeError for a ufunc call on a Variable that minigrad does not run, saying
    what to use instead."""
    name = ufunc.__name__
    if method != "__call__":
        instead = _METHOD_INSTEAD.get((name, method))
        use = f"use {instead}" if instead else f"call np.{name}.{method} on v.data (not recorded)"
        raise TypeError(f"np.{name}.{method} is not supported on Variables; {use}")
    if kwargs:
        keys = ", ".join(f"{k}=" for k in kwargs)
        if name in (*(u.__name__ for u in UFUNC_OPS), *_INSTEAD):
            fix = f"y = np.{name}(v) makes a new, recorded Variable"
        else:
            fix = f"np.{name}(v.data, {keys}...) works on the plain array (not recorded)"
        raise TypeError(
            f"np.{name}(..., {keys}...) is not supported on Variables: minigrad ops make new "
            f"arrays and record them; {fix}"
        )
    if name in _INSTEAD:
        advice = f"use {_INSTEAD[name]}, which minigrad records and differentiates"
    elif name in _STEPS:
        advice = f"use np.{name}(v.data), a plain array (its derivative is zero almost everywhere)"
    else:
        advice = (
            "build it from minigrad's ops (F.exp, F.log, F.sqrt, F.sin, ...: recorded and "
            f"differentiable), or call np.{name} on the plain arrays (v.data; not recorded)"
        )
    raise TypeError(
        f"np.{name} is not supported on Variables (minigrad has no {name} op); {advice}"
    )


def attach() -> None:
    """Give `Variable` its comparison operators and its ufunc table."""
    for name, fn in COMPARISONS.items():
        setattr(Variable, name, fn)
    _UFUNC_OPS.clear()
    _UFUNC_OPS.update(UFUNC_OPS)
    Variable._refuse_ufunc = staticmethod(refuse_ufunc)
