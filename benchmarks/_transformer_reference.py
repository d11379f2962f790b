"""Hand-written NumPy float32 transformer: a pre-norm block and a character GPT, forward and
backward by hand, as fast as NumPy allows here. The reference of bench_transformer.py.

The block (as `nn.TransformerBlock`, pre-norm, causal):

    h = LN1(x); q, k, v = split(h @ Wqkv + bqkv); a = softmax(q k^T / sqrt(D) + mask) v
    x1 = x + merge(a) @ Wo + bo;  y = x1 + GELU(LN2(x1) @ W1 + b1) @ W2 + b2

What makes it fast (each measured on the default model, batch 32 x 64 characters, 64 wide):
one fused QKV product; the heads as strided views of it fed to batched matmuls (no Python
loop over heads, no copy of q, k, v: NumPy's matmul hands BLAS the strides); the causal mask
one precomputed (T, T) additive array; softmax and its backward in place; the row sums of
layer norm and the bias gradients as BLAS products with a ones vector (faster than NumPy's
reductions along a short axis); every weight kept in the layout its products want (x @ W).
The GPT step keeps all parameters and all gradients in one flat array each, so that Adam is
a few in-place operations on two arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

F32 = np.float32
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_TANH_C = 0.7978845608028654  # sqrt(2 / pi)


_ERFC = (  # Numerical Recipes' erfc Chebyshev fit, highest power first
    0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
    -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223,
)  # fmt: skip


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) to ~1.2e-7, elementwise in x's dtype, by Horner's rule in place (NumPy has no
    erf and SciPy is not a dependency)."""
    z = np.abs(x)
    t = z * F32(0.5)
    t += 1
    np.reciprocal(t, out=t)
    acc = t * F32(_ERFC[0])
    for c in _ERFC[1:]:
        acc += F32(c)
        if c != _ERFC[-1]:
            acc *= t
    z *= z
    acc -= z  # -z^2 - 1.26551223 + t * poly
    np.exp(acc, out=acc)
    acc *= t  # erfc(|x|)
    np.subtract(1, acc, out=acc)
    return np.copysign(acc, x, out=acc)


def gelu_forward(u: np.ndarray, approximate: str) -> tuple[np.ndarray, np.ndarray]:
    """GELU(u) and its derivative at u (kept for the backward)."""
    if approximate == "tanh":
        inner = _TANH_C * (u + 0.044715 * u * u * u)
        th = np.tanh(inner)
        y = 0.5 * u * (1 + th)
        d = 0.5 * (1 + th) + 0.5 * u * (1 - th * th) * _TANH_C * (1 + 3 * 0.044715 * u * u)
        return y, d
    cdf = 0.5 * (1.0 + erf(u * F32(_SQRT_HALF)))
    pdf = F32(_INV_SQRT_2PI) * np.exp(-0.5 * u * u)
    return u * cdf, cdf + u * pdf


class LayerNormRef:
    """Layer norm over the last axis of (M, C) rows; g, b views into the owner's arrays."""

    def __init__(self, c: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.ones_c = np.full((c, 1), 1.0 / c, F32)  # row means as one gemv

    def forward(self, x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        xc = x - x @ self.ones_c
        var = (xc * xc) @ self.ones_c
        var += self.eps
        rstd = 1.0 / np.sqrt(var)
        xc *= rstd
        self.xhat, self.rstd, self.g = xc, rstd, g
        return xc * g + b

    def backward(self, gy: np.ndarray, gg: np.ndarray, gb: np.ndarray, ones_m: np.ndarray) -> Any:
        """dx for dy; writes dgamma and dbeta into gg and gb."""
        xhat = self.xhat
        np.matmul(ones_m, gy * xhat, out=gg)
        np.matmul(ones_m, gy, out=gb)
        dxh = gy * self.g
        dx = dxh - dxh @ self.ones_c
        dx -= xhat * ((dxh * xhat) @ self.ones_c)
        dx *= self.rstd
        return dx


BLOCK_PARAMS = [
    # name, shape given (C, F)
    ("ln1_w", lambda c, f: (c,)),
    ("ln1_b", lambda c, f: (c,)),
    ("Wqkv", lambda c, f: (c, 3 * c)),
    ("bqkv", lambda c, f: (3 * c,)),
    ("Wo", lambda c, f: (c, c)),
    ("bo", lambda c, f: (c,)),
    ("ln2_w", lambda c, f: (c,)),
    ("ln2_b", lambda c, f: (c,)),
    ("W1", lambda c, f: (c, f)),
    ("b1", lambda c, f: (f,)),
    ("W2", lambda c, f: (f, c)),
    ("b2", lambda c, f: (c,)),
]


class BlockRef:
    """One pre-norm causal block. `p` and `g`: dicts of parameter and gradient arrays (views
    into flat buffers, or standalone); `forward(x)` (B, T, C) -> (B, T, C); `backward(gy)`
    writes every parameter gradient into `g` and returns dx."""

    def __init__(
        self, p: dict[str, np.ndarray], g: dict[str, np.ndarray], n_heads: int, gelu: str = "none"
    ) -> None:
        self.p, self.g, self.h, self.gelu = p, g, n_heads, gelu
        c = p["Wo"].shape[0]
        self.ln1, self.ln2 = LayerNormRef(c), LayerNormRef(c)
        self._masks: dict[int, np.ndarray] = {}

    def mask(self, t: int) -> np.ndarray:
        if t not in self._masks:
            self._masks[t] = np.triu(np.full((t, t), -np.inf, F32), 1)
        return self._masks[t]

    def forward(self, x: np.ndarray) -> np.ndarray:
        p, H = self.p, self.h
        B, T, C = x.shape
        D, M = C // H, B * T
        x2 = x.reshape(M, C)
        h1 = self.ln1.forward(x2, p["ln1_w"], p["ln1_b"])
        qkv = h1 @ p["Wqkv"]
        qkv += p["bqkv"]
        heads = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D) view
        q, k, v = heads[0], heads[1], heads[2]
        s = q @ k.transpose(0, 1, 3, 2)
        s *= F32(1.0 / np.sqrt(D))
        s += self.mask(T)
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        att = s @ v  # (B, H, T, D)
        merged = att.transpose(0, 2, 1, 3).reshape(M, C)  # a copy: the heads side by side
        x1 = merged @ p["Wo"]
        x1 += p["bo"]
        x1 += x2
        h2 = self.ln2.forward(x1, p["ln2_w"], p["ln2_b"])
        u = h2 @ p["W1"]
        u += p["b1"]
        act, dgelu = gelu_forward(u, self.gelu)
        y = act @ p["W2"]
        y += p["b2"]
        y += x1
        self.saved = (B, T, C, h1, qkv, s, merged, h2, act, dgelu)
        return y.reshape(B, T, C)

    def backward(self, gy: np.ndarray) -> np.ndarray:
        p, g, H = self.p, self.g, self.h
        B, T, C, h1, qkv, P, merged, h2, act, dgelu = self.saved
        del self.saved
        D, M = C // H, B * T
        ones_m = np.ones(M, F32)
        gy2 = gy.reshape(M, C)
        # MLP
        np.matmul(act.T, gy2, out=g["W2"])
        np.matmul(ones_m, gy2, out=g["b2"])
        gu = gy2 @ p["W2"].T
        gu *= dgelu
        np.matmul(h2.T, gu, out=g["W1"])
        np.matmul(ones_m, gu, out=g["b1"])
        gx1 = self.ln2.backward(gu @ p["W1"].T, g["ln2_w"], g["ln2_b"], ones_m)
        gx1 += gy2
        # attention
        np.matmul(merged.T, gx1, out=g["Wo"])
        np.matmul(ones_m, gx1, out=g["bo"])
        gatt = (gx1 @ p["Wo"].T).reshape(B, T, H, D).transpose(0, 2, 1, 3)
        heads = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)
        q, k, v = heads[0], heads[1], heads[2]
        gqkv = np.empty((B, T, 3, H, D), F32)
        gheads = gqkv.transpose(2, 0, 3, 1, 4)
        gheads[2] = P.transpose(0, 1, 3, 2) @ gatt
        gP = gatt @ v.transpose(0, 1, 3, 2)
        # softmax backward in place: gS = P * (gP - sum(gP * P)), then the scale
        row = np.einsum("bhij,bhij->bhi", gP, P)[..., None]
        gP -= row
        gP *= P
        gP *= F32(1.0 / np.sqrt(D))
        gheads[0] = gP @ k
        gheads[1] = gP.transpose(0, 1, 3, 2) @ q
        gqkv2 = gqkv.reshape(M, 3 * C)
        np.matmul(h1.T, gqkv2, out=g["Wqkv"])
        np.matmul(ones_m, gqkv2, out=g["bqkv"])
        gx = self.ln1.backward(gqkv2 @ p["Wqkv"].T, g["ln1_w"], g["ln1_b"], ones_m)
        gx += gx1
        return gx.reshape(B, T, C)


def block_shapes(c: int, f: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, shape(c, f)) for name, shape in BLOCK_PARAMS]


def init_block(c: int, f: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Float64 weights of one block: normal(0, 0.02) products (the last ones scaled down as
    GPT-2), zero biases, layer norms at (1, 0)."""
    out: dict[str, np.ndarray] = {}
    for name, shape in block_shapes(c, f):
        if name.startswith("ln") and name.endswith("_w"):
            out[name] = np.ones(shape)
        elif name.startswith("W"):
            out[name] = 0.02 * rng.standard_normal(shape)
        else:
            out[name] = np.zeros(shape)
    return out


class FlatParams:
    """Named float32 arrays that are views into one flat parameter array and one flat
    gradient array (so an optimizer step is a handful of whole-array operations)."""

    def __init__(self, shapes: list[tuple[str, tuple[int, ...]]]) -> None:
        n = sum(int(np.prod(s)) for _, s in shapes)
        self.flat = np.zeros(n, F32)
        self.gflat = np.zeros(n, F32)
        self.p: dict[str, np.ndarray] = {}
        self.g: dict[str, np.ndarray] = {}
        i = 0
        for name, s in shapes:
            size = int(np.prod(s))
            self.p[name] = self.flat[i : i + size].reshape(s)
            self.g[name] = self.gflat[i : i + size].reshape(s)
            i += size


class AdamRef:
    """Adam (PyTorch's bias correction, no weight decay) on one flat array, in place."""

    def __init__(self, flat: np.ndarray, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = np.zeros_like(flat)
        self.v = np.zeros_like(flat)
        self.tmp = np.zeros_like(flat)
        self.k = 0

    def step(self, flat: np.ndarray, g: np.ndarray) -> None:
        self.k += 1
        b1, b2, m, v, tmp = self.b1, self.b2, self.m, self.v, self.tmp
        m *= b1
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        c1 = 1 - b1**self.k
        c2 = np.sqrt(1 - b2**self.k)
        np.sqrt(v, out=tmp)
        tmp *= 1 / c2
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / c1
        flat -= tmp


class GPTRef:
    """A character GPT by hand: token and position embeddings, n pre-norm blocks, a final
    layer norm and a head tied to the token embedding; mean cross-entropy over all (B, T)
    positions; Adam. `weights`: float64 arrays named wte (V, C), wpe (L, C), lnf_w, lnf_b and
    `{i}.{name}` per block (init_gpt)."""

    def __init__(
        self, weights: dict[str, np.ndarray], n_layers: int, n_heads: int, lr: float, gelu="none"
    ) -> None:
        shapes = [(k, w.shape) for k, w in weights.items()]
        self.fp = FlatParams(shapes)
        for k, w in weights.items():
            self.fp.p[k][...] = w
        p, g = self.fp.p, self.fp.g
        self.blocks = []
        for i in range(n_layers):
            sub = {n: p[f"{i}.{n}"] for n, _ in BLOCK_PARAMS}
            gsub = {n: g[f"{i}.{n}"] for n, _ in BLOCK_PARAMS}
            self.blocks.append(BlockRef(sub, gsub, n_heads, gelu))
        self.lnf = LayerNormRef(p["wte"].shape[1])
        self.opt = AdamRef(self.fp.flat, lr)

    def loss_and_grads(self, ids: np.ndarray, targets: np.ndarray) -> float:
        p, g = self.fp.p, self.fp.g
        B, T = ids.shape
        M, C = B * T, p["wte"].shape[1]
        x = p["wte"][ids]
        x += p["wpe"][:T]
        for blk in self.blocks:
            x = blk.forward(x)
        hf = self.lnf.forward(x.reshape(M, C), p["lnf_w"], p["lnf_b"])
        z = hf @ p["wte"].T  # (M, V)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        s = z.sum(axis=1)
        flat_t = np.arange(M) * z.shape[1] + targets.reshape(-1)
        loss = float(np.log(s).sum() - np.log(z.reshape(-1)[flat_t]).sum()) / M
        z /= s[:, None] * M
        z.reshape(-1)[flat_t] -= 1.0 / M  # dlogits = (softmax - onehot) / M
        ones_m = np.ones(M, F32)
        np.matmul(z.T, hf, out=g["wte"])  # the head's share of the tied weight
        gx = self.lnf.backward(z @ p["wte"], g["lnf_w"], g["lnf_b"], ones_m).reshape(B, T, C)
        for blk in reversed(self.blocks):
            gx = blk.backward(gx)
        np.add.at(g["wte"], ids.reshape(-1), gx.reshape(M, C))
        g["wpe"][...] = 0
        g["wpe"][:T] = gx.sum(axis=0)
        return loss

    def step(self, ids: np.ndarray, targets: np.ndarray) -> float:
        loss = self.loss_and_grads(ids, targets)
        self.opt.step(self.fp.flat, self.fp.gflat)
        return loss


def init_gpt(
    vocab: int, context: int, d_model: int, n_layers: int, d_ff: int, seed: int
) -> dict[str, np.ndarray]:
    """Float64 weights of GPTRef (and of the same model in minigrad and torch)."""
    rng = np.random.default_rng(seed)
    out = {
        "wte": 0.02 * rng.standard_normal((vocab, d_model)),
        "wpe": 0.02 * rng.standard_normal((context, d_model)),
    }
    for i in range(n_layers):
        for k, w in init_block(d_model, d_ff, rng).items():
            out[f"{i}.{k}"] = w
    out["lnf_w"] = np.ones(d_model)
    out["lnf_b"] = np.zeros(d_model)
    return out
