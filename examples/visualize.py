"""Draw computational graphs recorded by minigrad.

Writes, into --out (default out/):

- apple_forward.png / apple_backward.png: the book's chapter 5 example, the price of 2 apples
  and 3 oranges with 10% tax, with the values of the forward pass and then the gradients of
  the backward pass (d price / d apple = 2.2, d price / d tax = 650, ...);
- diamond.png: a small expression that uses one value twice, drawn once with two out-edges;
- two_layer_net.png / two_layer_net_collapsed.png: TwoLayerNet's loss on a mini-batch of 100
  MNIST-shaped images (real MNIST when $MINIGRAD_DATA has it, else random data), with each
  layer call boxed, then each layer drawn as one node;
- second_order.png: the graph that create_graph=True records for dy/dx of y = tanh(x): the
  backward pass as ops of its own, ready to be differentiated again, starting from its seed
  (dy/dy = 1, a constant, named in the picture);
- explain_apple.html / explain_two_layer_net.html: the backward pass of the shopping example
  and of a small TwoLayerNet on a batch of two, step by step, in the engine's order, with the
  numbers (open them in a browser: arrow keys, buttons, `#step=3` in the address);
- explain_apple.gif: the same steps of the shopping example as an animation (an animated
  PNG, explain_apple.png, where Pillow is missing).

Prints the path of each file written. Needs a renderer (graphviz-pure, installed with minigrad,
or Graphviz's `dot`); `--format dot` writes the DOT sources and needs none.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import minigrad as mg
from minigrad import Variable
from minigrad.nn import TwoLayerNet
from minigrad.viz import draw_graph, explain_backward


def named(v: Variable, name: str) -> Variable:
    v.name = name
    return v


def scalar(value: float, name: str) -> Variable:
    # float64, like the book's Python numbers: 2 * 100 * 1.1 prints as 220.0, not 220.00002
    return Variable(np.array(value), name=name)


def apple_orange() -> tuple[dict[str, Variable], Variable]:
    """The book's figure: price = (apple * apple_num + orange * orange_num) * tax."""
    inputs = {
        "apple": scalar(100.0, "apple"),
        "apple_num": scalar(2.0, "apple_num"),
        "orange": scalar(150.0, "orange"),
        "orange_num": scalar(3.0, "orange_num"),
        "tax": scalar(1.1, "tax"),
    }
    apple_price = named(inputs["apple"] * inputs["apple_num"], "apple_price")
    orange_price = named(inputs["orange"] * inputs["orange_num"], "orange_price")
    all_price = named(apple_price + orange_price, "all_price")
    price = named(all_price * inputs["tax"], "price")
    for v in (apple_price, orange_price, all_price, price):
        v.retain_grad()  # the book's figure shows the gradient on every edge
    return inputs, price


def grad_of(v: Variable) -> float:
    """The gradient of a one-element Variable after backward, as a number."""
    if v.grad is None:
        raise RuntimeError(f"{v.name} has no gradient")
    return float(v.grad.item())


def diamond() -> Variable:
    """y = sum(exp(h) + 3h) with h = tanh(x): h feeds two ops."""
    x = Variable(np.array([0.5, -1.0, 2.0], dtype=np.float32), name="x")
    h = named(x.tanh(), "h")
    return named((h.exp() + h * 3.0).sum(), "y")


def mnist_batch(n: int = 100) -> tuple[np.ndarray, np.ndarray, str]:
    """n training images (n, 784) float32 and labels: real MNIST if $MINIGRAD_DATA has it."""
    if os.environ.get("MINIGRAD_DATA"):
        from minigrad.data import load_mnist

        try:
            (x, t), _ = load_mnist(download=False)
            return x[:n], t[:n], "MNIST"
        except Exception as e:  # any failure: the picture does not need real data
            print(f"MNIST not loaded ({type(e).__name__}: {e}); using random data", file=sys.stderr)
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), "random data"


def two_layer_net_loss() -> tuple[Variable, str]:
    net = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    x, t, source = mnist_batch()
    xv = Variable(x, name="x", requires_grad=False)
    tv = Variable(t, name="t", requires_grad=False)
    return named(net(xv, tv), "loss"), source  # a module call: the whole net is boxed too


SEED = "seed dy/dy = 1"


def tanh_derivative() -> Variable:
    """dy/dx of y = tanh(x), recorded as a graph (create_graph=True).

    A backward pass starts from a seed, the gradient of the output with respect to itself
    (ones). It is a constant of the recorded graph; named here, the picture shows where it
    enters: dy/dx = seed * (1 - y * y)."""
    x = Variable(np.array([-1.0, 0.0, 0.5]), name="x")
    y = named(x.tanh(), "y")
    seed = Variable(np.ones(3), name=SEED, requires_grad=False)
    (gx,) = mg.grad(y, x, grad_outputs=seed, create_graph=True)
    return named(gx, "dy/dx")


def small_net_loss() -> Variable:
    """TwoLayerNet(4, 3, 2) on a batch of two: small enough that every number shows."""
    state = np.random.get_state()  # noqa: NPY002 - TwoLayerNet draws from the global generator
    np.random.seed(0)  # noqa: NPY002
    net = TwoLayerNet(input_size=4, hidden_size=3, output_size=2, weight_init_std=0.5)
    np.random.set_state(state)  # noqa: NPY002
    x = np.array([[0.1, 0.5, 0.9, 0.3], [0.8, 0.2, 0.4, 0.6]], dtype=np.float32)
    xv = Variable(x, name="x", requires_grad=False)
    return named(net.loss(xv, np.array([0, 1])), "loss")


def explain_all(out: str) -> list[str]:
    """Write the backward explorers (and the animation) into `out`; return the paths."""
    _, price = apple_orange()
    trace = explain_backward(price, check=True, rankdir="LR")
    title = "The book's shopping example: the backward pass, step by step"
    written = [trace.save_html(os.path.join(out, "explain_apple.html"), title=title)]
    try:
        written.append(trace.save_gif(os.path.join(out, "explain_apple.gif")))
    except ImportError:  # no Pillow: an animated PNG needs nothing more
        written.append(trace.save_gif(os.path.join(out, "explain_apple.png")))
    trace = explain_backward(small_net_loss(), check=True)
    title = "TwoLayerNet(4, 3, 2) on a batch of two: the backward pass, step by step"
    written.append(trace.save_html(os.path.join(out, "explain_two_layer_net.html"), title=title))
    return written


def draw_all(out: str, fmt: str = "png") -> list[str]:
    """Draw every picture into the folder `out`; return the paths written."""

    def path(name: str) -> str:
        return os.path.join(out, f"{name}.{fmt}")

    inputs, price = apple_orange()
    title = f"price of 2 apples and 3 oranges with 10% tax = {price.item():g}"
    written = [
        draw_graph(price, path=path("apple_forward"), rankdir="LR", show_values=True, title=title)
    ]
    price.backward()
    grads = ", ".join(f"dprice/d{k} = {grad_of(v):g}" for k, v in inputs.items())
    written.append(
        draw_graph(
            price,
            path=path("apple_backward"),
            rankdir="LR",
            show_values=True,
            show_grads=True,
            show_shapes=False,  # all scalars: values and gradients say it all
            show_dtypes=False,
            title=f"backward: {grads}",
        )
    )
    title = "a diamond: h = tanh(x) feeds two ops, and is drawn once"
    written.append(draw_graph(diamond(), path=path("diamond"), legend=True, title=title))

    loss, source = two_layer_net_loss()
    title = f"TwoLayerNet(784, 50, 10): the loss of a batch of 100 ({source})"
    written.append(draw_graph(loss, path=path("two_layer_net"), title=title, legend=True))
    title += ", each layer as one node"
    written.append(
        draw_graph(loss, path=path("two_layer_net_collapsed"), collapse_modules=2, title=title)
    )
    title = (
        "dy/dx of y = tanh(x), recorded with create_graph=True:\n"
        "the backward pass starts from its seed dy/dy = 1 (a constant) and multiplies it by 1 - y*y"
    )
    written.append(
        draw_graph(tanh_derivative(), path=path("second_order"), title=title, legend=True)
    )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Draw the computational graphs of a few minigrad computations.",
    )
    parser.add_argument("--out", default="out/", help="folder to write into (default: out/)")
    parser.add_argument(
        "--format",
        choices=["png", "svg", "dot"],
        default="png",
        help="picture format, or dot for the DOT sources alone (and no explorer pages) "
        "(default: png)",
    )
    args = parser.parse_args(argv)
    for p in draw_all(args.out, args.format):
        print(p, flush=True)
    if args.format != "dot":  # the explorers draw their graphs: they need the renderer
        for p in explain_all(args.out):
            print(p, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
