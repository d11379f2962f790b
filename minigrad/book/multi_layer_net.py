"""The book's fully connected networks (`common.multi_layer_net`), engine-native.

`MultiLayerNet` here, `MultiLayerNetExtend` (dropout and batch norm) in
`minigrad.book.multi_layer_net_extend`; both `Module`s built from minigrad's layers, with the
book's signatures and interface: `params` (W1, b1, ..., then gamma1, beta1, ...: the book's
keys and order, a `ParamDict` like every book-style network's), `layers` (the book's
OrderedDict names), `last_layer`, `predict(x)` and `loss(x, t)` returning arrays and numbers
as the book's do, `accuracy`, `gradient(x, t)` by autograd and the book's
`numerical_gradient`. Weights are drawn from NumPy's global generator in the book's order, so
a seeded script starts from the book's weights; float64 unless `dtype=` says otherwise.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.book.functions import cross_entropy_error, softmax
from minigrad.book.gradient import numerical_gradient as _numerical
from minigrad.book.layers import batch_norm
from minigrad.core import Parameter, Variable, enable_grad, no_grad
from minigrad.nn.layers import Affine, BookDropout, Relu, Sigmoid
from minigrad.nn.losses import SoftmaxWithLoss
from minigrad.nn.models import _BookNet
from minigrad.nn.module import Module

__all__ = ["MultiLayerNet"]

_ACTIVATIONS: dict[str, type[Module]] = {"sigmoid": Sigmoid, "relu": Relu}


def _scale(weight_init_std: Any, fan_in: int) -> Any:
    """The book's weight scale: He for 'relu'/'he', Xavier for 'sigmoid'/'xavier', else the
    number given."""
    kind = str(weight_init_std).lower()
    if kind in ("relu", "he"):
        return np.sqrt(2.0 / fan_in)
    if kind in ("sigmoid", "xavier"):
        return np.sqrt(1.0 / fan_in)
    if isinstance(weight_init_std, str):
        raise ValueError(
            f"weight_init_std: unknown {weight_init_std!r}; expected a number or one of "
            "'relu', 'he', 'sigmoid', 'xavier'"
        )
    return weight_init_std


class _BatchNorm(Module):
    """The book's batch norm as a Module (see `minigrad.book.layers.batch_norm`): gamma and
    beta Parameters, running statistics starting at zeros, momentum 0.9."""

    running_mean: np.ndarray
    running_var: np.ndarray

    def __init__(self, gamma: Parameter, beta: Parameter, momentum: float = 0.9) -> None:
        super().__init__()
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        d, dt = gamma.shape[0], gamma.dtype
        self.register_buffer("running_mean", np.zeros(d, dt))
        self.register_buffer("running_var", np.zeros(d, dt))

    def forward(self, x: Any, train_flg: bool | None = None) -> Variable:
        training = self.training if train_flg is None else bool(train_flg)
        xv = x if isinstance(x, Variable) else Variable(np.asarray(x), requires_grad=False)
        shape = xv.shape
        d = self.gamma.shape[0]
        if len(shape) < 2 or int(np.prod(shape[1:])) != d:
            raise ValueError(
                f"BatchNormalization({d}): expected an input of shape (N, {d}) or (N, ...) "
                f"with {d} values per row, got {shape}"
            )
        flat = xv.reshape(shape[0], d) if len(shape) != 2 else xv
        out, (mean, var) = batch_norm(
            flat,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            training,
            self.momentum,
        )
        self.running_mean[...] = mean
        self.running_var[...] = var
        return out.reshape(*shape) if len(shape) != 2 else out


class _MultiLayer(_BookNet):
    """What the two fully connected book networks share (see the module)."""

    def _build(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str,
        weight_init_std: Any,
        weight_decay_lambda: float,
        dtype: Any,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
    ) -> None:
        name = type(self).__name__
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation must be 'relu' or 'sigmoid', got {activation!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"{name}: dtype must be floating, got {self.dtype}")
        sizes = [input_size, *hidden_size_list, output_size]
        for n in sizes:
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
                raise ValueError(f"{name}: layer sizes must be positive ints, got {sizes}")
        self.input_size, self.output_size = input_size, output_size
        self.hidden_size_list = list(hidden_size_list)
        self.hidden_layer_num = len(hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.use_dropout, self.use_batchnorm = use_dropout, use_batchnorm
        named: list[tuple[str, Parameter]] = []

        def param(key: str, value: np.ndarray) -> Parameter:
            p = Parameter(value, name=key, dtype=self.dtype)
            setattr(self, key, p)
            named.append((key, p))
            return p

        for idx in range(1, len(sizes)):
            # Drawn in float64 in the book's order, then cast.
            shape = (sizes[idx - 1], sizes[idx])
            w = _scale(weight_init_std, sizes[idx - 1]) * np.random.randn(*shape)  # noqa: NPY002
            param(f"W{idx}", w)
            param(f"b{idx}", np.zeros(sizes[idx]))
        self.layers: OrderedDict[str, Module] = OrderedDict()
        P = dict(named)
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers[f"Affine{idx}"] = Affine(P[f"W{idx}"], P[f"b{idx}"])
            if use_batchnorm:
                n = hidden_size_list[idx - 1]
                gamma, beta = param(f"gamma{idx}", np.ones(n)), param(f"beta{idx}", np.zeros(n))
                self.layers[f"BatchNorm{idx}"] = _BatchNorm(gamma, beta)
            self.layers[f"Activation_function{idx}"] = _ACTIVATIONS[activation]()
            if use_dropout:
                self.layers[f"Dropout{idx}"] = BookDropout(dropout_ration)
        last = self.hidden_layer_num + 1
        self.layers[f"Affine{last}"] = Affine(P[f"W{last}"], P[f"b{last}"])
        self._layer_list = tuple(self.layers.items())
        self.lastLayer = SoftmaxWithLoss()
        self._init_params(named)

    @property
    def last_layer(self) -> SoftmaxWithLoss:
        """The book's name of the loss layer."""
        return self.lastLayer

    def _logits(self, x: Any, train_flg: bool) -> Variable:
        for key, layer in self._layer_list:
            if key.startswith(("Dropout", "BatchNorm")):
                x = layer(x, train_flg)
            else:
                x = layer(x)
        return x

    def forward(self, x: Any, t: Any = None) -> Variable:
        """Logits (N, output_size) as a Variable, in the module's mode (`train()`/`eval()`);
        with targets t, the loss Variable (cross-entropy plus the weight decay)."""
        y = self._logits(x, self.training)
        return y if t is None else self._loss_variable(y, t)

    def _loss_variable(self, y: Variable, t: Any) -> Variable:
        t = np.asarray(t)
        loss = self.lastLayer(y, t if t.ndim == 1 else t.astype(y.dtype, copy=False))
        lam = self.weight_decay_lambda
        if lam:
            for idx in range(1, self.hidden_layer_num + 2):
                W = getattr(self, f"W{idx}")  # the Parameter (set by _build)
                loss = loss + (0.5 * lam) * F.sum(W * W)
        return loss

    def predict(self, x: Any, train_flg: bool = False) -> np.ndarray:  # type: ignore[override]
        """Logits (N, output_size) as an ndarray, as the book's predict returns them."""
        with no_grad():
            return self._logits(x, train_flg).data

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        """The book's loss, a number: its cross-entropy of softmax(predict(x)) (log(y + 1e-7))
        plus 0.5 * weight_decay_lambda * sum(W**2) over the weights."""
        y = self.predict(x, train_flg)
        decay: Any = 0
        for idx in range(1, self.hidden_layer_num + 2):
            W = self._params[f"W{idx}"]
            decay += 0.5 * self.weight_decay_lambda * np.sum(W**2)
        return cross_entropy_error(softmax(y), t) + decay

    def accuracy(self, x: Any, t: Any) -> Any:
        """The fraction of rows whose largest logit is the label (t: indices or one-hot)."""
        y = np.argmax(self.predict(x, train_flg=False), axis=1)
        t = np.asarray(t)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def _grad_keys(self) -> list[str]:
        keys = []
        for idx in range(1, self.hidden_layer_num + 2):
            keys += [f"W{idx}", f"b{idx}"]
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                keys += [f"gamma{idx}", f"beta{idx}"]
        return keys

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """The gradients of the loss (in training mode: dropout masks drawn, batch statistics)
        by autograd, keyed like params, in the book's order."""
        named = dict(self._named)
        for p in named.values():
            p.grad = None
        with enable_grad():
            self._loss_variable(self._logits(x, True), t).backward()
        grads = {}
        for k in self._grad_keys():
            g = named[k].grad
            grads[k] = np.zeros_like(named[k].data) if g is None else g.data
        return grads

    def numerical_gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:  # type: ignore[override]
        """The book's central differences (h = 1e-4) of the loss in training mode, for every
        element of every parameter, in the book's order: slow, for small checks."""
        train = self.use_dropout or self.use_batchnorm

        def f(_: Any) -> Any:
            return self.loss(x, t, train_flg=True) if train else self.loss(x, t)

        return {k: _numerical(f, self._params[k]) for k in self._grad_keys()}


class MultiLayerNet(_MultiLayer):
    """`MultiLayerNet(input_size, hidden_size_list, output_size, activation='relu',
    weight_init_std='relu', weight_decay_lambda=0, dtype=np.float64)`: Affine ->
    activation, once per hidden size, then Affine, and the softmax cross-entropy; the loss
    adds 0.5 * weight_decay_lambda * sum(W**2). `weight_init_std` is a number or 'relu'/'he'
    (sqrt(2 / fan_in)) or 'sigmoid'/'xavier' (sqrt(1 / fan_in)). See the module."""

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: Any = "relu",
        weight_decay_lambda: float = 0,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self._build(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            dtype,
        )
