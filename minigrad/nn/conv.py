"""Convolution and pooling layers: `Conv2d`, `ConvTranspose2d`, `MaxPool2d`, `AvgPool2d`,
and the book's `Convolution(W, b, stride, pad)` and `Pooling(pool_h, pool_w, stride, pad)`.

Each runs one op of `minigrad.functions` (conv2d, conv_transpose2d, max_pool2d, avg_pool2d)
on NCHW batches; none writes a backward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Parameter, Variable, get_default_dtype
from minigrad.functions.conv import _pair
from minigrad.nn import init as _init
from minigrad.nn.layers import _size
from minigrad.nn.module import Module

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "Convolution", "Pooling"]


def _kernel(value: Any, layer: str) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2:
        raise TypeError(f"{layer}: kernel_size must be an int or a pair of ints, got {value!r}")
    return _size(items[0], layer, "kernel_size"), _size(items[1], layer, "kernel_size")


def _conv_settings(
    name: str,
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
) -> tuple[int, int, tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The settings Conv2d and ConvTranspose2d share, checked (so that a bad one fails where
    the layer is made): in_channels, out_channels, kernel_size, stride, padding."""
    return (
        _size(in_channels, name, "in_channels"),
        _size(out_channels, name, "out_channels"),
        _kernel(kernel_size, name),
        _pair(stride, "stride", name, 1),
        _pair(padding, "padding", name, 0),
    )


class Conv2d(Module):
    """2-D convolution: x (N, in_channels, H, W) -> (N, out_channels, OH, OW), with
    OH = (H + 2 * padding - KH) // stride + 1.

    Parameters `W` (out_channels, in_channels, KH, KW), as in the book and PyTorch, and `b`
    (out_channels,), zeros (`bias=False` leaves it None). `init` draws W as for a Linear
    layer of in_channels * KH * KW inputs and out_channels outputs (He by default; a name, a
    number for `normal(std)`, or a callable (shape, dtype) -> ndarray given that (in, out)
    shape). `dtype` None means `minigrad.get_default_dtype()`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        dtype: Any = None,
        init: str | float | _init.Initializer = "he_normal",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding = (
            _conv_settings(name, in_channels, out_channels, kernel_size, stride, padding)
        )
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        w = np.asarray(_init.get(init)((fan_in, self.out_channels), dt))
        if w.shape != (fan_in, self.out_channels):
            raise ValueError(
                f"{name}: the initializer returned shape {w.shape}, expected "
                f"{(fan_in, self.out_channels)}"
            )
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.W: Parameter = Parameter(np.ascontiguousarray(w.T).reshape(shape), dtype=dt)
        self.b: Parameter | None = Parameter(np.zeros(self.out_channels, dt)) if bias else None

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.conv2d(x, self.W, self.b, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.b is not None}"
        )


class ConvTranspose2d(Module):
    """2-D transposed convolution, the adjoint of a Conv2d with the same settings (upsampling
    in decoders and GANs): x (N, in_channels, H, W) -> (N, out_channels, OH, OW) with
    OH = (H - 1) * stride - 2 * padding + KH + output_padding.

    PyTorch's layer, names and layout: parameters `weight` (in_channels, out_channels, KH, KW)
    and `bias` (out_channels,) (`bias=False` leaves it None), both drawn as PyTorch draws them,
    uniform in +-1/sqrt(out_channels * KH * KW), from NumPy's global generator.
    `output_padding` must be smaller than `stride`. `dtype` None means
    `minigrad.get_default_dtype()`. Runs as `F.conv_transpose2d`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding = (
            _conv_settings(name, in_channels, out_channels, kernel_size, stride, padding)
        )
        self.output_padding = _pair(output_padding, "output_padding", name, 0)
        if any(o >= s for o, s in zip(self.output_padding, self.stride)):
            raise ValueError(
                f"{name}: output_padding {self.output_padding} must be smaller than the stride "
                f"{self.stride}"
            )
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        kh, kw = self.kernel_size
        # PyTorch's kaiming_uniform_(a=sqrt(5)) and bias rule; its fan_in is the weight's
        # second axis times the kernel: out_channels * KH * KW for this layout.
        bound = 1 / math.sqrt(self.out_channels * kh * kw)
        shape = (self.in_channels, self.out_channels, kh, kw)
        self.weight: Parameter = Parameter(_init._uniform(bound, shape, None), dtype=dt)
        self.bias: Parameter | None = (
            Parameter(_init._uniform(bound, (self.out_channels,), None), dtype=dt) if bias else None
        )

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.conv_transpose2d(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, "
            f"output_padding={self.output_padding}, bias={self.bias is not None}"
        )


class MaxPool2d(Module):
    """The max of each window: (N, C, H, W) -> (N, C, OH, OW); `stride` defaults to
    `kernel_size`. The gradient of a window goes to one element (the first maximum)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = _kernel(kernel_size, type(self).__name__)
        self.stride = self.kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """The mean of each window: (N, C, H, W) -> (N, C, OH, OW); `stride` defaults to
    `kernel_size`; padding counts as zeros."""

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


def _wrap(a: Any, what: str, layer: str) -> Parameter:
    """An ndarray as a Parameter sharing its memory (a Parameter is kept as it is)."""
    if isinstance(a, Parameter):
        return a
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{layer}: {what} must be an ndarray or a Parameter, got {type(a).__name__}"
        )
    return Parameter(a)


class Convolution(Module):
    """The book's convolution layer, `Convolution(W, b, stride=1, pad=0)`, from existing
    weights: W (FN, C, FH, FW) and b (FN,) (ndarrays are wrapped without a copy, so updating
    the book's `params` arrays updates the layer). x (N, C, H, W) -> (N, FN, OH, OW).

    Runs as the fused op `F.conv2d`; after a backward, `dW` and `db` hold the gradients, as
    the book's layer does.
    """

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.W = _wrap(W, "W", "Convolution")
        self.b = _wrap(b, "b", "Convolution")
        if self.W.ndim != 4 or self.b.shape != (self.W.shape[0],):
            raise ValueError(
                f"Convolution: expected W (FN, C, FH, FW) and b (FN,), got shapes {self.W.shape} "
                f"and {self.b.shape}"
            )
        self.stride = stride
        self.pad = pad

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.conv2d(x, self.W, self.b, self.stride, self.pad)

    @property
    def dW(self) -> np.ndarray | None:
        """The gradient of W after a backward (None before)."""
        return None if self.W.grad is None else self.W.grad.data

    @property
    def db(self) -> np.ndarray | None:
        """The gradient of b after a backward (None before)."""
        return None if self.b.grad is None else self.b.grad.data

    def extra_repr(self) -> str:
        return f"W={self.W.shape}, stride={self.stride}, pad={self.pad}"


class Pooling(Module):
    """The book's max pooling layer, `Pooling(pool_h, pool_w, stride=1, pad=0)` (note the
    book's default stride of 1). x (N, C, H, W) -> (N, C, OH, OW).

    Runs as `F.max_pool2d`: padding reads -inf, where the book's im2col pads with zeros (the
    same result after a ReLU, whose outputs are never negative).
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.pool_h = _size(pool_h, "Pooling", "pool_h")
        self.pool_w = _size(pool_w, "Pooling", "pool_w")
        self.stride = stride
        self.pad = pad

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.max_pool2d(x, (self.pool_h, self.pool_w), self.stride, self.pad)

    def extra_repr(self) -> str:
        return f"pool_h={self.pool_h}, pool_w={self.pool_w}, stride={self.stride}, pad={self.pad}"
