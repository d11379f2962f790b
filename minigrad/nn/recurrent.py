"""Recurrent layers with PyTorch's names, shapes, gate orders and initialization: `RNN`,
`LSTM`, `GRU` (whole sequences, several layers) and the cells `RNNCell`, `LSTMCell`,
`GRUCell` (one time step).

Each time step is composed of ops (`minigrad/nn/_rnn_steps.py` states the formulas); none
writes a backward. A layer projects its input for all time steps with one matmul, then runs
the steps, each as a call of a small `TimeStep` module so that graph pictures draw one box
per step: backprop through time can be seen.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Parameter, Variable, _local, get_default_dtype
from minigrad.nn._rnn_steps import GATES, gru_step, lstm_step, rnn_step
from minigrad.nn.layers import _size
from minigrad.nn.module import Module, _call

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "TimeStep"]


#: Set to a list by `minigrad.onnx.export` while it traces a model: each call of a recurrent
#: layer appends (its ModuleCall, the input, the initial state, the outputs), so that the
#: exporter writes the call as one ONNX RNN/LSTM/GRU node per layer instead of its ops.
export_calls: list[tuple[Any, Any, Any, Any]] | None = None


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x.data if isinstance(x, Variable) else x))


def _as_input(x: Any, dtype: np.dtype) -> Any:
    """An ndarray or Variable in the layer's dtype (data that needs no grad is cast)."""
    if not isinstance(x, Variable):
        x = np.asarray(x)
        return x if x.dtype == dtype else x.astype(dtype)
    if x.dtype != dtype and not x.requires_grad:
        return Variable(x.data.astype(dtype), requires_grad=False)
    return x


def _activation(nonlinearity: str, who: str) -> Any:
    if nonlinearity == "tanh":
        return F.tanh
    if nonlinearity == "relu":
        return F.relu
    raise ValueError(f"{who}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


class TimeStep(Module):
    """The call of one time step of a recurrent layer (`t=3`, `l1 t=3`): it holds no
    parameters; the layer runs each step as a call of one, so that graph pictures box the ops
    of each step under its label."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.box_label = label

    def extra_repr(self) -> str:
        return self.box_label


def _steps(cache: list[TimeStep], n: int, prefix: str) -> list[TimeStep]:
    while len(cache) < n:
        cache.append(TimeStep(f"{prefix}t={len(cache)}"))
    return cache


# --------------------------------------------------------------------------- cells


class _CellBase(Module):
    """Shared by the cells: PyTorch's parameters `weight_ih` (G*H, C), `weight_hh` (G*H, H),
    `bias_ih` and `bias_hh` (G*H,), drawn from U(-1/sqrt(H), 1/sqrt(H))."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _size(input_size, name, "input_size")
        self.hidden_size = _size(hidden_size, name, "hidden_size")
        self.bias = bool(bias)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        gh = GATES[self.kind] * self.hidden_size
        k = 1.0 / math.sqrt(self.hidden_size)
        self.weight_ih = Parameter(_uniform(k, (gh, self.input_size), dt))
        self.weight_hh = Parameter(_uniform(k, (gh, self.hidden_size), dt))
        if self.bias:
            self.bias_ih: Parameter | None = Parameter(_uniform(k, (gh,), dt))
            self.bias_hh: Parameter | None = Parameter(_uniform(k, (gh,), dt))
        else:
            self.bias_ih = self.bias_hh = None

    def _input(self, x: Any) -> tuple[Any, bool]:
        """(x as (N, C), whether it was batched) with the checks of the cells' input."""
        name = type(self).__name__
        s = _shape(x)
        if len(s) not in (1, 2):
            raise ValueError(
                f"{name}: expected an input of shape (N, {self.input_size}) or "
                f"({self.input_size},), got {s}"
                + (
                    " (a cell takes one time step; for a sequence use the layer, e.g. "
                    f"nn.{self.kind})"
                    if len(s) == 3
                    else ""
                )
            )
        if s[-1] != self.input_size:
            raise ValueError(
                f"{name}: input_size is {self.input_size}, but the input has shape {s} "
                f"(its last dimension must be {self.input_size})"
            )
        x = _as_input(x, self.weight_ih.dtype)
        return (x, True) if len(s) == 2 else (F.reshape(x, (1, s[0])), False)

    def _state(self, h: Any, n: int, batched: bool, what: str) -> Any:
        if h is None:
            return None
        want = (n, self.hidden_size) if batched else (self.hidden_size,)
        if _shape(h) != want:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {want}, got {_shape(h)}"
            )
        h = _as_input(h, self.weight_ih.dtype)
        return h if batched else F.reshape(h, (1, self.hidden_size))

    def _xw(self, x: Any, fold_biases: bool) -> Variable:
        b: Any = self.bias_ih
        if fold_biases and b is not None:
            b = b + self.bias_hh
        return F.linear(x, self.weight_ih.T, b)

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{extra}"


def _uniform(k: float, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    return np.random.uniform(-k, k, shape).astype(dt)  # noqa: NPY002 - seeded as the book does


def _unbatch(y: Variable, batched: bool) -> Variable:
    return y if batched else F.reshape(y, y.shape[1:])


class RNNCell(_CellBase):
    """h' = act(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh), act tanh or relu.
    input (N, input_size) or (input_size,), hx (N, hidden_size) or None (zeros) -> h'."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = None,
    ) -> None:
        self._act = _activation(nonlinearity, type(self).__name__)
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Variable:
        x, batched = self._input(input)
        h = self._state(hx, _shape(x)[0], batched, "hx")
        return _unbatch(rnn_step(self._xw(x, True), h, self.weight_hh.T, self._act), batched)

    def extra_repr(self) -> str:
        act = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + act


class LSTMCell(_CellBase):
    """One LSTM step with PyTorch's gate order (i, f, g, o) in the weights' rows.
    input (N, input_size) or (input_size,), hx = (h, c) each (N, hidden_size) or None
    (zeros) -> (h', c')."""

    kind = "LSTM"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Variable, Variable]:
        x, batched = self._input(input)
        h = c = None
        if hx is not None:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(f"LSTMCell: hx must be a pair (h, c), got {type(hx).__name__}")
            h = self._state(hx[0], _shape(x)[0], batched, "h")
            c = self._state(hx[1], _shape(x)[0], batched, "c")
        h, c = lstm_step(self._xw(x, True), h, c, self.weight_hh)
        return _unbatch(h, batched), _unbatch(c, batched)


class GRUCell(_CellBase):
    """One GRU step with PyTorch's gate order (r, z, n) and formula (r multiplies
    h @ W_hn.T + b_hn).  input (N, input_size) or (input_size,), hx (N, hidden_size) or None
    (zeros) -> h'."""

    kind = "GRU"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Any, hx: Any = None) -> Variable:
        x, batched = self._input(input)
        h = self._state(hx, _shape(x)[0], batched, "hx")
        if h is None:
            h = np.zeros((_shape(x)[0], self.hidden_size), self.weight_ih.dtype)
        return _unbatch(gru_step(self._xw(x, False), h, self.weight_hh.T, self.bias_hh), batched)


# --------------------------------------------------------------------------- layers


class _RNNBase(Module):
    """Shared by RNN, LSTM and GRU: PyTorch's parameters `weight_ih_l{k}` (G*H, C or H),
    `weight_hh_l{k}` (G*H, H), `bias_ih_l{k}`, `bias_hh_l{k}` (G*H,), drawn from
    U(-1/sqrt(H), 1/sqrt(H)); input (T, N, C), or (N, T, C) with `batch_first`, or (T, C)
    unbatched."""

    kind = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        dtype: Any = None,
    ) -> None:
        # LSTM and GRU take exactly these (PyTorch's signature) and inherit this __init__.
        super().__init__()
        name = type(self).__name__
        self.input_size = _size(input_size, name, "input_size")
        self.hidden_size = _size(hidden_size, name, "hidden_size")
        self.num_layers = _size(num_layers, name, "num_layers")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float | np.floating):
            raise TypeError(f"{name}: dropout must be a number, got {type(dropout).__name__}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        gh = GATES[self.kind] * self.hidden_size
        k = 1.0 / math.sqrt(self.hidden_size)
        for layer in range(self.num_layers):
            c = self.input_size if layer == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{layer}", Parameter(_uniform(k, (gh, c), dt)))
            setattr(self, f"weight_hh_l{layer}", Parameter(_uniform(k, (gh, self.hidden_size), dt)))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", Parameter(_uniform(k, (gh,), dt)))
                setattr(self, f"bias_hh_l{layer}", Parameter(_uniform(k, (gh,), dt)))
        self._steps: list[list[TimeStep]] = [[] for _ in range(self.num_layers)]

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters (and of the outputs)."""
        return self._weights(0)[0].dtype

    def _weights(self, layer: int) -> tuple[Parameter, Parameter, Any, Any]:
        d = self.__dict__
        return (
            d[f"weight_ih_l{layer}"],
            d[f"weight_hh_l{layer}"],
            d.get(f"bias_ih_l{layer}"),
            d.get(f"bias_hh_l{layer}"),
        )

    # -- checks
    def _layout(self) -> str:
        return "(N, T, C)" if self.batch_first else "(T, N, C)"

    def _input(self, x: Any) -> tuple[Any, bool]:
        """(x, batched) after the checks: rank, input_size, a sequence of length 0."""
        name = type(self).__name__
        s = _shape(x)
        C = self.input_size
        if len(s) not in (2, 3):
            layout = self._layout().replace("C", str(C))
            hint = ""
            if len(s) == 1:
                hint = f" (one time step of one sequence is ({1}, {C}))"
            elif len(s) == 4:
                hint = " (several sequences are stacked on one batch axis, not two)"
            raise ValueError(
                f"{name}: expected an input of shape {layout} (batch_first={self.batch_first}) "
                f"or (T, {C}) unbatched, got {s}{hint}"
            )
        if s[-1] != C:
            hint = ""
            if len(s) == 3 and s[0] == C or len(s) == 3 and s[1] == C:
                hint = (
                    f"; one of its other dimensions is {C}: the features must come last, "
                    f"as in {self._layout()}"
                )
            raise ValueError(
                f"{name}: input_size is {C}, but the input has shape {s} (its last dimension "
                f"must be {C}){hint}"
            )
        T = s[1] if len(s) == 3 and self.batch_first else s[0]
        if T == 0:
            raise ValueError(
                f"{name}: the input {s} holds a sequence of length 0 (layout "
                f"{self._layout() if len(s) == 3 else '(T, C)'}); give at least one time step"
            )
        if len(s) == 3 and 0 in s:
            raise ValueError(f"{name}: the input {s} holds no sequence (the batch is empty)")
        return _as_input(x, self.dtype), len(s) == 3

    def _state(self, h: Any, s: tuple[int, ...], what: str) -> list[Any]:
        """The initial state `what` (h_0, c_0) split per layer, checked against the input's
        shape `s`; None gives None per layer (zeros)."""
        L = self.num_layers
        if h is None:
            return [None] * L
        batched = len(s) == 3
        N = (s[0] if self.batch_first else s[1]) if batched else 0
        want = (L, N, self.hidden_size) if batched else (L, self.hidden_size)
        got = _shape(h)
        if got != want:
            hint = ""
            other = s[1] if self.batch_first else s[0]
            if (
                batched
                and got[:1] == (L,)
                and got[2:] == want[2:]
                and len(got) == 3
                and (got[1] == other != N)
            ):
                flip = "False" if self.batch_first else "True"
                hint = (
                    f"; the input {s} is read as {self._layout()} with N={N}: if it is laid "
                    f"out the other way, pass batch_first={flip}"
                )
            form = "(num_layers, N, hidden_size)" if batched else "(num_layers, hidden_size)"
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {form} = {want}, got {got}{hint}"
            )
        h = _as_input(h, self.dtype)
        if not batched:
            h = F.reshape(h, (L, 1, self.hidden_size))
        return list(F.unbind(h, axis=0))

    # -- running
    def _layer_inputs(self, x: Any, layer: int, time_axis: int) -> tuple[Variable, ...]:
        """x (laid out with time on `time_axis`) projected by weight_ih for every step at once:
        one matmul, then one (N, G*H) array per step."""
        W_ih, _, b_ih, b_hh = self._weights(layer)
        s = _shape(x)
        b = b_ih
        if b is not None and self.kind != "GRU":
            b = b_ih + b_hh
        xw = F.linear(F.reshape(x, (s[0] * s[1], s[2])), W_ih.T, b)
        return F.unbind(F.reshape(xw, (s[0], s[1], -1)), axis=time_axis)

    def _run_layer(
        self, xws: tuple[Variable, ...], layer: int, state: Any
    ) -> tuple[list[Any], Any]:
        raise NotImplementedError

    def forward(self, input: Any, hx: Any = None) -> Any:
        x, batched = self._input(input)
        s = _shape(x)
        states = self._initial(hx, s)
        if not batched:
            x = F.reshape(x, (s[0], 1, s[1]))
        time_axis = 1 if batched and self.batch_first else 0
        finals = []
        out: Any = x
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                out = F.dropout(out, self.dropout, True)
            hs, final = self._run_layer(
                self._layer_inputs(out, layer, time_axis), layer, states[layer]
            )
            out = F.stack(hs, axis=time_axis)
            finals.append(final)
        if not batched:
            out = F.reshape(out, (s[0], self.hidden_size))
        result = out, self._final(finals, batched)
        if export_calls is not None:
            export_calls.append((_local.mode.scope, input, hx, result))
        return result

    def _initial(self, hx: Any, s: tuple[int, ...]) -> list[Any]:
        return self._state(hx, s, "h_0")

    def _final(self, finals: list[Any], batched: bool) -> Any:
        return _stack_state(finals, batched)

    def _step_calls(self, layer: int, T: int) -> list[TimeStep]:
        prefix = f"l{layer} " if self.num_layers > 1 else ""
        return _steps(self._steps[layer], T, prefix)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s


def _stack_state(finals: list[Any], batched: bool) -> Variable:
    h = F.stack(finals, axis=0)
    return h if batched else F.reshape(h, (h.shape[0], h.shape[2]))


class RNN(_RNNBase):
    """Elman RNN: h_t = act(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh), act 'tanh' or
    'relu', stacked `num_layers` deep (dropout between layers when training).

    `forward(input, h_0=None)`: input (T, N, input_size), or (N, T, input_size) with
    `batch_first`, or (T, input_size) unbatched; h_0 (num_layers, N, hidden_size) (or
    (num_layers, hidden_size)), zeros if None. Returns `output` (T, N, hidden_size) (the last
    layer's h_t for every t; (N, T, hidden_size) with batch_first) and `h_n` (num_layers, N,
    hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        dtype: Any = None,
    ) -> None:
        self._act = _activation(nonlinearity, type(self).__name__)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, dtype)
        self.nonlinearity = nonlinearity

    def _run_layer(self, xws: tuple[Variable, ...], layer: int, h: Any) -> tuple[list[Any], Any]:
        W_hhT = self._weights(layer)[1].T
        hs = []
        for xw, step in zip(xws, self._step_calls(layer, len(xws))):
            h = _call(step, rnn_step, (xw, h, W_hhT, self._act), {})
            hs.append(h)
        return hs, h

    def extra_repr(self) -> str:
        act = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + act


class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's `nn.LSTM`: gates i, f, g, o (in that order in the
    weights' rows), c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t); `num_layers` deep.

    `forward(input, (h_0, c_0)=None)`: input as for `RNN`; h_0 and c_0 (num_layers, N,
    hidden_size), zeros if None. Returns `output, (h_n, c_n)`.
    """

    kind = "LSTM"

    def _initial(self, hx: Any, s: tuple[int, ...]) -> list[Any]:
        if hx is None:
            return [(None, None)] * self.num_layers
        if not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError(
                f"LSTM: the initial state must be a pair (h_0, c_0), got {type(hx).__name__}"
            )
        return list(zip(self._state(hx[0], s, "h_0"), self._state(hx[1], s, "c_0")))

    def _final(self, finals: list[Any], batched: bool) -> Any:
        return (
            _stack_state([h for h, _ in finals], batched),
            _stack_state([c for _, c in finals], batched),
        )

    def _run_layer(
        self, xws: tuple[Variable, ...], layer: int, state: Any
    ) -> tuple[list[Any], Any]:
        W_hh = self._weights(layer)[1]
        h, c = state
        hs = []
        for xw, step in zip(xws, self._step_calls(layer, len(xws))):
            h, c = _call(step, lstm_step, (xw, h, c, W_hh), {})
            hs.append(h)
        return hs, (h, c)


class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's `nn.GRU`: gates r, z, n (in that order in the weights'
    rows), n_t = tanh(x W_in.T + b_in + r * (h W_hn.T + b_hn)), h_t = (1 - z) n_t + z h_{t-1};
    `num_layers` deep.

    `forward(input, h_0=None)`: as `RNN`. Returns `output, h_n`.
    """

    kind = "GRU"

    def _run_layer(self, xws: tuple[Variable, ...], layer: int, h: Any) -> tuple[list[Any], Any]:
        _, W_hh, _, b_hh = self._weights(layer)
        W_hhT = W_hh.T
        if h is None:
            h = np.zeros((xws[0].shape[0], self.hidden_size), self.dtype)
        hs = []
        for xw, step in zip(xws, self._step_calls(layer, len(xws))):
            h = _call(step, gru_step, (xw, h, W_hhT, b_hh), {})
            hs.append(h)
        return hs, h
