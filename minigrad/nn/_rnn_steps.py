"""One time step of each recurrent cell, composed of ops (no backward is written here), and
the shape checks the recurrent layers share.

Each step takes `xw`, the input's projection `x @ W_ih.T` with the biases that do not
depend on h already added (for all time steps at once, one matmul, in the layers), and the
previous state; a state of None means zeros and skips the terms it would zero. PyTorch's
formulas and gate orders:

- RNN:  h' = act(xw + h @ W_hh.T), act tanh or relu (xw holds b_ih + b_hh).
- LSTM: i, f, g, o = chunks of xw + h @ W_hh.T (xw holds b_ih + b_hh);
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c'), the gates
        and the state (and the matmul h @ W_hh.T) in one fused op, `F.lstm_cell`.
- GRU:  r, z, n_x = chunks of xw (xw holds b_ih); r_h, z_h, n_h = chunks of h @ W_hh.T + b_hh;
        r = sigmoid(r_x + r_h), z = sigmoid(z_x + z_h), n = tanh(n_x + r * n_h);
        h' = (1 - z) * n + z * h, computed as n + z * (h - n).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minigrad import functions as F
from minigrad.core import Variable

#: The number of gate blocks stacked in the weights of each kind of cell.
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def rnn_step(xw: Any, h: Any, W_hhT: Any, act: Callable[[Any], Variable]) -> Variable:
    """h' = act(xw + h @ W_hh.T).  xw (N, H), h (N, H) or None (zeros) -> (N, H)."""
    return act(xw if h is None else xw + F.linear(h, W_hhT))


def lstm_step(xw: Any, h: Any, c: Any, W_hh: Any) -> tuple[Variable, Variable]:
    """(h', c') from xw (N, 4H) and the state (h, c), each (N, H) or None (zeros); W_hh
    (4H, H) as the layer holds it. One fused op (minigrad/functions/recurrent.py says why)."""
    return F.lstm_cell(xw, h, c, W_hh)


def gru_step(xw: Any, h: Variable | Any, W_hhT: Any, b_hh: Any) -> Variable:
    """h' from xw (N, 3H) and h (N, H) (never None: its bias term needs it)."""
    r_x, z_x, n_x = F.chunk(xw, 3, axis=1)
    r_h, z_h, n_h = F.chunk(F.linear(h, W_hhT, b_hh), 3, axis=1)
    r = F.sigmoid(r_x + r_h)
    z = F.sigmoid(z_x + z_h)
    n = F.tanh(n_x + r * n_h)
    return n + z * (h - n)
