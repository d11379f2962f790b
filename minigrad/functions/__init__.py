"""The primitive ops, one `Function` subclass each; imported as `F` (`import minigrad.functions as F`).

Importing this package also gives `Variable` its operators (`+ - * / ** @`, unary `-`, `[]`)
and method forms (`x.sum()`, `x.reshape(2, 3)`, `x.T`, ...).
"""

from __future__ import annotations

from typing import Any

from minigrad.core import Variable, _apply1, _apply2
from minigrad.functions.activations import (
    Dropout,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    dropout,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
)
from minigrad.functions.arithmetic import Add, Div, Mul, Neg, Pow, Sub, add, div, mul, neg, pow, sub
from minigrad.functions.elementwise import (
    Abs,
    Clip,
    Exp,
    Log,
    Maximum,
    Minimum,
    Sqrt,
    Tanh,
    Where,
    abs,
    clip,
    exp,
    log,
    maximum,
    minimum,
    sqrt,
    tanh,
    where,
)
from minigrad.functions.linalg import Linear, MatMul, linear, matmul
from minigrad.functions.losses import (
    BinaryCrossEntropyWithLogits,
    MeanSquaredError,
    SoftmaxCrossEntropy,
    SoftmaxCrossEntropyOneHot,
    binary_cross_entropy_with_logits,
    mean_squared_error,
    softmax_cross_entropy,
)
from minigrad.functions.reductions import (
    LogSumExp,
    Max,
    Mean,
    Min,
    Sum,
    logsumexp,
    max,
    mean,
    min,
    sum,
)
from minigrad.functions.shape import (
    BroadcastTo,
    Concatenate,
    GetItem,
    Reshape,
    Stack,
    SumTo,
    Transpose,
    broadcast_to,
    concatenate,
    flatten,
    getitem,
    reshape,
    stack,
    sum_to,
    transpose,
)

__all__ = [
    # arithmetic
    "add", "sub", "mul", "div", "neg", "pow",
    # elementwise
    "exp", "log", "sqrt", "abs", "tanh", "clip", "where", "maximum", "minimum",
    # activations
    "sigmoid", "relu", "leaky_relu", "softmax", "log_softmax", "dropout",
    # reductions
    "sum", "mean", "max", "min", "logsumexp",
    # shape
    "reshape", "transpose", "flatten", "broadcast_to", "sum_to", "getitem", "concatenate", "stack",
    # linalg
    "matmul", "linear",
    # losses
    "softmax_cross_entropy", "mean_squared_error", "binary_cross_entropy_with_logits",
    # the Function classes
    "Add", "Sub", "Mul", "Div", "Neg", "Pow",
    "Exp", "Log", "Sqrt", "Abs", "Tanh", "Clip", "Where", "Maximum", "Minimum",
    "Sigmoid", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax", "Dropout",
    "Sum", "Mean", "Max", "Min", "LogSumExp",
    "Reshape", "Transpose", "BroadcastTo", "SumTo", "GetItem", "Concatenate", "Stack",
    "MatMul", "Linear",
    "SoftmaxCrossEntropy", "SoftmaxCrossEntropyOneHot", "MeanSquaredError",
    "BinaryCrossEntropyWithLogits",
]  # fmt: skip


# --------------------------------------------------------------------------- Variable's forms
# Operators call the Function classes directly: one call less on the hottest path.


def _add(self: Variable, other: Any) -> Variable:
    return _apply2(Add(), self, other)


def _radd(self: Variable, other: Any) -> Variable:
    return _apply2(Add(), other, self)


def _sub(self: Variable, other: Any) -> Variable:
    return _apply2(Sub(), self, other)


def _rsub(self: Variable, other: Any) -> Variable:
    return _apply2(Sub(), other, self)


def _mul(self: Variable, other: Any) -> Variable:
    return _apply2(Mul(), self, other)


def _rmul(self: Variable, other: Any) -> Variable:
    return _apply2(Mul(), other, self)


def _truediv(self: Variable, other: Any) -> Variable:
    return _apply2(Div(), self, other)


def _rtruediv(self: Variable, other: Any) -> Variable:
    return _apply2(Div(), other, self)


def _pow(self: Variable, other: Any) -> Variable:
    return _apply2(Pow(), self, other)


def _rpow(self: Variable, other: Any) -> Variable:
    return _apply2(Pow(), other, self)


def _matmul(self: Variable, other: Any) -> Variable:
    return _apply2(MatMul(), self, other)


def _rmatmul(self: Variable, other: Any) -> Variable:
    return _apply2(MatMul(), other, self)


def _neg(self: Variable) -> Variable:
    return _apply1(Neg(), self)


def _pos(self: Variable) -> Variable:
    return self


def _method_reshape(self: Variable, *shape: Any) -> Variable:
    """x.reshape(2, 3) or x.reshape((2, 3))."""
    return reshape(self, *shape)


def _method_transpose(self: Variable, *axes: Any) -> Variable:
    """x.transpose() reverses the axes; x.transpose(1, 0, 2) permutes them."""
    return transpose(self, *axes)


def _method_T(self: Variable) -> Variable:
    """The transpose (axes reversed)."""
    return transpose(self)


def _method_mT(self: Variable) -> Variable:
    """The last two axes swapped (a batch of matrices transposed)."""
    axes = list(range(self.ndim))
    axes[-2:] = axes[:-3:-1]
    return transpose(self, *axes)


def _method_dot(self: Variable, other: Any) -> Variable:
    """self @ other."""
    return matmul(self, other)


_OPERATORS = {
    "__add__": _add,
    "__radd__": _radd,
    "__sub__": _sub,
    "__rsub__": _rsub,
    "__mul__": _mul,
    "__rmul__": _rmul,
    "__truediv__": _truediv,
    "__rtruediv__": _rtruediv,
    "__pow__": _pow,
    "__rpow__": _rpow,
    "__matmul__": _matmul,
    "__rmatmul__": _rmatmul,
    "__neg__": _neg,
    "__pos__": _pos,
    "__getitem__": getitem,
}

_METHODS = {
    "reshape": _method_reshape,
    "transpose": _method_transpose,
    "flatten": flatten,
    "broadcast_to": broadcast_to,
    "sum_to": sum_to,
    "sum": sum,
    "mean": mean,
    "max": max,
    "min": min,
    "logsumexp": logsumexp,
    "exp": exp,
    "log": log,
    "sqrt": sqrt,
    "abs": abs,
    "tanh": tanh,
    "clip": clip,
    "sigmoid": sigmoid,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "matmul": matmul,
    "dot": _method_dot,
}


_PROPERTIES = {"T": _method_T, "mT": _method_mT}


def _attach() -> None:
    for name, fn in {**_OPERATORS, **_METHODS}.items():
        setattr(Variable, name, fn)
    for name, getter in _PROPERTIES.items():
        setattr(Variable, name, property(getter))


_attach()
