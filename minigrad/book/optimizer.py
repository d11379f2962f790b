"""The book's optimizers (`common.optimizer`): `SGD`, `Momentum`, `Nesterov`, `AdaGrad`,
`RMSprop`, `Adam`, with the book's signatures and update rules, used as
`optimizer.update(params, grads)` on dicts of ndarrays (a network's `params` and the
gradients of its `gradient(x, t)`).

They are `minigrad.optim.Optimizer`s (`state_dict` holds their settings and buffers).
`update` goes through the keys of `params` in order, checks every key and shape before
changing anything, updates each array in place and assigns it back (`params[k] = w`, as the
book's `params[k] -= ...` does), so a minigrad network's `params` sees the change; a number
(the book's `optimizer_compare_naive.py` optimizes two floats) is replaced by its new value. The
rules are the book's, step for step (its Adam folds the bias correction into the learning
rate and adds 1e-7 outside the square root), so a seeded run prints the book's numbers;
`minigrad.optim` holds PyTorch's variants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.core import Variable
from minigrad.optim import Optimizer

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class _BookOptimizer(Optimizer):
    def __init__(self, **settings: Any) -> None:
        # The book's way: no parameters; the settings are the constructor's (for repr and
        # state_dict), and each is also a plain attribute, as in the book.
        super().__init__(None, settings)
        for k, v in settings.items():
            if k != "lr":  # lr is the base class's setting
                setattr(self, k, v)

    def update(self, params: Mapping[Any, Any], grads: Mapping[Any, Any]) -> None:
        """One step for every key of `params`, in its order, from `grads[key]`."""
        name = type(self).__name__
        todo = []
        for key in list(params.keys()):
            if key not in grads:
                raise KeyError(f"{name}.update: params has key {key!r}, which grads lacks")
            p, g = params[key], grads[key]
            g = np.asarray(g.data if isinstance(g, Variable) else g)
            if isinstance(p, Variable):
                p = p.data
            if isinstance(p, np.ndarray):
                if g.shape != p.shape:
                    raise ValueError(
                        f"{name}.update: grads[{key!r}] has shape {g.shape} but params[{key!r}] "
                        f"has shape {p.shape}; nothing was updated"
                    )
            elif not isinstance(p, int | float | np.number) or g.shape != ():
                raise TypeError(
                    f"{name}.update: params[{key!r}] is a {type(p).__name__} and grads[{key!r}] "
                    f"has shape {g.shape}; expected arrays of one shape, or numbers"
                )
            todo.append((key, p, g))
        for key, p, g in todo:
            state = self.key_state.setdefault(key, {})
            if isinstance(p, np.ndarray):
                self._book_update(p, g, state)
                params[key] = p  # type: ignore[index]
            else:
                value = np.array(p, dtype=np.float64)
                self._book_update(value, g.astype(np.float64), state)
                params[key] = float(value)  # type: ignore[index]

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        """Update `data` in place from its gradient `g` and the key's `state` (the book's
        rule of each subclass)."""
        raise NotImplementedError

    def step(self) -> None:
        raise TypeError(
            f"{type(self).__name__} is the book's optimizer: call update(params, grads) "
            "(minigrad.optim's optimizers take parameters and step())"
        )


class SGD(_BookOptimizer):
    """p -= lr * g."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr=lr)

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        data -= self.lr * g


class Momentum(_BookOptimizer):
    """v = momentum * v - lr * g (v starts at zero); p += v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr=lr, momentum=momentum)
        self.momentum = momentum

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        v = state.get("v")
        v = np.zeros_like(data) if v is None else v
        v = state["v"] = self.momentum * v - self.lr * g
        data += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient as the book writes it:
    p += momentum**2 * v; p -= (1 + momentum) * lr * g; v = momentum * v - lr * g."""

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        v = state.get("v")
        v = state["v"] = np.zeros_like(data) if v is None else v
        data += self.momentum * self.momentum * v
        data -= (1 + self.momentum) * self.lr * g
        v *= self.momentum
        v -= self.lr * g


class AdaGrad(_BookOptimizer):
    """h += g * g (h starts at zero); p -= lr * g / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr=lr)

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        h = state.get("h")
        h = state["h"] = np.zeros_like(data) if h is None else h
        h += g * g
        data -= self.lr * g / (np.sqrt(h) + 1e-7)


class RMSprop(_BookOptimizer):
    """h = decay_rate * h + (1 - decay_rate) * g * g (h starts at zero);
    p -= lr * g / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr=lr, decay_rate=decay_rate)
        self.decay_rate = decay_rate

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        h = state.get("h")
        h = state["h"] = np.zeros_like(data) if h is None else h
        h *= self.decay_rate
        h += (1 - self.decay_rate) * g * g
        data -= self.lr * g / (np.sqrt(h) + 1e-7)


class Adam(_BookOptimizer):
    """The book's Adam: per `update` call, iter += 1 and
    lr_t = lr * sqrt(1 - beta2**iter) / (1 - beta1**iter); per key m += (1 - beta1) * (g - m),
    v += (1 - beta2) * (g*g - v) (both start at zero) and p -= lr_t * m / (sqrt(v) + 1e-7)."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2)
        self.beta1, self.beta2 = beta1, beta2
        self.iter = 0
        self._lr_t = lr

    def update(self, params: Mapping[Any, Any], grads: Mapping[Any, Any]) -> None:
        """One step for every key of grads (see the class)."""
        self.iter += 1
        self._lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        try:
            super().update(params, grads)
        except (KeyError, TypeError, ValueError):
            self.iter -= 1  # nothing was updated
            raise

    def _book_update(self, data: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        m, v = state.get("m"), state.get("v")
        if m is None or v is None:
            m = state["m"] = np.zeros_like(data)
            v = state["v"] = np.zeros_like(data)
        m += (1 - self.beta1) * (g - m)
        v += (1 - self.beta2) * (g**2 - v)
        data -= self._lr_t * m / (np.sqrt(v) + 1e-7)
