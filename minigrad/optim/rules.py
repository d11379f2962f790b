"""The update rules: SGD (momentum, Nesterov, weight decay), AdaGrad, RMSprop, Adam, AdamW.

Each states its settings (`_checked`) and its update of one array (`_update`); the base class
`minigrad.optim.Optimizer` does the rest (param groups, float16 master copies, saving).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.optim import Optimizer, _at_least_zero, _Setting, _unit

__all__ = ["SGD", "AdaGrad", "RMSprop", "Adam", "AdamW"]


class SGD(Optimizer):
    """p -= lr * g, with optional momentum, Nesterov momentum and L2 weight decay.

    With weight decay g += weight_decay * p; with momentum, buf = g at the first step and
    buf = momentum * buf + g after, and the step uses buf (or g + momentum * buf with
    `nesterov`). The book's Momentum (v = momentum * v - lr * g; p += v) is the same update.
    """

    momentum = _Setting()
    nesterov = _Setting()
    weight_decay = _Setting()

    def __init__(
        self,
        params: Any = None,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        )

    @classmethod
    def _checked(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        out = {
            "lr": _at_least_zero("SGD", "lr", settings["lr"]),
            "momentum": _at_least_zero("SGD", "momentum", settings["momentum"]),
            "nesterov": bool(settings["nesterov"]),
            "weight_decay": _at_least_zero("SGD", "weight_decay", settings["weight_decay"]),
        }
        if out["nesterov"] and out["momentum"] == 0:
            raise ValueError("SGD: nesterov needs a momentum > 0")
        return out

    def _update(
        self, data: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if weight_decay:
            g = g + weight_decay * data
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=data.dtype)
            else:
                buf *= momentum
                buf += g
            g = g + momentum * buf if group["nesterov"] else buf
        data -= group["lr"] * g  # in place (cheaper than np.subtract(..., out=data))


def _zeros_in(state: dict[str, Any], key: str, like: np.ndarray) -> np.ndarray:
    """The parameter's buffer `state[key]`, made as zeros like the parameter on first use."""
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.zeros_like(like)
    return buf


class AdaGrad(Optimizer):
    """h += g * g; p -= lr * g / (sqrt(h) + eps)  (h starts at zero)."""

    eps = _Setting()

    def __init__(self, params: Any = None, lr: float = 0.01, eps: float = 1e-8) -> None:
        super().__init__(params, dict(lr=lr, eps=eps))

    @classmethod
    def _checked(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "lr": _at_least_zero("AdaGrad", "lr", settings["lr"]),
            "eps": _at_least_zero("AdaGrad", "eps", settings["eps"]),
        }

    def _update(
        self, data: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        h = _zeros_in(state, "sum", data)
        h += g * g
        data -= group["lr"] * g / (np.sqrt(h) + group["eps"])


class RMSprop(Optimizer):
    """v = alpha * v + (1 - alpha) * g * g; p -= lr * g / (sqrt(v) + eps)  (v starts at zero)."""

    alpha = _Setting()
    eps = _Setting()

    def __init__(
        self, params: Any = None, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8
    ) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))

    @classmethod
    def _checked(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "lr": _at_least_zero("RMSprop", "lr", settings["lr"]),
            "alpha": _unit("RMSprop", "alpha", settings["alpha"]),
            "eps": _at_least_zero("RMSprop", "eps", settings["eps"]),
        }

    def _update(
        self, data: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        alpha = group["alpha"]
        v = _zeros_in(state, "square_avg", data)
        v *= alpha
        v += (1 - alpha) * (g * g)
        data -= group["lr"] * g / (np.sqrt(v) + group["eps"])


class Adam(Optimizer):
    """Adam (Kingma and Ba), with PyTorch's bias correction. At step k (from 1):
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr * (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps).
    `weight_decay` adds weight_decay * p to g first (L2, as torch.optim.Adam); see AdamW.
    `weight_decay=None` means the class's default: 0 for Adam, 0.01 for AdamW (as PyTorch).
    """

    _decoupled = False
    default_weight_decay = 0.0
    betas = _Setting()
    eps = _Setting()
    weight_decay = _Setting()

    def __init__(
        self,
        params: Any = None,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | None = None,
    ) -> None:
        if weight_decay is None:
            weight_decay = self.default_weight_decay
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @classmethod
    def _checked(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        name = cls.__name__
        betas = settings["betas"]
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"{name}: betas must be a pair of numbers, got {betas!r}") from None
        return {
            "lr": _at_least_zero(name, "lr", settings["lr"]),
            "betas": (_unit(name, "betas[0]", b1), _unit(name, "betas[1]", b2)),
            "eps": _at_least_zero(name, "eps", settings["eps"]),
            "weight_decay": _at_least_zero(name, "weight_decay", settings["weight_decay"]),
        }

    def _update(
        self, data: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        b1, b2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        if weight_decay:
            if self._decoupled:
                data *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * data
        m = state.get("exp_avg")
        if m is None:
            m = state["exp_avg"] = np.zeros_like(data)
            state["exp_avg_sq"] = np.zeros_like(data)
            state["step"] = 0
        v = state["exp_avg_sq"]
        k = state["step"] = state["step"] + 1
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        step_size = lr / (1 - b1**k)
        denom = np.sqrt(v)
        denom /= math.sqrt(1 - b2**k)
        denom += group["eps"]
        data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr * weight_decay
    before each Adam step, instead of adding the decay to the gradient (default 0.01)."""

    _decoupled = True
    default_weight_decay = 0.01
