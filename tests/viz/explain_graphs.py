"""Small graphs for the explorer's tests; each builder makes a fresh graph with the same
numbers, so a test can run `backward()` on one copy and `explain_backward` on another."""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad import F, Function, Variable
from minigrad.nn import TwoLayerNet


def scalar(v: float, name: str) -> Variable:
    return Variable(np.array(v), name=name)


def apple() -> tuple[Variable, dict[str, Variable]]:
    """The book's shopping example: price = (apple * 2 + orange * 3) * tax."""
    xs = {
        "apple": scalar(100.0, "apple"),
        "apple_num": scalar(2.0, "apple_num"),
        "orange": scalar(150.0, "orange"),
        "orange_num": scalar(3.0, "orange_num"),
        "tax": scalar(1.1, "tax"),
    }
    ap = xs["apple"] * xs["apple_num"]
    ap.name = "apple_price"
    op = xs["orange"] * xs["orange_num"]
    op.name = "orange_price"
    total = ap + op
    total.name = "all_price"
    price = total * xs["tax"]
    price.name = "price"
    return price, xs


def diamond() -> tuple[Variable, dict[str, Variable]]:
    """y = sum(exp(h) + 3h), h = tanh(x): h receives two contributions."""
    x = Variable(np.array([0.5, -1.0, 2.0]), name="x")
    h = x.tanh()
    h.name = "h"
    y = (h.exp() + h * 3.0).sum()
    y.name = "y"
    return y, {"x": x}


def square() -> tuple[Variable, dict[str, Variable]]:
    """x * x: one op sends two contributions to the same Variable."""
    x = scalar(3.0, "x")
    y = x * x
    y.name = "y"
    return y, {"x": x}


def triple() -> tuple[Variable, dict[str, Variable]]:
    """(x + x) + x: a third contribution is added into the engine's sum in place."""
    x = Variable(np.array([1.0, 2.0], dtype=np.float32), name="x")
    y = ((x + x) + x).sum()
    return y, {"x": x}


def broadcast() -> tuple[Variable, dict[str, Variable]]:
    """A bias broadcast over a batch: its gradient is summed back to its shape."""
    rng = np.random.default_rng(3)
    a = Variable(rng.standard_normal((3, 4)), name="a")
    b = Variable(rng.standard_normal(4), name="b")
    y = ((a * b + b) ** 2).mean()
    return y, {"a": a, "b": b}


class Twice(Function):
    """A user Function with two outputs and a declared rule: (2x, x**2)."""

    rule = "gx = 2 * gy0 + 2 * x * gy1"

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 2 * x, x * x

    def backward(self, gy0: Any, gy1: Any) -> Any:
        (x,) = self.saved_inputs
        return 2 * gy0 + 2 * x * gy1


class Cube(Function):
    """A user Function without a rule: x**3."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x**3

    def backward(self, gy: Any) -> Any:
        (x,) = self.saved_inputs
        return 3 * x * x * gy


def custom() -> tuple[Variable, dict[str, Variable]]:
    x = Variable(np.array([0.5, -2.0]), name="x")
    a, b = Twice()(x)
    y = (Cube()(a) + b).sum()
    return y, {"x": x}


def net(dtype: Any = np.float32) -> tuple[Variable, dict[str, Variable]]:
    """TwoLayerNet(4, 3, 2) on a batch of two."""
    state = np.random.get_state()  # noqa: NPY002 - TwoLayerNet draws from the global generator
    np.random.seed(0)  # noqa: NPY002
    model = TwoLayerNet(4, 3, 2, weight_init_std=0.5, dtype=dtype)
    np.random.set_state(state)  # noqa: NPY002
    x = Variable(np.linspace(0, 1, 8, dtype=dtype).reshape(2, 4), name="x", requires_grad=False)
    loss = model.loss(x, np.array([0, 1]))
    loss.name = "loss"
    return loss, dict(model.named_parameters())


def second_order() -> tuple[Variable, dict[str, Variable]]:
    """The sum of dy/dx for y = x * tanh(x), recorded with create_graph=True."""
    x = Variable(np.array([-1.0, 0.25, 0.5]), name="x")
    y = (x * F.tanh(x)).sum()
    (gx,) = mg.grad(y, x, create_graph=True)
    z = gx.sum()
    z.name = "z"
    return z, {"x": x}


BUILDERS = {
    "apple": apple,
    "diamond": diamond,
    "square": square,
    "triple": triple,
    "broadcast": broadcast,
    "custom": custom,
    "net": net,
    "second_order": second_order,
}
