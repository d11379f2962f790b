"""Luong's dot-product attention for sequence-to-sequence models: each decoder state scores
every encoder state by a dot product, the scores become weights by a softmax over the encoder's
time steps (padding masked out), and the context is the weighted sum of the encoder's states.

A composition of `F.matmul`, `F.where` and `F.softmax`; no backward is written here. (The
scaled, multi-head attention of transformers is `F.scaled_dot_product_attention` and
`nn.MultiheadAttention`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Variable
from minigrad.nn.module import Module

__all__ = ["DotAttention"]


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x.data if isinstance(x, Variable) else x))


class DotAttention(Module):
    """Dot-product (Luong "dot") attention over a sequence of encoder states; no parameters.

    `forward(query, keys, values=None, key_padding_mask=None)` with

    - `query` (N, Tq, H) decoder states, or (N, H) for one decoder step;
    - `keys` (N, Tk, H) encoder states; `values` (N, Tk, Hv), by default the keys;
    - `key_padding_mask` (N, Tk) bool, True where the encoder's input is padding (PyTorch's
      meaning): those steps get weight exactly 0, and so no gradient. As in PyTorch, a float
      mask (an array or a Variable) is added to the scores instead: -inf where padding, 0
      elsewhere, does the same, and as a Variable it can be an input of an exported graph.

    returns `(context, weights)`: `context` (N, Tq, Hv) (or (N, Hv)) and `weights` (N, Tq, Tk)
    (or (N, Tk)), each row of which sums to 1, kept for plotting:

        scores = query @ keys^T,  weights = softmax(scores where not masked else -inf, over Tk),
        context = weights @ values.

    The sequel's attention (chapter 8) unscaled, as Luong et al. (2015) wrote it.
    """

    def forward(
        self,
        query: Variable | np.ndarray,
        keys: Variable | np.ndarray,
        values: Variable | np.ndarray | None = None,
        key_padding_mask: Variable | np.ndarray | None = None,
    ) -> tuple[Variable, Variable]:
        """(context, weights); see the class docstring for the shapes."""
        if values is None:
            values = keys
        q_shape, k_shape, v_shape = _shape(query), _shape(keys), _shape(values)
        mask = self._check(q_shape, k_shape, v_shape, key_padding_mask)
        one_step = len(q_shape) == 2
        q = F.reshape(query, (q_shape[0], 1, q_shape[1])) if one_step else query
        scores = F.matmul(q, F.transpose(keys, (0, 2, 1)))  # (N, Tq, Tk)
        if mask is not None and mask.dtype != bool:
            scores = scores + F.reshape(mask, (k_shape[0], 1, k_shape[1]))
        elif mask is not None:
            # -inf gives exp(-inf) = 0: a masked step's weight is exactly 0, and where's
            # backward sends it no gradient (a large negative number would leave a trace).
            minus_inf = np.array(-np.inf, dtype=scores.dtype)
            scores = F.where(~mask[:, None, :], scores, minus_inf)
        weights = F.softmax(scores, axis=-1)
        context = F.matmul(weights, values)  # (N, Tq, Hv)
        if one_step:
            context = F.reshape(context, (q_shape[0], v_shape[2]))
            weights = F.reshape(weights, (q_shape[0], k_shape[1]))
        return context, weights

    def _check(
        self,
        q: tuple[int, ...],
        k: tuple[int, ...],
        v: tuple[int, ...],
        mask: Any,
    ) -> Any:
        name = type(self).__name__
        if len(k) != 3 or len(v) != 3:
            raise ValueError(f"{name}: keys and values must be (N, Tk, H), got {k} and {v}")
        if len(q) not in (2, 3):
            raise ValueError(f"{name}: query must be (N, Tq, H) or (N, H), got {q}")
        if q[0] != k[0] or v[:2] != k[:2] or q[-1] != k[2]:
            raise ValueError(
                f"{name}: query {q}, keys {k} and values {v} do not fit "
                "(expected (N, Tq, H), (N, Tk, H) and (N, Tk, Hv))"
            )
        if k[1] == 0:
            raise ValueError(f"{name}: the keys have no time steps (shape {k})")
        if mask is None:
            return None
        m = mask if isinstance(mask, Variable) else np.asarray(mask)
        if m.dtype != bool and m.dtype.kind != "f":
            raise TypeError(
                f"{name}: key_padding_mask must be boolean (True = padding) or floating (added "
                f"to the scores), got dtype {m.dtype}"
            )
        if m.shape != k[:2]:
            raise ValueError(
                f"{name}: key_padding_mask has shape {m.shape}, expected (N, Tk) = {k[:2]}"
            )
        if m.dtype == bool:
            full = np.flatnonzero(np.asarray(m.data if isinstance(m, Variable) else m).all(axis=1))
            if full.size:
                raise ValueError(
                    f"{name}: key_padding_mask masks every step of sequence {int(full[0])}; "
                    "at least one step must be attended to"
                )
        return m
