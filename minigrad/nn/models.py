"""Models: the book's `TwoLayerNet` and its generalisation `MLP`, both classifiers trained with
softmax cross-entropy and both `Module`s."""

from __future__ import annotations

import functools
import os
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from minigrad._pickle import read_weights_pickle
from minigrad.core import Parameter, Variable, _local, get_default_dtype, no_grad
from minigrad.nn import init as _init
from minigrad.nn.layers import Affine, Linear, ReLU, Relu, Sigmoid, Tanh
from minigrad.nn.losses import SoftmaxWithLoss
from minigrad.nn.module import IncompatibleKeys, Module, runs_as_call
from minigrad.nn.params import HandedOut, ParamDict

__all__ = ["TwoLayerNet", "MLP"]


class _Classifier(Module):
    """What TwoLayerNet and MLP share: `predict` gives logits, `lastLayer` the loss."""

    lastLayer: SoftmaxWithLoss

    def predict(self, x: Variable | np.ndarray) -> Variable:
        """Logits (N, classes) for x (N, features)."""
        raise NotImplementedError(f"{type(self).__name__}.predict is not implemented")

    def forward(self, x: Variable | np.ndarray, t: Any = None) -> Variable:
        """`predict(x)`, or `loss(x, t)` when targets are given."""
        return self.predict(x) if t is None else self.loss(x, t)

    @runs_as_call
    def loss(self, x: Variable | np.ndarray, t: Any) -> Variable:
        """Mean softmax cross-entropy of the logits against t ((N,) indices or (N, C) one-hot)."""
        return self.lastLayer(self.predict(x), t)

    def accuracy(self, x: Variable | np.ndarray, t: Any) -> float:
        """The fraction of rows whose largest logit is the label (t: indices or one-hot)."""
        with no_grad():
            y = self.predict(x).data
        t = np.asarray(t.data if isinstance(t, Variable) else t)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        if len(t) != len(y) or len(y) == 0:
            raise ValueError(
                f"accuracy: {len(y)} predictions and {len(t)} labels (need the same, non-zero "
                "number)"
            )
        return float(np.count_nonzero(np.argmax(y, axis=1) == t) / len(y))

    def _param_items(self) -> Sequence[tuple[str, Parameter]]:
        return list(self.named_parameters())

    def gradient(self, x: Variable | np.ndarray, t: Any) -> dict[str, np.ndarray]:
        """The book's `gradient`, by autograd: clears the old gradients, runs `loss(x, t)` and
        its backward, and returns {parameter name: gradient ndarray}."""
        items = self._param_items()
        for _, p in items:
            p.grad = None
        self.loss(x, t).backward()
        return {name: np.zeros_like(p.data) if p.grad is None else p.grad.data for name, p in items}

    def numerical_gradient(
        self, x: Variable | np.ndarray, t: Any, h: float = 1e-4
    ) -> dict[str, np.ndarray]:
        """The book's central differences (f(w + h) - f(w - h)) / 2h for every element of every
        parameter, computed in the parameters' dtype (float32 warns: too coarse for a check).
        Two forward passes per element: slow, for checking `gradient` on small nets (in
        float64)."""
        items = self._param_items()
        low = sorted({str(p.dtype) for _, p in items if np.finfo(p.dtype).bits < 64})
        if low:
            warnings.warn(
                f"numerical_gradient: the parameters are {', '.join(low)}, whose rounding "
                f"(about {np.finfo(low[0]).eps:.0e} of the loss) divided by 2h = {2 * h:g} "
                "makes each numerical gradient off by up to about 1e-3; the book's check, in "
                "float64, agrees to 1e-10. Build the model with dtype=np.float64 to check "
                "gradients.",
                stacklevel=2,
            )
        grads = {}
        with no_grad():
            for name, p in items:
                flat = p.data.reshape(-1)
                if not np.shares_memory(flat, p.data):
                    raise ValueError(f"numerical_gradient: parameter {name} is not contiguous")
                g = np.zeros_like(p.data)
                gflat = g.reshape(-1)
                for i in range(flat.size):
                    orig = flat[i]
                    flat[i] = orig + h
                    fp = float(self.loss(x, t).data)
                    flat[i] = orig - h
                    fm = float(self.loss(x, t).data)
                    flat[i] = orig
                    gflat[i] = (fp - fm) / (2 * h)
                grads[name] = g
        return grads


def _hands_out(method: Callable[..., Any]) -> Callable[..., Any]:
    """Remember the outputs with a graph that `method` hands to the caller (not those of the
    model's calls of itself, like `predict` inside `loss`), so that a change of the parameters
    can free their graphs (see minigrad.nn.params)."""

    @functools.wraps(method)
    def wrapper(self: _BookNet, *args: Any, **kwargs: Any) -> Any:
        scope = _local.mode.scope
        out = method(self, *args, **kwargs)
        if (
            isinstance(out, Variable)
            and out.creator is not None
            and (scope is None or scope.module is not self)
        ):
            self._handed_out.add(out)
        return out

    return wrapper


class _BookNet(_Classifier):
    """What the book-style networks share (TwoLayerNet, SimpleConvNet, DeepConvNet and
    minigrad.book's MultiLayerNet, MultiLayerNetExtend): one `params` mechanism, a
    `ParamDict` over their Parameters, so `params[k] -= ...`, `params[k] = w` and
    `params[k][...] = w` all reach the model (or raise naming the key and the shapes), and
    the graphs of the outputs handed out before a change are freed."""

    _named: tuple[tuple[str, Parameter], ...]
    _handed_out: HandedOut
    _params: ParamDict

    def _init_params(self, named: Sequence[tuple[str, Parameter]]) -> None:
        """Make `params` over these (name, Parameter) pairs, in the book's key order."""
        self._named = tuple(named)
        self._handed_out = HandedOut()
        self._params = ParamDict(dict(self._named), self._handed_out, type(self).__name__)

    @property
    def params(self) -> ParamDict:
        """The book's dict: name -> the array its Parameter holds (a `ParamDict`)."""
        return self._params

    @params.setter
    def params(self, value: Mapping[str, Any]) -> None:
        # `net.params = {...}` loads the arrays, like params[k] = v for each key.
        if not isinstance(value, Mapping) or set(value) != set(self._params):
            keys = sorted(value) if isinstance(value, Mapping) else type(value).__name__
            raise ValueError(
                f"{type(self).__name__}.params = ...: expected a dict with the keys "
                f"{', '.join(self._params)}, got {keys}; its arrays are copied into the model"
            )
        self._params.update(value)

    loss = _hands_out(_Classifier.loss)
    __call__ = _hands_out(Module.__call__)

    def _params_changed(self, why: str) -> None:
        self._handed_out.free(type(self).__name__, why)

    def _param_items(self) -> Sequence[tuple[str, Parameter]]:
        return self._named

    def save_params(self, file_name: str = "params.npz") -> str:
        """Write the parameters (and buffers) to `file_name`, an `.npz` archive written
        atomically (`Module.save`). Returns the path."""
        return self.save(file_name)

    def load_params(self, file_name: str = "params.npz") -> IncompatibleKeys:
        """Load weights into `params`, in place: minigrad's `.npz` from `save_params`, or the
        book's `.pkl` (a pickled dict of arrays: its `sample_weight.pkl`, `params.pkl`,
        `deep_convnet_params.pkl`), read by a restricted unpickler that accepts only arrays
        and numbers and runs nothing. The keys must be those of `params`; shapes are checked
        and other float dtypes cast into the parameters (as `load_state_dict`); on error
        nothing is loaded."""
        path = os.fspath(file_name)
        if zipfile.is_zipfile(path):
            return self.load(path)
        arrays = read_weights_pickle(path)
        if set(arrays) != set(self._params):
            missing = [k for k in self._params if k not in arrays]
            unexpected = [k for k in arrays if k not in self._params]
            raise ValueError(
                f"{type(self).__name__}.load_params: {path} has keys {sorted(arrays)}; missing "
                f"{missing}, unexpected {unexpected} (nothing was loaded)"
            )
        self._params.update({k: arrays[k] for k in self._params})
        return IncompatibleKeys([], [])


class TwoLayerNet(_BookNet):
    """The book's two-layer network: Affine -> Relu -> Affine -> SoftmaxWithLoss.

    `weight_init_std * np.random.randn(...)` weights (so `np.random.seed` reproduces the book's
    net; `weight_init_std` may also be an initializer name such as `"he_normal"`), zero
    biases, in `dtype`: float64 by default, the book's (NumPy's) dtype, so that the book's
    gradient check agrees to 1e-10; `dtype=np.float32` trains about twice as fast, and None
    means `minigrad.get_default_dtype()`. The book's interface:

    - `params`: {'W1', 'b1', 'W2', 'b2'} -> the very ndarrays the Parameters hold, so
      `params['W1'] -= lr * g` trains the model and `params['W1'][...] = w` loads weights;
      `params['W1'] = w` copies w into the Parameter (same shape) and an unknown key raises
      (a `ParamDict`);
    - `layers` (OrderedDict Affine1, Relu1, Affine2), `lastLayer` (SoftmaxWithLoss);
    - `predict(x)` -> logits Variable, `loss(x, t)` -> scalar Variable, `accuracy(x, t)` ->
      float, `gradient(x, t)` (autograd) and `numerical_gradient(x, t)` -> dicts like params.

    When `params` is updated (`params[k] -= ...`, `params[k] = w`, `load_state_dict`, an
    optimizer's `update(net.params, grads)`), the graphs of the outputs handed out before are
    freed: a loss kept in a list keeps its value but no longer holds its mini-batch, and a
    backward through it raises (its gradients would use the new weights).

    As a Module its parameters are named W1, b1, W2, b2.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float | str = 0.01,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self.dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"TwoLayerNet: dtype must be floating, got {self.dtype}")
        for what, n in [
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("output_size", output_size),
        ]:
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
                raise ValueError(f"TwoLayerNet: {what} must be a positive int, got {n!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        weight = _init.get(weight_init_std)
        dt = self.dtype
        self.W1 = Parameter(weight((input_size, hidden_size), dt), name="W1")
        self.b1 = Parameter(np.zeros(hidden_size, dt), name="b1")
        self.W2 = Parameter(weight((hidden_size, output_size), dt), name="W2")
        self.b2 = Parameter(np.zeros(output_size, dt), name="b2")
        self._init_params((("W1", self.W1), ("b1", self.b1), ("W2", self.W2), ("b2", self.b2)))
        self.layers: OrderedDict[str, Module] = OrderedDict()
        self.layers["Affine1"] = Affine(self.W1, self.b1)
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.W2, self.b2)
        self.lastLayer = SoftmaxWithLoss()

    @_hands_out
    @runs_as_call
    def predict(self, x: Variable | np.ndarray) -> Variable:
        """Logits (N, output_size) for x (N, input_size) (or (N, ...), flattened)."""
        for layer in self.layers.values():
            x = layer(x)
        return x  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, dtype={self.dtype}"
        )


_ACTIVATIONS: dict[str, tuple[type[Module], str]] = {
    "relu": (ReLU, "he_normal"),
    "sigmoid": (Sigmoid, "xavier_normal"),
    "tanh": (Tanh, "xavier_normal"),
}


class MLP(_Classifier):
    """A fully connected classifier: `MLP([784, 100, 50, 10])` is
    fc1 -> act1 -> fc2 -> act2 -> fc3, then `lastLayer` (SoftmaxWithLoss).

    `fc1`..`fcN` are `Linear` layers (parameters `fc1.W`, `fc1.b`, ...); `act1`.. are
    instances of `activation`: "relu", "sigmoid", "tanh" or a Module class (any callable
    returning a Module). Weights come from `init`, by default He for ReLU and Xavier for
    sigmoid and tanh. Same methods as TwoLayerNet (`predict`, `loss`, `accuracy`,
    `gradient`, ...), with gradients keyed by parameter name.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Callable[[], Module] = "relu",
        dtype: Any = None,
        init: str | float | _init.Initializer | None = None,
    ) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(
                    f"MLP: unknown activation {activation!r}; expected one of "
                    f"{sorted(_ACTIVATIONS)} or a Module class"
                )
            make_act: Callable[[], Module] = _ACTIVATIONS[activation][0]
            default_init = _ACTIVATIONS[activation][1]
        elif callable(activation):
            make_act, default_init = activation, "he_normal"
        else:
            raise TypeError(
                f"MLP: activation must be a name or a Module class, got {type(activation).__name__}"
            )
        self.sizes = sizes
        w_init = default_init if init is None else init
        layers: list[Module] = []
        for i in range(len(sizes) - 1):
            fc = Linear(sizes[i], sizes[i + 1], dtype=dtype, init=w_init)
            setattr(self, f"fc{i + 1}", fc)
            layers.append(fc)
            if i < len(sizes) - 2:
                act = make_act()
                if not isinstance(act, Module):
                    raise TypeError(
                        f"MLP: activation() returned a {type(act).__name__}, not a Module"
                    )
                setattr(self, f"act{i + 1}", act)
                layers.append(act)
        self.lastLayer = SoftmaxWithLoss()
        self._layers = tuple(layers)

    @runs_as_call
    def predict(self, x: Variable | np.ndarray) -> Variable:
        """Logits (N, sizes[-1]) for x (N, sizes[0])."""
        for layer in self._layers:
            x = layer(x)
        return x  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"
