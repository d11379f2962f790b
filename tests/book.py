"""The two scripts of the book's chapter 5, step by step, as functions of the loader and the
network class (so the tests can run them on minigrad's `load_mnist` and `TwoLayerNet`, as a
reader would after replacing the scripts' two import lines).

Written for these tests; each step follows the script's, in the same order, with what it
prints collected as lines:

- `gradient_check`: load MNIST with one-hot labels, build a 784-50-10 network, compute the
  numerical and the backpropagated gradients on the first 3 images, print
  `key:mean absolute difference` per parameter;
- `train_neuralnet`: SGD with learning rate 0.1 on random mini-batches of 100, the update
  written on `network.params`, the loss recomputed after each update and kept in a list, and
  `train_acc test_acc` printed once per epoch (every 600 iterations, from the first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def gradient_check(load_mnist: Callable[..., Any], TwoLayerNet: type) -> list[str]:  # noqa: N803
    """The book's ch05/gradient_check.py; returns the lines it prints."""
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    x_batch = x_train[:3]
    t_batch = t_train[:3]
    grad_numerical = network.numerical_gradient(x_batch, t_batch)
    grad_backprop = network.gradient(x_batch, t_batch)
    lines = []
    for key in grad_numerical.keys():
        diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
        lines.append(key + ":" + str(diff))
    return lines


@dataclass
class Training:
    """What the training script leaves behind: its printed lines and its lists."""

    lines: list[str] = field(default_factory=list)
    train_loss_list: list[Any] = field(default_factory=list)
    train_acc_list: list[Any] = field(default_factory=list)
    test_acc_list: list[Any] = field(default_factory=list)
    network: Any = None


def train_neuralnet(
    load_mnist: Callable[..., Any],
    TwoLayerNet: type,  # noqa: N803
    iters_num: int = 10000,
    after_step: Callable[[int], None] | None = None,
) -> Training:
    """The book's ch05/train_neuralnet.py (10,000 iterations unless `iters_num` says
    otherwise); `after_step(i)`, if given, is called after each iteration (to measure)."""
    out = Training()
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    out.network = network
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)  # noqa: NPY002 - the book's
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]
        grad = network.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        loss = network.loss(x_batch, t_batch)
        out.train_loss_list.append(loss)
        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            test_acc = network.accuracy(x_test, t_test)
            out.train_acc_list.append(train_acc)
            out.test_acc_list.append(test_acc)
            out.lines.append(" ".join(map(str, (train_acc, test_acc))))  # print(a, b)
        if after_step is not None:
            after_step(i)
    return out
