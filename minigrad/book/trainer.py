"""The book's `Trainer` (`common.trainer`): mini-batch training of a book-style network with
one of the book's optimizers, printing as the book prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.book.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from minigrad.core import Variable

__all__ = ["Trainer"]

_OPTIMIZERS: dict[str, type] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


class Trainer:
    """`Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
    optimizer='SGD', optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None,
    verbose=True)`.

    `train()` runs int(epochs * max(N / mini_batch_size, 1)) steps; each draws a batch with
    `np.random.choice(N, mini_batch_size)` (with replacement, as the book), updates
    `network.params` from `network.gradient`, records the loss after the update in
    `train_loss_list` and prints `train loss:...`. At the first step of each epoch it
    records and prints the train and test accuracies (on the first
    `evaluate_sample_num_per_epoch` images if given); at the end the whole test set's.
    The network needs the book's `params`, `gradient(x, t)`, `loss(x, t)` and
    `accuracy(x, t)`.
    """

    def __init__(
        self,
        network: Any,
        x_train: np.ndarray,
        t_train: np.ndarray,
        x_test: np.ndarray,
        t_test: np.ndarray,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str = "SGD",
        optimizer_param: Mapping[str, Any] | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        verbose: bool = True,
    ) -> None:
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        kind = _OPTIMIZERS.get(str(optimizer).lower())
        if kind is None:
            raise ValueError(
                f"Trainer: unknown optimizer {optimizer!r}; expected one of "
                f"{', '.join(_OPTIMIZERS)} (any case)"
            )
        self.optimizer = kind(**({"lr": 0.01} if optimizer_param is None else optimizer_param))
        if len(x_train) != len(t_train) or len(x_test) != len(t_test):
            raise ValueError(
                f"Trainer: {len(x_train)} training images but {len(t_train)} labels, "
                f"{len(x_test)} test images but {len(t_test)} labels"
            )
        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list: list[Any] = []
        self.train_acc_list: list[Any] = []
        self.test_acc_list: list[Any] = []

    def train_step(self) -> None:
        """One step: a batch, a gradient, an update, the loss; the accuracies at an epoch's
        first step."""
        batch_mask = np.random.choice(self.train_size, self.batch_size)  # noqa: NPY002 - the book's
        x_batch, t_batch = self.x_train[batch_mask], self.t_train[batch_mask]
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            # minigrad.nn's networks return a Variable: its value is what the book prints.
            print("train loss:" + str(loss.data[()] if isinstance(loss, Variable) else loss))
        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            n = self.evaluate_sample_num_per_epoch
            x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
            if n is not None:
                x_tr, t_tr, x_te, t_te = x_tr[:n], t_tr[:n], x_te[:n], t_te[:n]
            train_acc = self.network.accuracy(x_tr, t_tr)
            test_acc = self.network.accuracy(x_te, t_te)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose:
                print(
                    f"=== epoch:{self.current_epoch}, train acc:{train_acc}, "
                    f"test acc:{test_acc} ==="
                )
        self.current_iter += 1

    def train(self) -> None:
        """All the steps, then the test accuracy on the whole test set."""
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
