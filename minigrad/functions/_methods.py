"""`Variable`'s operators and method forms, attached when `minigrad.functions` is imported
(the engine imports nothing above it); the comparisons and NumPy's ufuncs are in
`_ufuncs.py`. Each is the op function itself where the signatures agree (`x.sum(axis)` is
`F.sum(x, axis)`); reflected operators swap the operands."""

from __future__ import annotations

from typing import Any

from minigrad.core import Variable
from minigrad.functions import _ufuncs
from minigrad.functions import activations as A
from minigrad.functions import arithmetic as ar
from minigrad.functions import elementwise as E
from minigrad.functions import linalg as L
from minigrad.functions import reductions as R
from minigrad.functions import shape as S


def _reflected(op: Any) -> Any:
    def reflected(self: Variable, other: Any) -> Variable:
        return op(other, self)

    reflected.__name__ = f"r{op.__name__}"
    reflected.__doc__ = f"{op.__name__}(other, self): the operator with the Variable on the right."
    return reflected


def _mT(x: Variable) -> Variable:
    """The last two axes swapped (a batch of matrices transposed); needs at least 2 dims."""
    if x.ndim < 2:
        raise ValueError(f"mT: needs an input of at least 2 dimensions, got shape {x.shape}")
    axes = list(range(x.ndim))
    axes[-2:] = axes[:-3:-1]
    return S.transpose(x, *axes)


def _pos(x: Variable) -> Variable:
    return x


OPERATORS: dict[str, Any] = {
    "__add__": ar.add,
    "__radd__": _reflected(ar.add),
    "__sub__": ar.sub,
    "__rsub__": _reflected(ar.sub),
    "__mul__": ar.mul,
    "__rmul__": _reflected(ar.mul),
    "__truediv__": ar.div,
    "__rtruediv__": _reflected(ar.div),
    "__pow__": ar.pow,
    "__rpow__": _reflected(ar.pow),
    "__matmul__": L.matmul,
    "__rmatmul__": _reflected(L.matmul),
    "__neg__": ar.neg,
    "__pos__": _pos,
    "__getitem__": S.getitem,
}

METHODS: dict[str, Any] = {
    "reshape": S.reshape,
    "transpose": S.transpose,
    "flatten": S.flatten,
    "broadcast_to": S.broadcast_to,
    "sum_to": S.sum_to,
    "sum": R.sum,
    "mean": R.mean,
    "max": R.max,
    "min": R.min,
    "logsumexp": R.logsumexp,
    "var": R.var,
    "std": R.std,
    "argmax": R.argmax,
    "argmin": R.argmin,
    "exp": E.exp,
    "log": E.log,
    "sqrt": E.sqrt,
    "abs": E.abs,
    "tanh": E.tanh,
    "sin": E.sin,
    "cos": E.cos,
    "clip": E.clip,
    "sigmoid": A.sigmoid,
    "relu": A.relu,
    "leaky_relu": A.leaky_relu,
    "softmax": A.softmax,
    "log_softmax": A.log_softmax,
    "matmul": L.matmul,
    "dot": L.matmul,
}

PROPERTIES: dict[str, Any] = {"T": S.transpose, "mT": _mT}


def attach() -> None:
    """Give `Variable` its operators, methods and properties, its comparisons and the ufunc
    table of `np.exp(v)` (functions/_ufuncs.py)."""
    for name, fn in {**OPERATORS, **METHODS}.items():
        setattr(Variable, name, fn)
    for name, getter in PROPERTIES.items():
        setattr(Variable, name, property(getter))
    _ufuncs.attach()
