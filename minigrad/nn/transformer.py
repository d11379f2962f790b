"""Attention layers: `MultiheadAttention` (PyTorch's parameters and masks) and the pre-norm
`TransformerBlock`.

Both compose ops of `minigrad.functions` (linear, reshape, transpose,
`scaled_dot_product_attention`, layer_norm, gelu); neither writes a backward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Parameter, Variable, get_default_dtype
from minigrad.functions._util import data_of, shape_of
from minigrad.functions.attention import attention, attention_probs
from minigrad.nn import init as _init
from minigrad.nn.layers import GELU, Dropout, Linear, Sequential, _size
from minigrad.nn.module import Module
from minigrad.nn.normalization import LayerNorm

__all__ = ["MultiheadAttention", "TransformerBlock"]


def _uniform_init(bound: float) -> _init.Initializer:
    """U(-bound, bound) from NumPy's global generator (as `minigrad.nn.init`)."""

    def init(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        u = np.random.uniform(-bound, bound, size=shape)  # noqa: NPY002 - np.random.seed repeats it
        return u.astype(get_default_dtype() if dtype is None else dtype)

    return init


class MultiheadAttention(Module):
    """Multi-head attention as `torch.nn.MultiheadAttention` (self- or cross-attention, with
    key and value of embed_dim features).

    query (N, L, E), key and value (N, S, E) -> (attn_output (N, L, E), attn_weights or
    None); with `batch_first=False` (PyTorch's default; minigrad's is True) the inputs and
    output are (L, N, E); unbatched (L, E) inputs work too. Each head attends over
    E / num_heads features: q, k, v = x @ W_{q,k,v}^T + b_{q,k,v} split into heads, then
    `F.scaled_dot_product_attention`, the heads joined and projected by `out_proj`.

    Parameters under PyTorch's names and layouts: `in_proj_weight` (3E, E) (W_q, W_k, W_v
    stacked; Xavier-uniform), `in_proj_bias` (3E,) (zeros; None with `bias=False`), and
    `out_proj`, a `Linear(E, E)` (`out_proj.weight` and `out_proj.bias` in
    `to_torch_state_dict`; minigrad's Linear holds W as (in, out)). `dropout` is applied to
    the attention probabilities in training mode.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.embed_dim = _size(embed_dim, name, "embed_dim")
        self.num_heads = _size(num_heads, name, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"{name}: embed_dim ({self.embed_dim}) must be divisible by num_heads "
                f"({self.num_heads})"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        e = self.embed_dim
        self.in_proj_weight = Parameter(_init.xavier_uniform((3 * e, e), dt))
        self.in_proj_bias: Parameter | None = Parameter(np.zeros(3 * e, dt)) if bias else None
        # PyTorch's out_proj starts as nn.Linear does (U(+-1/sqrt(E))), with a zero bias.
        self.out_proj = Linear(e, e, bias=bias, dtype=dt, init=_uniform_init(1 / math.sqrt(e)))

    def _project(self, x: Any, first: int, count: int) -> list[Variable]:
        """(N, L, E) -> `count` arrays (N, H, L, head_dim): x @ W_i^T + b_i for the `count`
        consecutive projections from `first` (0: q, 1: k, 2: v), as one product, split into
        heads. Self-attention projects q, k and v at once with the whole `in_proj_weight`:
        one (N*L, E) @ (E, 3E) product instead of three slices, three transposes and three
        products (MultiheadAttention forward + backward on (32, 64, 64) float32: 0.985x the
        time, per-pair range 0.82-1.06x, one thread, busy machine)."""
        n, length, e = shape_of(x)
        w: Variable = self.in_proj_weight
        b: Variable | None = self.in_proj_bias
        if count < 3:
            rows = slice(first * e, (first + count) * e)
            w, b = w[rows], None if b is None else b[rows]
        y = F.linear(x.reshape(n * length, e), w.T, b)
        if count == 1:
            return [y.reshape(n, length, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)]
        # (N, L, count, H, D) -> (count, N, H, L, D): each projection's heads a strided view.
        heads = y.reshape(n, length, count, self.num_heads, self.head_dim)
        heads = heads.transpose(2, 0, 3, 1, 4)
        return [heads[j] for j in range(count)]

    def forward(
        self,
        query: Variable | np.ndarray,
        key: Variable | np.ndarray,
        value: Variable | np.ndarray,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Variable, Variable | None]:
        """(attn_output, attn_weights): the weights (N, L, S) averaged over the heads, or
        (N, num_heads, L, S) with `average_attn_weights=False`; None with
        `need_weights=False` (the faster path: one fused op).

        Masks as PyTorch's: `key_padding_mask` (N, S), `attn_mask` (L, S) or
        (N * num_heads, L, S); boolean True means "do not attend" (the opposite of
        `F.scaled_dot_product_attention`'s), a float mask is added to the scores.
        `is_causal=True` without `attn_mask` applies the causal mask (PyTorch requires the
        mask and treats the flag as a hint; with a mask, the mask is used as given). A query
        with every key masked out gets zeros (PyTorch: NaN).
        """
        name = type(self).__name__
        sq, sk, sv = (tuple(shape_of(a)) for a in (query, key, value))
        e = self.embed_dim
        batched = len(sq) == 3
        for shp in (sq, sk, sv):
            if len(shp) != len(sq) or len(shp) not in (2, 3) or shp[-1] != e:
                layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
                raise ValueError(
                    f"{name}(embed_dim={e}): expected query, key and value of shape {layout} "
                    f"(or unbatched (L, E)) with E = {e}, got query {sq}, key {sk}, value {sv}"
                )
        # Self-attention (query is key is value) projects once; so do key and value when
        # they are one tensor (cross-attention on a memory).
        same_kv = key is value
        same_qk = query is key and same_kv
        if not batched:
            query, key, value = (a.reshape(1, *shape_of(a)) for a in (query, key, value))
        elif not self.batch_first:
            query, key, value = (a.transpose(1, 0, 2) for a in (query, key, value))
        query, key, value = (self._cast(a) for a in (query, key, value))
        n, length, _ = shape_of(query)
        if shape_of(key)[:2] != shape_of(value)[:2] or shape_of(key)[0] != n:
            raise ValueError(
                f"{name}: key and value must have the same batch size and length, and the "
                f"query's batch size; got query {sq}, key {sk}, value {sv}"
            )
        s = shape_of(key)[1]
        mask = self._mask(attn_mask, key_padding_mask, n, length, s, batched)
        causal = bool(is_causal) and attn_mask is None
        if same_qk:
            q, k, v = self._project(query, 0, 3)
        elif same_kv:
            q, (k, v) = self._project(query, 0, 1)[0], self._project(key, 1, 2)
        else:
            q, k, v = (self._project(a, i, 1)[0] for i, a in enumerate((query, key, value)))
        # Named, so that graph pictures and the backward explorer read q, k, v.
        q.name, k.name, v.name = "q", "k", "v"
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            probs = attention_probs(q, k, mask, causal)
            y = F.dropout(probs, p, training=True) @ v if p else probs @ v
            weights = probs.mean(axis=1) if average_attn_weights else probs
            if not batched:
                weights = weights.reshape(*shape_of(weights)[1:])
        else:
            y = attention(q, k, v, mask, causal, p)
        y = self.out_proj(y.transpose(0, 2, 1, 3).reshape(n * length, e)).reshape(n, length, e)
        if not batched:
            y = y.reshape(length, e)
        elif not self.batch_first:
            y = y.transpose(1, 0, 2)
        return y, weights

    def _cast(self, x: Any) -> Any:
        """Data of another dtype than the layer's is cast to it (as `Linear`)."""
        dt = self.in_proj_weight.dtype
        if x.dtype == dt:
            return x
        if isinstance(x, Variable):
            return x if x.requires_grad else Variable(x.data.astype(dt), requires_grad=False)
        return np.asarray(x, dt)

    def _mask(
        self, attn_mask: Any, kpm: Any, n: int, length: int, s: int, batched: bool
    ) -> np.ndarray | None:
        """The two masks as one for the op, broadcasting to (N, H, L, S): boolean True where
        attending when both are boolean, else additive floats (a boolean True becomes -inf)."""
        name = type(self).__name__
        h = self.num_heads
        dt = self.in_proj_weight.dtype
        masks = []
        if attn_mask is not None:
            m = np.asarray(data_of(attn_mask))
            _mask_dtype(m, "attn_mask", name)
            if m.shape == (length, s):
                masks.append(m)
            elif m.shape == ((n * h) if batched else h, length, s):
                masks.append(m.reshape(n, h, length, s))
            else:
                want = f"({length}, {s}) or ({n * h if batched else h}, {length}, {s})"
                raise ValueError(
                    f"{name}: attn_mask has shape {m.shape}, expected (L, S) or "
                    f"({'N * num_heads' if batched else 'num_heads'}, L, S) = {want}"
                )
        if kpm is not None:
            m = np.asarray(data_of(kpm))
            _mask_dtype(m, "key_padding_mask", name)
            want_k = (n, s) if batched else (s,)
            if m.shape != want_k:
                raise ValueError(
                    f"{name}: key_padding_mask has shape {m.shape}, expected "
                    f"{'(N, S)' if batched else '(S,)'} = {want_k}"
                )
            masks.append(m.reshape(n, 1, 1, s))
        if not masks:
            return None
        if all(m.dtype == np.bool_ for m in masks):
            allowed = ~masks[0]
            for m in masks[1:]:
                allowed = allowed & ~m
            return allowed
        total: np.ndarray = np.zeros((), dt)
        for m in masks:
            total = total + (np.where(m, -np.inf, 0).astype(dt) if m.dtype == np.bool_ else m)
        return total.astype(dt, copy=False)

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
            f"bias={self.in_proj_bias is not None}, batch_first={self.batch_first}, "
            f"dtype={self.in_proj_weight.dtype}"
        )


def _mask_dtype(m: np.ndarray, what: str, layer: str) -> None:
    if m.dtype.kind not in "bf":
        raise TypeError(
            f"{layer}: {what} must be boolean (True = do not attend) or floating-point (added "
            f"to the scores), got {m.dtype}"
        )


class TransformerBlock(Module):
    """A pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).
    x (N, T, d_model) -> (N, T, d_model).

    Children (PyTorch's modules under these names give the same state dict): `ln1`, `ln2`
    (`LayerNorm(d_model)`), `attn` (`MultiheadAttention(d_model, n_heads, dropout,
    batch_first=True)`, causal unless `causal=False`), `mlp` (`Sequential(Linear(d_model,
    d_ff), GELU(), Linear(d_ff, d_model), Dropout(dropout))`) and `drop` (`Dropout(dropout)`
    on the attention's output). In PyTorch: the same attributes from `torch.nn`, and
    `h = ln1(x); x = x + drop(attn(h, h, h, attn_mask=causal_mask, is_causal=True,
    need_weights=False)[0]); x = x + mlp(ln2(x))`.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        causal: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.d_model = _size(d_model, name, "d_model")
        self.d_ff = 4 * self.d_model if d_ff is None else _size(d_ff, name, "d_ff")
        self.causal = bool(causal)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        self.ln1 = LayerNorm(self.d_model, dtype=dt)
        self.attn = MultiheadAttention(self.d_model, n_heads, dropout, batch_first=True, dtype=dt)
        self.drop = Dropout(dropout)
        self.ln2 = LayerNorm(self.d_model, dtype=dt)
        self.mlp = Sequential(
            Linear(self.d_model, self.d_ff, dtype=dt, init=_uniform_init(1 / math.sqrt(d_model))),
            GELU(),
            Linear(self.d_ff, self.d_model, dtype=dt, init=_uniform_init(1 / math.sqrt(self.d_ff))),
            Dropout(dropout),
        )

    def forward(self, x: Variable | np.ndarray) -> Variable:
        """(N, T, d_model) -> (N, T, d_model)."""
        shape = tuple(shape_of(x))
        if len(shape) != 3 or shape[-1] != self.d_model:
            raise ValueError(
                f"{type(self).__name__}(d_model={self.d_model}): expected an input of shape "
                f"(N, T, {self.d_model}), got {shape}"
            )
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, need_weights=False, is_causal=self.causal)
        x = x + self.drop(a)
        n, t, d = shape
        m = self.mlp(self.ln2(x).reshape(n * t, d)).reshape(n, t, d)
        return x + m

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.attn.num_heads}, d_ff={self.d_ff}, causal={self.causal}"
