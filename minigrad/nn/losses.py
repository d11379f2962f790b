"""Loss modules: SoftmaxWithLoss (the book's name; alias SoftmaxCrossEntropy) and MSELoss."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Variable
from minigrad.functions._util import softmax_array
from minigrad.nn.module import Module

__all__ = ["SoftmaxWithLoss", "SoftmaxCrossEntropy", "MSELoss"]


class SoftmaxWithLoss(Module):
    """Mean cross-entropy of softmax(x) against t.  x: (N, C) logits; t: (N,) class indices or
    (N, C) one-hot -> a scalar Variable. Runs as the fused, stable `F.softmax_cross_entropy`.

    Like the book's layer it keeps, after each forward, `loss` (the value, a NumPy scalar),
    `t` (the targets) and `y` (the softmax probabilities, (N, C), computed when first read).
    It keeps arrays only, never the graph.
    """

    def __init__(self) -> None:
        super().__init__()
        # (logits, targets, 0-d loss array) of the last forward, and the probabilities
        # computed from those logits once `y` is read.
        self._last: tuple[Any, Any, Any] = (None, None, None)
        self._probs: tuple[Any, np.ndarray] | None = None

    def forward(self, x: Variable | np.ndarray, t: Any) -> Variable:
        loss = F.softmax_cross_entropy(x, t)
        self._last = (x.data if isinstance(x, Variable) else x, t, loss.data)
        return loss

    @property
    def loss(self) -> Any:
        """The loss value of the last forward (a NumPy scalar); None before the first."""
        value = self._last[2]
        return None if value is None else value[()]

    @property
    def t(self) -> Any:
        """The targets of the last forward."""
        return self._last[1]

    @property
    def y(self) -> np.ndarray | None:
        """softmax(x) of the last forward, (N, C); None before the first forward."""
        logits = self._last[0]
        if logits is None:
            return None
        if self._probs is None or self._probs[0] is not logits:
            self._probs = (logits, softmax_array(logits, 1))
        return self._probs[1]


#: The name used by PyTorch-style code for SoftmaxWithLoss.
SoftmaxCrossEntropy = SoftmaxWithLoss


class MSELoss(Module):
    """mean((x - t)**2) over all elements (PyTorch's convention; the book's is 0.5 * sum).
    x, t: the same shape -> a scalar Variable."""

    def forward(self, x: Variable | np.ndarray, t: Any) -> Variable:
        return F.mean_squared_error(x, t)
