"""Base classes for ops that share their settings and label: an op along one axis, and an op
that gives its input a new shape. Each op still writes its own forward and backward."""

from __future__ import annotations

from minigrad.core import Function
from minigrad.functions._util import shape_str


class AlongAxis(Function):
    """An op along one axis, its setting (`softmax axis=1` in pictures)."""

    backward_on_arrays = True
    saves_attrs = False
    __slots__ = ("axis",)

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def label(self) -> str:
        return f"{self.name} axis={self.axis}"


class ToShape(Function):
    """An op that gives its input a new shape, its setting (`reshape (2, 3)` in pictures)."""

    backward_on_arrays = True
    saves_attrs = False
    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def label(self) -> str:
        return f"{self.name} {shape_str(self.shape)}"
