"""Recurrent cells fused into one op: `lstm_cell`, the gates and state update of one LSTM step.

Composed of ops, an LSTM step is a chunk, three sigmoids, two tanhs, three products and a
sum: eleven ops, each with its own output array. Fused, the step keeps one (N, 4H) array of
activated gates and tanh(c') for backward, as the sequel's and PyTorch's own cells do:
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
    """(h', c') from the pre-activation gates a = x W_ih^T + b_ih + h W_hh^T + b_hh, (N, 4H)
    in PyTorch's order (i, f, g, o), and the cell state c (N, H) (absent: zeros).

    i, f, o = sigmoid of their blocks, g = tanh of its block; c' = f c + i g; h' = o tanh(c').
    Backward, with dc = gc' + gh' o (1 - tanh(c')^2): da = [dc g i (1 - i), dc c f (1 - f),
    dc i (1 - g^2), gh' tanh(c') o (1 - o)], dc_prev = dc f. Recorded (create_graph), the
    backward recomputes the gates from a with ops, so it is differentiable again.
    """

    rule = (
        "dc = gc + gh * o * (1 - tanh(c')**2); ga = [dc*g*i(1-i), dc*c*f(1-f), dc*i*(1-g**2), "
        "gh*tanh(c')*o(1-o)]; gc_prev = dc * f"
    )
    backward_on_arrays = True
    name = "lstm_cell"

    def forward(self, a: np.ndarray, c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        H = a.shape[1] // 4
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
        xs = self.saved_inputs
        c = xs[1] if len(xs) > 1 else None
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
            return (da,)
        np.multiply(dc * c, f * (1 - f), out=da[:, H : 2 * H])
        return da, (dc * f if self.needs_input_grad[1] else None)

    def _recorded_backward(self, gh: Variable, gc: Variable) -> tuple[Any, ...]:
        from minigrad.functions.activations import sigmoid
        from minigrad.functions.elementwise import tanh
        from minigrad.functions.shape import concatenate

        xs = self.saved_inputs
        a = xs[0]
        c = xs[1] if len(xs) > 1 else None
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
        if c is None:
            return (da,)
        return da, (dc * f if self.needs_input_grad[1] else None)


def lstm_cell(a: Variable | Any, c: Variable | Any = None) -> tuple[Variable, Variable]:
    """One LSTM step's gates and state update, fused: a (N, 4H) pre-activation gates in
    PyTorch's order (i, f, g, o), c (N, H) or None (zeros) -> (h', c'), each (N, H)."""
    check_float(a, "lstm_cell")
    sa = shape_of(a)
    if len(sa) != 2 or sa[1] % 4:
        raise ValueError(f"lstm_cell: expected gates of shape (N, 4H), got {shape_str(sa)}")
    if c is None:
        return LSTMCell()(a)
    sc = shape_of(c)
    if sc != (sa[0], sa[1] // 4):
        raise ValueError(
            f"lstm_cell: gates of shape {shape_str(sa)} need a cell state of shape "
            f"{shape_str((sa[0], sa[1] // 4))}, got {shape_str(sc)}"
        )
    return LSTMCell()(a, c)
