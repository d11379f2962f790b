"""The book's convolutional networks, `SimpleConvNet` (chapter 7) and `DeepConvNet`
(chapter 8), with the book's interface and as `Module`s.

Both keep the book's `params` (W1, b1, ...: a `ParamDict` over the arrays the Parameters
hold, shared with TwoLayerNet), `layers`, `last_layer`, `predict`, `loss`,
`accuracy(x, t, batch_size=100)`, `gradient` (by autograd), `numerical_gradient` (for tiny
sizes) and `save_params`/`load_params` (minigrad's `.npz`, or the book's `.pkl` read without
running code). Their Parameters are named like the keys of `params`. Like the book's, they
compute in float64 unless `dtype=` says otherwise.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from minigrad.core import Parameter, Variable, get_default_dtype, no_grad
from minigrad.nn.conv import Convolution, Pooling
from minigrad.nn.layers import Affine, BookDropout, Relu
from minigrad.nn.losses import SoftmaxWithLoss
from minigrad.nn.models import _BookNet, _hands_out
from minigrad.nn.module import Module, runs_as_call

__all__ = ["SimpleConvNet", "DeepConvNet"]


class _ConvNet(_BookNet):
    """What the conv nets share: layers run in order, the book's `train_flg`, evaluation in
    batches."""

    _sequence: tuple[Module, ...]
    dtype: np.dtype

    def _make_params(self, arrays: Mapping[str, np.ndarray], dtype: Any) -> None:
        """Make the Parameters W1, b1, ... (top-level attributes, so named like the keys)."""
        named = []
        for name, a in arrays.items():
            p = Parameter(np.asarray(a), name=name, dtype=dtype)
            setattr(self, name, p)
            named.append((name, p))
        self._init_params(named)

    @property
    def last_layer(self) -> SoftmaxWithLoss:
        """The book's name for `lastLayer` in the conv nets."""
        return self.lastLayer

    @_hands_out
    @runs_as_call
    def predict(self, x: Variable | np.ndarray, train_flg: bool | None = None) -> Variable:
        """Logits (N, output_size) for x (N, C, H, W). `train_flg` (the book's argument)
        runs this call in training (True) or evaluation (False) mode; None follows the
        module's mode (`train()`/`eval()`)."""
        if train_flg is None or bool(train_flg) == self.training:
            return self._run(x)
        previous = self.training
        self.train(bool(train_flg))
        try:
            return self._run(x)
        finally:
            self.train(previous)

    def _run(self, x: Any) -> Any:
        if not isinstance(x, Variable):
            x = np.asarray(x)
            if x.dtype != self.dtype:
                x = x.astype(self.dtype)  # the book's float32 images into float64 weights
        for layer in self._sequence:
            x = layer(x)
        return x

    def accuracy(self, x: Variable | np.ndarray, t: Any, batch_size: int = 100) -> float:
        """The fraction of images whose largest logit is the label (t: indices or one-hot),
        computed in evaluation mode (no dropout) and in batches of `batch_size`, as the book
        does, so that a test set never holds all its activations at once."""
        xd = x.data if isinstance(x, Variable) else np.asarray(x)
        td = np.asarray(t.data if isinstance(t, Variable) else t)
        if td.ndim != 1:
            td = np.argmax(td, axis=1)
        if len(td) != len(xd) or len(xd) == 0:
            raise ValueError(
                f"accuracy: {len(xd)} images and {len(td)} labels (need the same, non-zero number)"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"accuracy: batch_size must be a positive int, got {batch_size!r}")
        correct = 0
        with no_grad():
            for i in range(0, len(xd), batch_size):
                y = self.predict(xd[i : i + batch_size], train_flg=False).data
                correct += int(np.count_nonzero(np.argmax(y, axis=1) == td[i : i + batch_size]))
        return correct / len(xd)


def _conv_out(size: int, filter_size: int, pad: int, stride: int) -> int:
    return (size + 2 * pad - filter_size) // stride + 1


def _check_conv_param(p: Mapping[str, Any], where: str) -> tuple[int, int, int, int]:
    keys = ("filter_num", "filter_size", "pad", "stride")
    missing = [k for k in keys if k not in p]
    if missing:
        raise ValueError(f"{where}: conv_param lacks {missing} (needs {list(keys)})")
    out = []
    for k in keys:
        v = p[k]
        low = 0 if k == "pad" else 1
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise ValueError(f"{where}: conv_param[{k!r}] must be an int >= {low}, got {v!r}")
        out.append(int(v))
    return out[0], out[1], out[2], out[3]


def _dtype(dtype: Any, where: str) -> np.dtype:
    # The book's float64 unless dtype says otherwise (None: minigrad's default dtype).
    dt = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{where}: dtype must be floating, got {dt}")
    return dt


class SimpleConvNet(_ConvNet):
    """The book's chapter-7 network: conv - relu - pool - affine - relu - affine - softmax.

    `SimpleConvNet(input_dim=(1, 28, 28), conv_param={'filter_num': 30, 'filter_size': 5,
    'pad': 0, 'stride': 1}, hidden_size=100, output_size=10, weight_init_std=0.01,
    dtype=np.float64)`. Weights are `weight_init_std * np.random.randn(...)` drawn in the book's
    order (W1, W2, W3), so `np.random.seed` reproduces the book's net; biases are zeros.
    `params`: W1 (FN, C, FS, FS), b1 (FN,) of the convolution; W2, b2 and W3, b3 of the two
    affine layers. `layers`: Conv1, Relu1, Pool1 (2x2, stride 2), Affine1, Relu2, Affine2.
    """

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        conv_param: Mapping[str, Any] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float = 0.01,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        if conv_param is None:
            conv_param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        fn, fs, pad, stride = _check_conv_param(conv_param, "SimpleConvNet")
        c, h, w = (int(n) for n in input_dim)
        oh, ow = _conv_out(h, fs, pad, stride), _conv_out(w, fs, pad, stride)
        if oh < 2 or ow < 2:
            raise ValueError(
                f"SimpleConvNet: input_dim {tuple(input_dim)} is too small for conv_param "
                f"{dict(conv_param)} (convolution output {oh}x{ow}, then a 2x2 pooling)"
            )
        pool_size = fn * (oh // 2) * (ow // 2)
        self.dtype = _dtype(dtype, "SimpleConvNet")
        std = weight_init_std
        # Drawn in the book's order (W1, W2, W3), in float64, then cast.
        W1 = std * np.random.randn(fn, c, fs, fs)  # noqa: NPY002 - the book seeds np.random
        W2 = std * np.random.randn(pool_size, hidden_size)  # noqa: NPY002
        W3 = std * np.random.randn(hidden_size, output_size)  # noqa: NPY002
        self._make_params(
            {
                "W1": W1,
                "b1": np.zeros(fn),
                "W2": W2,
                "b2": np.zeros(hidden_size),
                "W3": W3,
                "b3": np.zeros(output_size),
            },
            self.dtype,
        )
        self.input_dim, self.conv_param = tuple(input_dim), dict(conv_param)
        self.hidden_size, self.output_size = hidden_size, output_size
        self.layers: OrderedDict[str, Module] = OrderedDict()
        P = dict(self._named)
        self.layers["Conv1"] = Convolution(P["W1"], P["b1"], stride, pad)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(2, 2, stride=2)
        self.layers["Affine1"] = Affine(P["W2"], P["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(P["W3"], P["b3"])
        self.lastLayer = SoftmaxWithLoss()
        self._sequence = tuple(self.layers.values())

    def extra_repr(self) -> str:
        return (
            f"input_dim={self.input_dim}, conv_param={self.conv_param}, "
            f"hidden_size={self.hidden_size}, output_size={self.output_size}, dtype={self.dtype}"
        )


_DEEP_DEFAULTS = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


class DeepConvNet(_ConvNet):
    """The book's chapter-8 network (above 99% on MNIST):

        conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool -
        affine - relu - dropout - affine - dropout - softmax

    `DeepConvNet(input_dim=(1, 28, 28), conv_param_1=..., ..., conv_param_6=...,
    hidden_size=50, output_size=10, dtype=np.float64)` with the book's defaults (3x3 filters,
    16, 16, 32, 32, 64, 64 of them, pad 1 except conv 4's pad 2, 2x2 pooling with stride 2,
    dropout 0.5). He weights, sqrt(2 / fan_in) * randn, drawn in the book's order; biases
    zeros. `params`: W1..W6, b1..b6 of the convolutions, W7, b7 and W8, b8 of the affine
    layers. `layers` is the book's list of 20 layers. The dropout is the book's
    (`BookDropout`: not inverted, masks from `np.random.rand`, a scaling by 0.5 in
    evaluation), so the book's trained weights give the book's scores; `accuracy` and
    `predict(x, train_flg=False)` run in evaluation.
    """

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        conv_param_1: Mapping[str, Any] = _DEEP_DEFAULTS[0],
        conv_param_2: Mapping[str, Any] = _DEEP_DEFAULTS[1],
        conv_param_3: Mapping[str, Any] = _DEEP_DEFAULTS[2],
        conv_param_4: Mapping[str, Any] = _DEEP_DEFAULTS[3],
        conv_param_5: Mapping[str, Any] = _DEEP_DEFAULTS[4],
        conv_param_6: Mapping[str, Any] = _DEEP_DEFAULTS[5],
        hidden_size: int = 50,
        output_size: int = 10,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        convs = [
            _check_conv_param(p, f"DeepConvNet conv_param_{i + 1}")
            for i, p in enumerate(
                [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6]
            )
        ]
        c, h, w = (int(n) for n in input_dim)
        self.dtype = _dtype(dtype, "DeepConvNet")
        arrays: dict[str, np.ndarray] = {}
        for i, (fn, fs, pad, stride) in enumerate(convs):
            scale = np.sqrt(2.0 / (c * fs * fs))
            arrays[f"W{i + 1}"] = scale * np.random.randn(fn, c, fs, fs)  # noqa: NPY002 - the book's
            arrays[f"b{i + 1}"] = np.zeros(fn)
            h, w = _conv_out(h, fs, pad, stride), _conv_out(w, fs, pad, stride)
            if i % 2 == 1:
                h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise ValueError(
                    f"DeepConvNet: input_dim {tuple(input_dim)} is too small: nothing is left "
                    f"after convolution {i + 1}"
                )
            c = fn
        flat = c * h * w
        arrays["W7"] = np.sqrt(2.0 / flat) * np.random.randn(flat, hidden_size)  # noqa: NPY002
        arrays["b7"] = np.zeros(hidden_size)
        arrays["W8"] = np.sqrt(2.0 / hidden_size) * np.random.randn(hidden_size, output_size)  # noqa: NPY002
        arrays["b8"] = np.zeros(output_size)
        self._make_params(arrays, self.dtype)
        self.input_dim, self.hidden_size, self.output_size = (
            tuple(input_dim),
            hidden_size,
            output_size,
        )
        self.layers: list[Module] = []
        P = dict(self._named)
        for i, (_, _, pad, stride) in enumerate(convs):
            self.layers += [Convolution(P[f"W{i + 1}"], P[f"b{i + 1}"], stride, pad), Relu()]
            if i % 2 == 1:
                self.layers.append(Pooling(2, 2, stride=2))
        self.layers += [
            Affine(P["W7"], P["b7"]),
            Relu(),
            BookDropout(0.5),
            Affine(P["W8"], P["b8"]),
            BookDropout(0.5),
        ]
        self.lastLayer = SoftmaxWithLoss()
        self._sequence = tuple(self.layers)

    def extra_repr(self) -> str:
        return (
            f"input_dim={self.input_dim}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, dtype={self.dtype}"
        )
