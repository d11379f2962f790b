"""Normalization layers: `BatchNorm1d`, `BatchNorm2d` (PyTorch's convention), the book's
`BatchNormalization(gamma, beta, momentum=0.9)`, and `LayerNorm`.

In training mode they normalize by the batch's statistics and update the running ones; in
evaluation mode (`eval()`) they use the running ones. The running statistics are buffers
(`register_buffer`): saved by `state_dict`/`save`, never trained. Each runs `F.batch_norm`
(LayerNorm: `F.layer_norm`, the same in both modes); none writes a backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Parameter, Variable, get_default_dtype
from minigrad.functions._util import shape_of
from minigrad.nn.layers import _size
from minigrad.nn.module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNormalization", "LayerNorm"]


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; `_ndims` are the input ranks they take."""

    _ndims: tuple[int, ...] = ()
    _layout = ""
    running_mean: np.ndarray
    running_var: np.ndarray

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype: Any = None
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _size(num_features, name, "num_features")
        if not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum must be in [0, 1], got {momentum}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps}")
        self.eps = float(eps)
        self.momentum = float(momentum)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        self.gamma = Parameter(np.ones(self.num_features, dt))
        self.beta = Parameter(np.zeros(self.num_features, dt))
        self.register_buffer("running_mean", np.zeros(self.num_features, dt))
        self.register_buffer("running_var", np.ones(self.num_features, dt))

    def forward(self, x: Variable | np.ndarray) -> Variable:
        shape = tuple(shape_of(x))
        if len(shape) not in self._ndims or shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected an input of shape "
                f"{self._layout.format(self.num_features)}, got {shape}"
            )
        return F.batch_norm(
            x,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}"


class BatchNorm1d(_BatchNorm):
    """Batch norm per feature: x (N, num_features) (or (N, num_features, L)) -> same shape.

    Parameters `gamma` (ones) and `beta` (zeros); buffers `running_mean` (zeros) and
    `running_var` (ones), updated in training with `momentum` as PyTorch defines it
    (r = (1 - momentum) * r + momentum * batch statistic, unbiased variance).
    """

    _ndims = (2, 3)
    _layout = "(N, {0}) or (N, {0}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm per channel: x (N, num_features, H, W) -> same shape. Otherwise as
    BatchNorm1d."""

    _ndims = (4,)
    _layout = "(N, {0}, H, W)"


class BatchNormalization(Module):
    """The book's batch norm layer, `BatchNormalization(gamma, beta, momentum=0.9,
    running_mean=None, running_var=None)`, with the book's conventions:

    - an input of more than two dimensions is flattened to (N, -1) and normalized per
      element of that row (so gamma and beta have C*H*W entries for (N, C, H, W));
    - the running statistics follow `r = momentum * r + (1 - momentum) * batch statistic`
      with the biased variance, start at zeros, and eps is the book's 10e-7;
    - gamma and beta are ndarrays (wrapped without a copy) or Parameters.

    In training mode (the default) it normalizes by the batch; after `eval()` by the running
    statistics. `train_flg` in `forward(x, train_flg)` overrides the mode for one call, as in
    the book.
    """

    running_mean: np.ndarray
    running_var: np.ndarray

    def __init__(
        self,
        gamma: Any,
        beta: Any,
        momentum: float = 0.9,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.gamma = gamma if isinstance(gamma, Parameter) else Parameter(gamma)
        self.beta = beta if isinstance(beta, Parameter) else Parameter(beta)
        if self.gamma.ndim != 1 or self.beta.shape != self.gamma.shape:
            raise ValueError(
                f"BatchNormalization: gamma and beta must be 1-D of one size, got shapes "
                f"{self.gamma.shape} and {self.beta.shape}"
            )
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        self.momentum = float(momentum)
        d, dt = self.gamma.shape[0], self.gamma.dtype
        self.register_buffer(
            "running_mean", np.zeros(d, dt) if running_mean is None else running_mean
        )
        self.register_buffer("running_var", np.zeros(d, dt) if running_var is None else running_var)

    def forward(self, x: Variable | np.ndarray, train_flg: bool | None = None) -> Variable:
        shape = tuple(shape_of(x))
        d = self.gamma.shape[0]
        if len(shape) < 2 or int(np.prod(shape[1:])) != d:
            raise ValueError(
                f"BatchNormalization({d}): expected an input of shape (N, {d}) or (N, ...) "
                f"with {d} elements per row, got {shape}"
            )
        training = self.training if train_flg is None else bool(train_flg)
        flat = x.reshape(shape[0], d) if len(shape) != 2 else x
        y = F.batch_norm(
            flat,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            training,
            momentum=1 - self.momentum,
            eps=10e-7,
            unbiased=False,
        )
        return y.reshape(shape) if len(shape) != 2 else y

    def extra_repr(self) -> str:
        return f"{self.gamma.shape[0]}, momentum={self.momentum:g}"


class LayerNorm(Module):
    """Layer norm over the trailing `normalized_shape` axes: x (..., *normalized_shape) -> same
    shape, each sample normalized by its own mean and biased variance (`F.layer_norm`).

    Parameters `weight` (ones) and `bias` (zeros) of shape normalized_shape, PyTorch's names;
    `elementwise_affine=False` has neither, `bias=False` no bias. `dtype` None means
    `minigrad.get_default_dtype()`.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        ns = normalized_shape
        if not isinstance(ns, tuple | list):
            ns = (ns,)
        self.normalized_shape = tuple(_size(n, "LayerNorm", "normalized_shape") for n in ns)
        if not self.normalized_shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one dimension")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        self.weight: Parameter | None = None
        self.bias: Parameter | None = None
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))

    def forward(self, x: Variable | np.ndarray) -> Variable:
        """x (..., *normalized_shape) -> same shape."""
        shape = tuple(shape_of(x))
        ns = self.normalized_shape
        if shape[len(shape) - len(ns) :] != ns or len(shape) < len(ns):
            raise ValueError(
                f"LayerNorm({self.extra_repr()}): expected an input of shape (..., "
                f"{', '.join(map(str, ns))}), got {shape}"
            )
        return F.layer_norm(x, ns, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps:g}, elementwise_affine={self.elementwise_affine}"
