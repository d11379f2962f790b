"""Training steps to compare: minigrad (idiomatic and the book's way), the hand-written NumPy
references, PyTorch; all built from the same initial weights and fed the same batches.

A trainer is an object with `step(x, t)` (one SGD step on a batch), `weights()` (the current
weights as a list of ndarrays, W1, b1, W2, b2, ...) and `dtype` (which batch dtype it takes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _reference import BookNet, LeanNet

__all__ = [
    "Lean",
    "MinigradBook",
    "MinigradIdiomatic",
    "Reference",
    "TorchTrainer",
    "init_weights",
]

Weights = list[tuple[np.ndarray, np.ndarray]]


def init_weights(sizes: list[int], std: float | str, seed: int) -> Weights:
    """(W, b) per layer in float64: W ~ std * N(0, 1) (or He: sqrt(2 / fan_in)), b = 0."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        s = np.sqrt(2.0 / n_in) if std == "he" else float(std)
        out.append((s * rng.standard_normal((n_in, n_out)), np.zeros(n_out)))
    return out


def _load_minigrad(net: Any, weights: Weights) -> list[Any]:
    """Copy weights into the net's parameters (in order W, b per layer); return them."""
    params = list(net.parameters())
    flat = [a for pair in weights for a in pair]
    if [p.shape for p in params] != [a.shape for a in flat]:
        raise ValueError(
            f"bench: the net's parameter shapes {[p.shape for p in params]} do not match the "
            f"weights {[a.shape for a in flat]}"
        )
    for p, a in zip(params, flat):
        p.data[...] = a
    return params


def _minigrad_net(weights: Weights) -> Any:
    """TwoLayerNet for two layers (the book's model), MLP for more, in float32."""
    from minigrad.nn import MLP, TwoLayerNet

    sizes = [weights[0][0].shape[0]] + [W.shape[1] for W, _ in weights]
    net: Any
    if len(weights) == 2:
        net = TwoLayerNet(sizes[0], sizes[1], sizes[2], dtype=np.float32)
    else:
        net = MLP(sizes, dtype=np.float32)
    _load_minigrad(net, weights)
    return net


class MinigradIdiomatic:
    """`loss = net.loss(x, t); opt.zero_grad(); loss.backward(); opt.step()` with optim.SGD."""

    dtype = np.float32

    def __init__(self, weights: Weights, lr: float) -> None:
        from minigrad.optim import SGD

        self.net = _minigrad_net(weights)
        self.opt = SGD(self.net.parameters(), lr=lr)

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        loss = self.net.loss(x, t)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def weights(self) -> list[np.ndarray]:
        return [p.data for p in self.net.parameters()]


class MinigradBook:
    """The book's loop on minigrad: `grads = net.gradient(x, t)`, `params[k] -= lr * grads[k]`."""

    dtype = np.float32

    def __init__(self, weights: Weights, lr: float) -> None:
        if len(weights) != 2:
            raise ValueError("MinigradBook: the book's loop is for TwoLayerNet (two layers)")
        self.net = _minigrad_net(weights)
        self.lr = lr

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        params = self.net.params
        grads = self.net.gradient(x, t)
        for key in params:
            params[key] -= self.lr * grads[key]

    def weights(self) -> list[np.ndarray]:
        return [p.data for p in self.net.parameters()]


class Reference:
    """The hand-written book layers (`BookNet`) in float64 or float32, `lean` or not."""

    def __init__(self, weights: Weights, lr: float, dtype: Any, lean: bool) -> None:
        self.dtype = dtype
        self.net = BookNet(weights, dtype, lean=lean)
        self.lr = lr

    def step(self, x: np.ndarray, t: np.ndarray) -> None:
        self.net.sgd_step(x, t, self.lr)

    def weights(self) -> list[np.ndarray]:
        return list(self.net.params.values())


class Lean:
    """`LeanNet`: the same step written by hand as fast as NumPy allows, float32, lean."""

    dtype = np.float32

    def __init__(self, weights: Weights, lr: float) -> None:
        self.net = LeanNet(weights, lr)
        self.step = self.net.step

    def weights(self) -> list[np.ndarray]:
        return list(self.net.params)


class TorchTrainer:
    """PyTorch eager float32, written as fast as its public API allows: `torch.addmm` (x @ W + b
    in one op), `torch.relu`, `F.cross_entropy`, `loss.backward()`, then the SGD update by
    hand, `p.sub_(p.grad, alpha=lr)` under `torch.no_grad()`, and `p.grad = None`: the same
    update as `torch.optim.SGD`, whose `step()` + `zero_grad()` cost ~30 us more per step
    here (benchmarks/FINDINGS.md).

    Batches are converted once, outside the timed step (`torch_batch`), like DataLoader output.
    """

    dtype = np.float32

    def __init__(self, torch: Any, weights: Weights, lr: float) -> None:
        self.torch = torch
        self.params = []
        for W, b in weights:
            self.params.append(torch.tensor(W, dtype=torch.float32, requires_grad=True))
            self.params.append(torch.tensor(b, dtype=torch.float32, requires_grad=True))
        self.lr = lr
        self._cross_entropy = torch.nn.functional.cross_entropy

    def torch_batch(self, x: np.ndarray, t: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(x), self.torch.from_numpy(t)

    def step(self, x: Any, t: Any) -> None:
        torch = self.torch
        params = self.params
        h = x
        last = len(params) - 2
        for i in range(0, last, 2):
            h = torch.relu(torch.addmm(params[i + 1], h, params[i]))
        loss = self._cross_entropy(torch.addmm(params[last + 1], h, params[last]), t)
        loss.backward()
        lr = self.lr
        with torch.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=lr)
                p.grad = None

    def weights(self) -> list[np.ndarray]:
        return [p.detach().numpy() for p in self.params]
