"""Embedding: a table of vectors looked up by integer ids (tokens, characters, positions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Parameter, Variable, get_default_dtype
from minigrad.nn import init as _init
from minigrad.nn.layers import _size
from minigrad.nn.module import Module

__all__ = ["Embedding"]


class Embedding(Module):
    """y = weight[ids].  ids: integers of any shape S -> y: S + (embedding_dim,).

    As PyTorch's `nn.Embedding(num_embeddings, embedding_dim, padding_idx=None)`: the
    Parameter `weight` (num_embeddings, embedding_dim) is drawn from N(0, 1) (NumPy's global
    generator, so `minigrad.manual_seed` and `np.random.seed` reproduce it); the row
    `padding_idx`, if given, starts at zero and gets no gradient, so it stays zero in training.
    `dtype` None means `minigrad.get_default_dtype()`. Runs as the op `F.embedding`.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _size(num_embeddings, "Embedding", "num_embeddings")
        self.embedding_dim = _size(embedding_dim, "Embedding", "embedding_dim")
        self.padding_idx = _padding(padding_idx, self.num_embeddings)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        w = _init.normal(1.0)((self.num_embeddings, self.embedding_dim), dt)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0
        self.weight: Parameter = Parameter(w, dtype=dt)

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding holding `embeddings` (V, D) as its weight (copied); `freeze=True`
        makes the weight require no grad, so optimizers leave it as it is."""
        data = embeddings.data if isinstance(embeddings, Variable) else np.asarray(embeddings)
        if data.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: expected a 2-D table (V, D), got shape {data.shape}"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"Embedding.from_pretrained: expected floating data, got dtype {data.dtype}"
            )
        emb = cls(data.shape[0], data.shape[1], padding_idx=padding_idx, dtype=data.dtype)
        emb.weight.data[...] = data
        emb.weight.requires_grad = not freeze
        return emb

    def forward(self, ids: Any) -> Variable:
        """weight[ids]: (S) integer ids -> (S, embedding_dim)."""
        try:
            return F.embedding(ids, self.weight, padding_idx=self.padding_idx)
        except (TypeError, IndexError) as e:
            raise type(e)(
                str(e).replace("embedding:", f"Embedding({self.extra_repr()}):", 1)
            ) from None

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


def _padding(padding_idx: int | None, n: int) -> int | None:
    """PyTorch's rule: a negative padding_idx counts from the end; out of range is an error."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer):
        raise TypeError(f"Embedding: padding_idx must be an int, got {type(padding_idx).__name__}")
    if not -n <= padding_idx < n:
        raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for {n} embeddings")
    return int(padding_idx) % n
