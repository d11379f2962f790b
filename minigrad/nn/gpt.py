"""`GPT`: a decoder-only transformer language model built from minigrad's modules (token and
position embeddings, pre-norm transformer blocks, a final layer norm, a head tied to the
token embedding or not)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Variable, get_default_dtype, no_grad
from minigrad.nn import init as _init
from minigrad.nn.embedding import Embedding
from minigrad.nn.layers import Dropout, Linear, Sequential
from minigrad.nn.module import Module, runs_as_call
from minigrad.nn.normalization import LayerNorm
from minigrad.nn.transformer import TransformerBlock

__all__ = ["GPT"]

# GPT-2's initial scale of the embeddings (and so of the tied head): with PyTorch's N(0, 1)
# embedding init the tied head's first logits would have a standard deviation of ~8.
EMBED_STD = 0.02


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"GPT: {what} must be a positive integer, got {value!r}")
    return int(value)


class GPT(Module):
    """A GPT: `logits = head(LN(blocks(tok_emb(ids) + pos_emb(0..T-1))))`.

    ids (N, T) integers in [0, vocab_size), T <= context_length -> logits (N, T, vocab_size).

    Submodules (their names are the state dict's): `tok_emb` (Embedding(vocab_size,
    d_model)), `pos_emb` (Embedding(context_length, d_model)), `drop` (Dropout on the summed
    embeddings), `blocks` (a Sequential of `n_layers` pre-norm causal `TransformerBlock`s with
    `n_heads` heads and a feed-forward width `d_ff`, default 4 * d_model), `ln_f` (the final
    LayerNorm) and, with `tie_weights=False`, `head` (Linear(d_model, vocab_size, bias=False),
    weight `W` (d_model, vocab_size)); with `tie_weights=True` (the default, as GPT-2) the head
    multiplies by `tok_emb.weight` transposed, one Parameter used twice, its gradient the sum
    of both uses. Both embeddings (and an untied head) start at N(0, 0.02^2), as GPT-2's,
    drawn from NumPy's global generator (`np.random.seed` reproduces a model). `dtype` None means the
    default dtype.
    """

    def __init__(
        self,
        vocab_size: int,
        context_length: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        tie_weights: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.vocab_size = _positive(vocab_size, "vocab_size")
        self.context_length = _positive(context_length, "context_length")
        self.d_model = _positive(d_model, "d_model")
        self.n_layers = _positive(n_layers, "n_layers")
        self.n_heads = _positive(n_heads, "n_heads")
        self.d_ff = 4 * self.d_model if d_ff is None else _positive(d_ff, "d_ff")
        self.tie_weights = bool(tie_weights)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        self.tok_emb = Embedding(self.vocab_size, self.d_model, dtype=dt)
        self.pos_emb = Embedding(self.context_length, self.d_model, dtype=dt)
        for emb in (self.tok_emb, self.pos_emb):
            emb.weight.data[...] = _init.normal(EMBED_STD)(emb.weight.shape, dt)
        self.drop = Dropout(dropout)
        self.blocks = Sequential(
            *(
                TransformerBlock(
                    self.d_model, self.n_heads, self.d_ff, dropout=dropout, causal=True, dtype=dt
                )
                for _ in range(self.n_layers)
            )
        )
        self.ln_f = LayerNorm(self.d_model, dtype=dt)
        self.head: Linear | None = None
        if not self.tie_weights:
            self.head = Linear(self.d_model, self.vocab_size, bias=False, dtype=dt, init=EMBED_STD)

    def _check_ids(self, ids: Any) -> np.ndarray:
        data = ids.data if isinstance(ids, Variable) else np.asarray(ids)
        if data.ndim != 2:
            raise ValueError(
                f"GPT: expected token ids of shape (N, T), got shape {tuple(data.shape)}"
            )
        if data.dtype.kind not in "iu":
            raise TypeError(f"GPT: token ids must be integers, got dtype {data.dtype}")
        t = data.shape[1]
        if t > self.context_length:
            raise ValueError(
                f"GPT: a context of {t} tokens is longer than the position table's "
                f"context_length {self.context_length} (crop the ids to the last "
                f"{self.context_length})"
            )
        if t == 0:
            raise ValueError("GPT: empty context (T = 0)")
        return data

    def forward(self, ids: Any) -> Variable:
        """Logits (N, T, vocab_size) for token ids (N, T)."""
        data = self._check_ids(ids)
        n, t = data.shape
        x = self.tok_emb(data) + self.pos_emb(np.arange(t))
        x = self.blocks(self.drop(x))
        h = self.ln_f(x).reshape(n * t, self.d_model)
        # One 2-D product for all positions: (N*T, C) @ (C, V).
        if self.head is None:
            logits = F.matmul(h, F.transpose(self.tok_emb.weight))
        else:
            logits = self.head(h)
        return logits.reshape(n, t, self.vocab_size)

    @runs_as_call
    def loss(self, ids: Any, targets: Any) -> Variable:
        """Mean cross-entropy (nats per token) of the next-token logits against targets
        (N, T), the ids shifted by one."""
        t = np.asarray(targets.data if isinstance(targets, Variable) else targets)
        data = self._check_ids(ids)
        if t.shape != data.shape:
            raise ValueError(
                f"GPT.loss: targets of shape {tuple(t.shape)} for ids of shape "
                f"{tuple(data.shape)} (expected the same)"
            )
        logits = self.forward(data)
        return F.softmax_cross_entropy(logits.reshape(t.size, self.vocab_size), t.reshape(-1))

    def generate(
        self,
        ids: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """Extend ids (N, T) by `max_new_tokens` sampled tokens -> (N, T + max_new_tokens).

        Each step feeds the last `context_length` tokens, divides the last position's logits
        by `temperature` (0: always the most likely token), keeps the `top_k` largest if given
        and samples from their softmax with `rng` (a Generator or a seed). Runs without
        recording a graph and with dropout off (the training mode is restored after).
        """
        data = np.array(ids.data if isinstance(ids, Variable) else ids)
        if data.ndim == 1:
            data = data[None]
        self._check_ids(data[:, -self.context_length :])
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)):
            raise TypeError(f"GPT.generate: max_new_tokens must be an int, got {max_new_tokens!r}")
        if max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        if not temperature >= 0:
            raise ValueError(f"GPT.generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and not 1 <= top_k:
            raise ValueError(f"GPT.generate: top_k must be at least 1, got {top_k}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(int(max_new_tokens)):
                    logits = self.forward(data[:, -self.context_length :]).data[:, -1, :]
                    data = np.concatenate([data, self._sample(logits, temperature, top_k, gen)], 1)
        finally:
            self.train(was_training)
        return data

    @staticmethod
    def _sample(
        logits: np.ndarray, temperature: float, top_k: int | None, gen: np.random.Generator
    ) -> np.ndarray:
        """One token id per row, (N, 1)."""
        if temperature == 0:
            return logits.argmax(axis=1)[:, None]
        z = logits.astype(np.float64) / temperature
        if top_k is not None and top_k < z.shape[1]:
            kth = np.partition(z, -top_k, axis=1)[:, -top_k, None]
            z = np.where(z < kth, -np.inf, z)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        # Inverse-CDF sampling, one uniform per row.
        u = gen.random((len(p), 1))
        idx = (np.cumsum(p, axis=1) < u).sum(axis=1)
        return np.minimum(idx, p.shape[1] - 1)[:, None]

    def extra_repr(self) -> str:
        return (
            f"vocab_size={self.vocab_size}, context_length={self.context_length}, "
            f"d_model={self.d_model}, n_layers={self.n_layers}, n_heads={self.n_heads}, "
            f"d_ff={self.d_ff}, tie_weights={self.tie_weights}"
        )
