"""Module-like classes for the cluster tests, duck-typed like `minigrad.nn.Module`: they
record their calls as `nn.module.runs_as_call` makes a method do, and list `named_children` / `named_parameters`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minigrad import F, Parameter, Variable
from minigrad.nn.module import runs_as_call


class Mod:
    @runs_as_call
    def __call__(self, *args: Any) -> Variable:
        return self.forward(*args)

    def forward(self, *args: Any) -> Variable:
        raise NotImplementedError

    def named_children(self) -> Iterator[tuple[str, Mod]]:
        for k, v in vars(self).items():
            if isinstance(v, Mod):
                yield k, v
            elif isinstance(v, list):
                yield from ((f"{k}.{i}", m) for i, m in enumerate(v))

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for k, v in vars(self).items():
            if isinstance(v, Parameter):
                yield k, v
        for name, child in self.named_children():
            yield from ((f"{name}.{n}", p) for n, p in child.named_parameters())


class Lin(Mod):
    def __init__(self, n_in: int, n_out: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.standard_normal((n_in, n_out)).astype(np.float32), name="W")
        self.b = Parameter(np.zeros(n_out, np.float32), name="b")

    def forward(self, x: Any) -> Variable:
        return F.linear(x, self.W, self.b)


class Act(Mod):
    def forward(self, x: Any) -> Variable:
        return F.relu(x)


class Net(Mod):
    """fc1 -> act -> fc2 -> softmax cross-entropy: 4 ops, 4 parameters."""

    def __init__(self) -> None:
        self.fc1 = Lin(6, 5, seed=1)
        self.act = Act()
        self.fc2 = Lin(5, 3, seed=2)

    def forward(self, x: Any, t: Any) -> Variable:
        return F.softmax_cross_entropy(self.fc2(self.act(self.fc1(x))), t)


class Stack(Mod):
    """A list of blocks, named blocks.0, blocks.1."""

    def __init__(self) -> None:
        self.blocks = [Lin(4, 4, seed=3), Lin(4, 4, seed=4)]

    def forward(self, x: Any) -> Variable:
        for b in self.blocks:
            x = b(x).tanh()
        return x
