"""Recurrent cells fused into one op: `lstm_cell`, one LSTM step (the hidden matmul, the gates
and the state update).

Composed of ops, an LSTM step is a linear, an add, a chunk, three sigmoids, two tanhs, three
products and a sum: thirteen ops, each with its own output array. Fused, the step keeps one
(N, 4H) array of activated gates and tanh(c') for backward, as the sequel's and PyTorch's own
cells do:
measured on examples/charlm.py's step (hidden 256, T 64, batch 32), minigrad's training step
went from 1.25x to ~1.05x a hand-written NumPy LSTM, and its peak memory of activations from
about 2.5x to about 1.2x (benchmarks/bench_rnn.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, Variable
from minigrad.functions._util import check_float, shape_of, shape_str, sigmoid_array

__all__ = ["lstm_cell"]


class LSTMCell(Function):
    """One LSTM step: (h', c') from the input's gate projection xw = x W_ih^T + b (N, 4H), in
    PyTorch's order (i, f, g, o), and the previous state: h (N, H) with W_hh (4H, H), and c
    (N, H); a missing h or c is zeros (the op's settings say which are given).

    a = xw + h W_hh^T; i, f, o = sigmoid of their blocks, g = tanh of its block;
    c' = f c + i g; h' = o tanh(c'). Backward, with dc = gc' + gh' o (1 - tanh(c')^2):
    da = [dc g i (1 - i), dc c f (1 - f), dc i (1 - g^2), gh' tanh(c') o (1 - o)];
    gxw = da, gh = da W_hh, gW_hh = da^T h, gc = dc f. Recorded (create_graph), the backward
    recomputes the gates with ops, so it is differentiable again.
    """

    rule = (
        "dc = gc' + gh' * o * (1 - tanh(c')**2); da = [dc*g*i(1-i), dc*c*f(1-f), "
        "dc*i*(1-g**2), gh'*tanh(c')*o(1-o)]; gxw = da, gh = da @ W_hh, gW_hh = da.T @ h, "
        "gc = dc * f"
    )
    backward_on_arrays = True
    name = "lstm_cell"
    __slots__ = ("has_h", "has_c")

    def __init__(self, has_h: bool, has_c: bool) -> None:
        self.has_h = has_h
        self.has_c = has_c

    def _parts(self, xs: tuple[Any, ...]) -> tuple[Any, Any, Any, Any]:
        """(xw, h, W_hh, c) from the inputs, None where absent."""
        h = W = c = None
        if self.has_h:
            h, W = xs[1], xs[2]
        if self.has_c:
            c = xs[-1]
        return xs[0], h, W, c

    def forward(self, *xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xw, h, W, c = self._parts(xs)
        H = xw.shape[1] // 4
        a = xw if h is None else xw + h @ W.T
        # The sigmoid of all four blocks on one contiguous array, then tanh for g: ufuncs with
        # out= on strided column blocks gave wrong values for H = 1 (NumPy 2.4's negative).
        A = sigmoid_array(a)
        A[:, 2 * H : 3 * H] = np.tanh(a[:, 2 * H : 3 * H])
        i, f, g, o = A[:, :H], A[:, H : 2 * H], A[:, 2 * H : 3 * H], A[:, 3 * H :]
        c_new = i * g
        if c is not None:
            c_new += f * c
        tc = np.tanh(c_new)
        self.gates = A  # activated: what backward needs
        self.tc = tc
        return o * tc, c_new

    def backward(self, gh: Any, gc: Any) -> tuple[Any, ...]:
        if isinstance(gh, Variable):
            return self._recorded_backward(gh, gc)
        A, tc = self.gates, self.tc
        H = A.shape[1] // 4
        i, f, g, o = A[:, :H], A[:, H : 2 * H], A[:, 2 * H : 3 * H], A[:, 3 * H :]
        _, h, W, c = self._parts(self.saved_inputs)
        dc = 1 - tc * tc
        dc *= o
        dc *= gh
        dc += gc
        da = np.empty_like(A)
        np.multiply(gh * tc, o * (1 - o), out=da[:, 3 * H :])
        np.multiply(dc * g, i * (1 - i), out=da[:, :H])
        np.multiply(dc * i, 1 - g * g, out=da[:, 2 * H : 3 * H])
        if c is None:
            da[:, H : 2 * H] = 0
        else:
            np.multiply(dc * c, f * (1 - f), out=da[:, H : 2 * H])
        return self._grads(da, h, W, dc * f if c is not None else None)

    def _grads(self, da: Any, h: Any, W: Any, gc: Any) -> tuple[Any, ...]:
        need = self.needs_input_grad
        out: list[Any] = [da if need[0] else None]
        if self.has_h:
            out.append(da @ W if need[1] else None)
            out.append(da.T @ h if need[2] else None)
        if self.has_c:
            out.append(gc if need[-1] else None)
        return tuple(out)

    def _recorded_backward(self, gh: Variable, gc: Variable) -> tuple[Any, ...]:
        from minigrad.functions.activations import sigmoid
        from minigrad.functions.elementwise import tanh
        from minigrad.functions.shape import concatenate

        xw, h, W, c = self._parts(self.saved_inputs)
        a = xw if h is None else xw + h @ W.T
        H = a.shape[1] // 4
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])
        g, o = tanh(a[:, 2 * H : 3 * H]), sigmoid(a[:, 3 * H :])
        c_new = i * g if c is None else f * c + i * g
        tc = tanh(c_new)
        dc = gc + gh * o * (1 - tc * tc)
        df = f * 0 if c is None else dc * c * f * (1 - f)
        da = concatenate(
            [dc * g * i * (1 - i), df, dc * i * (1 - g * g), gh * tc * o * (1 - o)], axis=1
        )
        return self._grads(da, h, W, dc * f if c is not None else None)


def lstm_cell(
    xw: Variable | Any,
    h: Variable | Any = None,
    c: Variable | Any = None,
    W_hh: Variable | Any = None,
) -> tuple[Variable, Variable]:
    """One LSTM step, fused: xw (N, 4H) the input's gate projection (x W_ih^T + biases) in
    PyTorch's order (i, f, g, o), h (N, H) with W_hh (4H, H), c (N, H); h and c None mean
    zeros -> (h', c'), each (N, H)."""
    check_float(xw, "lstm_cell")
    s = shape_of(xw)
    if len(s) != 2 or s[1] % 4:
        raise ValueError(f"lstm_cell: expected gates xw of shape (N, 4H), got {shape_str(s)}")
    n, H = s[0], s[1] // 4
    inputs: list[Any] = [xw]
    if h is not None:
        if W_hh is None:
            raise ValueError("lstm_cell: a state h needs its weights W_hh (4H, H)")
        for name, x, want in (("h", h, (n, H)), ("W_hh", W_hh, (4 * H, H))):
            if shape_of(x) != want:
                raise ValueError(
                    f"lstm_cell: gates xw of shape {shape_str(s)} need {name} of shape "
                    f"{shape_str(want)}, got {shape_str(shape_of(x))}"
                )
        inputs += [h, W_hh]
    if c is not None:
        if shape_of(c) != (n, H):
            raise ValueError(
                f"lstm_cell: gates xw of shape {shape_str(s)} need a cell state c of shape "
                f"{shape_str((n, H))}, got {shape_str(shape_of(c))}"
            )
        inputs.append(c)
    return LSTMCell(h is not None, c is not None)(*inputs)
