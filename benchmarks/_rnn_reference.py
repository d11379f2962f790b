"""A hand-written float32 NumPy LSTM language model, the reference of bench_rnn.py: embedding
-> one LSTM layer -> affine over the vocabulary -> softmax cross-entropy, trained by SGD with
truncated backprop through time (the state carried from batch to batch, its history cut).

The sequel's style (its TimeEmbedding, TimeLSTM, TimeAffine, TimeSoftmaxWithLoss): the four
gates of a step from one matmul `h @ Wh` plus the input's projection, made as fast as NumPy
allows here:
- the input's projection `x @ Wx + b` for all T steps in one matmul, and in backward `dWx`
  and `dx` for all steps in one matmul each (per step they are T small GEMMs);
- time-major arrays, so each step reads and writes contiguous (N, 4H) blocks;
- the gates' nonlinearities in place on slices of one (T, N, 4H) buffer, sigmoid as
  0.5 * tanh(0.5 x) + 0.5 (one transcendental pass);
- the embedding's gradient added by sorted ids and np.add.reduceat (np.add.at is ~10x
  slower);
- the loss's gradient formed in place in the softmax's buffer.

Weights in PyTorch's layout and gate order (i, f, g, o), so that minigrad's nn.LSTM can be
loaded with the same values: W_ih (4H, D), W_hh (4H, H), b_ih and b_hh (4H,); the affine
layer's W (H, V) as minigrad's Linear holds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _sigmoid_(a: np.ndarray) -> None:
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5


class LSTMLMReference:
    """`sgd_step(ids, targets, lr)` on (T, N) int ids: one forward, backward and SGD update;
    the state (h, c) carries over to the next call, cut from its history (truncated BPTT)."""

    def __init__(self, weights: dict[str, np.ndarray], dtype: Any = np.float32) -> None:
        dt = np.dtype(dtype)
        self.E = weights["embed"].astype(dt)  # (V, D)
        self.Wx = np.ascontiguousarray(weights["W_ih"].T, dtype=dt)  # (D, 4H)
        self.Wh = np.ascontiguousarray(weights["W_hh"].T, dtype=dt)  # (H, 4H)
        # Two biases, as PyTorch's layer has: each gets the gates' gradient in SGD.
        self.b_ih = weights["b_ih"].astype(dt)
        self.b_hh = weights["b_hh"].astype(dt)
        self.W = weights["W_out"].astype(dt)  # (H, V)
        self.bo = weights["b_out"].astype(dt)
        self.H = self.Wh.shape[0]
        self.h: np.ndarray | None = None
        self.c: np.ndarray | None = None

    def reset_state(self) -> None:
        self.h = self.c = None

    def sgd_step(self, ids: np.ndarray, targets: np.ndarray, lr: float) -> float:
        T, N = ids.shape
        H, dt = self.H, self.E.dtype
        # -- forward
        x = self.E[ids.reshape(-1)]  # (T*N, D)
        A = (x @ self.Wx).reshape(T, N, 4 * H)
        A += self.b_ih + self.b_hh
        hs = np.empty((T + 1, N, H), dt)  # hs[0] is the carried state
        cs = np.empty((T + 1, N, H), dt)
        tcs = np.empty((T, N, H), dt)
        hs[0] = 0 if self.h is None else self.h
        cs[0] = 0 if self.c is None else self.c
        Wh = self.Wh
        for t in range(T):
            a = A[t]
            a += hs[t] @ Wh
            _sigmoid_(a[:, : 2 * H])
            np.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
            _sigmoid_(a[:, 3 * H :])
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c = cs[t + 1]
            np.multiply(f, cs[t], out=c)
            c += i * g
            tc = tcs[t]
            np.tanh(c, out=tc)
            np.multiply(o, tc, out=hs[t + 1])
        self.h, self.c = hs[T].copy(), cs[T].copy()
        hflat = hs[1:].reshape(T * N, H)
        scores = hflat @ self.W
        scores += self.bo
        # softmax cross-entropy, mean over the T*N predictions, through logsumexp
        scores -= scores.max(axis=1, keepdims=True)
        rows = np.arange(T * N)
        t_flat = targets.reshape(-1)
        picked = float(scores[rows, t_flat].sum())
        np.exp(scores, out=scores)
        total = scores.sum(axis=1, keepdims=True)
        loss = (float(np.log(total).sum()) - picked) / (T * N)
        scores /= total
        # -- backward
        dscores = scores
        dscores[rows, t_flat] -= 1
        dscores /= T * N
        dW = hflat.T @ dscores
        dbo = dscores.sum(axis=0)
        dhs = (dscores @ self.W.T).reshape(T, N, H)
        dA = A  # each step's gate gradients overwrite its activations once read
        dWh = np.zeros_like(Wh)
        dh = np.zeros((N, H), dt)
        dc = np.zeros((N, H), dt)
        WhT = Wh.T
        for t in range(T - 1, -1, -1):
            a = A[t]
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            tc = tcs[t]
            dh += dhs[t]
            # dc += dh * o * (1 - tc^2)
            tmp = tc * tc
            np.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            do = dh * tc
            di = dc * g
            dg = dc * i
            df = dc * cs[t]
            dc *= f  # the carry into step t-1
            # the gates' local derivatives, written into A's block for this step
            di *= i * (1 - i)
            df *= f * (1 - f)
            dg *= 1 - g * g
            do *= o * (1 - o)
            a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :] = di, df, dg, do
            dWh += hs[t].T @ a
            np.matmul(a, WhT, out=dh)
        dAflat = dA.reshape(T * N, 4 * H)
        dWx = x.T @ dAflat
        db = dAflat.sum(axis=0)
        dx = dAflat @ self.Wx.T
        # embedding: rows of dx added at their ids, by sorted ids
        flat = ids.reshape(-1)
        order = np.argsort(flat, kind="stable")
        sid = flat[order]
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        dE_rows = np.add.reduceat(dx[order], starts, axis=0)
        # -- SGD
        self.E[sid[starts]] -= lr * dE_rows
        self.Wx -= lr * dWx
        self.Wh -= lr * dWh
        self.b_ih -= lr * db
        self.b_hh -= lr * db
        self.W -= lr * dW
        self.bo -= lr * dbo
        return loss

    def weights(self) -> dict[str, np.ndarray]:
        """The current weights in the layouts `init` took (PyTorch's for the LSTM)."""
        return {
            "embed": self.E,
            "W_ih": self.Wx.T,
            "W_hh": self.Wh.T,
            "b": self.b_ih + self.b_hh,
            "W_out": self.W,
            "b_out": self.bo,
        }


def init_weights(V: int, D: int, H: int, seed: int) -> dict[str, np.ndarray]:
    """float64 weights: embedding N(0, 1) / 10 (small, as the sequel's), LSTM U(+-1/sqrt(H))
    as PyTorch's, affine Xavier-ish N(0, 1/H), zero output bias."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    return {
        "embed": rng.standard_normal((V, D)) / 10,
        "W_ih": rng.uniform(-k, k, (4 * H, D)),
        "W_hh": rng.uniform(-k, k, (4 * H, H)),
        "b_ih": rng.uniform(-k, k, 4 * H),
        "b_hh": rng.uniform(-k, k, 4 * H),
        "W_out": rng.standard_normal((H, V)) / np.sqrt(H),
        "b_out": np.zeros(V),
    }
