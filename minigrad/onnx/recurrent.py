"""Recurrent layers to and from ONNX: a call of `nn.RNN`, `nn.LSTM` or `nn.GRU` is written as
one ONNX `RNN`, `LSTM` or `GRU` node per layer (not op by op, so the file runs on any
sequence length and batch size), and those nodes are read back as minigrad ops.

The gate orders differ: PyTorch's (and minigrad's) LSTM rows are i, f, g, o where ONNX's are
i, o, f, c; the GRU's are r, z, n where ONNX's are z, r, h, and PyTorch's GRU applies r after
the hidden matmul, ONNX's `linear_before_reset=1`. The weights are written as constants in
ONNX's layout, W (1, G*H, C), R (1, G*H, H), B (1, 2*G*H) = [b_ih, b_hh].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Variable
from minigrad.functions.recurrent import LSTMCell as LSTMCellOp
from minigrad.functions.shape import Chunk, Unbind
from minigrad.nn._rnn_steps import GATES, gru_step, lstm_step, rnn_step
from minigrad.nn.recurrent import GRU, LSTM
from minigrad.onnx._builder import Batch, Builder, Dim, UnsupportedOpError, Value
from minigrad.onnx.exporters import Result, exports
from minigrad.onnx.importers import Context, imports

#: PyTorch's gate blocks in ONNX's order: ONNX block k is PyTorch block TO_ONNX[kind][k].
TO_ONNX = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}
#: ONNX's gate blocks in PyTorch's order.
FROM_ONNX = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}

Call = tuple[Any, Any, Any, Any]


def _kind(layer: Any) -> str:
    return "LSTM" if isinstance(layer, LSTM) else "GRU" if isinstance(layer, GRU) else "RNN"


def _reorder(a: np.ndarray, order: list[int]) -> np.ndarray:
    """The gate blocks of a (G*H, ...) array taken in `order`."""
    parts = np.split(a, len(order), axis=0)
    return np.concatenate([parts[i] for i in order], axis=0)


# --------------------------------------------------------------------------- export


def group(trace: Any) -> dict[int, int]:
    """id(Function) -> the index in `trace.layer_calls` of the recurrent layer call it ran
    in (its ops are written as that call's ONNX nodes)."""
    calls = {id(c[0]): k for k, c in enumerate(trace.layer_calls)}
    out: dict[int, int] = {}
    if not calls:
        return out
    for f in trace.functions:
        scope = getattr(f, "scope", None)
        while scope is not None:
            k = calls.get(id(scope))
            if k is not None:
                out[id(f)] = k
                break
            scope = scope.parent
    return out


def call_inputs(call: Call) -> list[Any]:
    """The input and the initial state(s) of a layer call (None where absent)."""
    scope, x, hx, _ = call
    n = 2 if isinstance(scope.module, LSTM) else 1
    states = list(hx) if isinstance(hx, tuple | list) else [hx] * n if hx is None else [hx]
    return [x, *states]


def call_outputs(call: Call) -> list[Variable]:
    """output, h_n (and c_n for an LSTM)."""
    out, state = call[3]
    return [out, *(state if isinstance(state, tuple) else (state,))]


def export_call(
    b: Builder, call: Call, resolve: Callable[[Any], Value]
) -> list[tuple[Variable, Value]]:
    """Write one layer call as ONNX nodes; returns its outputs' Values."""
    scope, x, hx, _ = call
    layer = scope.module
    kind = _kind(layer)
    H, L = layer.hidden_size, layer.num_layers
    dt = layer.dtype
    xv = resolve(x)
    states = [None if h is None else resolve(h) for h in call_inputs(call)[1:]]
    batched = xv.ndim == 3
    name = b.name(xv, dt)
    if not batched:
        name = b.node("Unsqueeze", [name, b.ints([1])])
    elif layer.batch_first:
        name = b.node("Transpose", [name], perm=[1, 0, 2])
    finals: list[list[str]] = [[] for _ in states]
    order = TO_ONNX[kind]
    for k in range(L):
        W_ih, W_hh, b_ih, b_hh = layer._weights(k)
        W = _reorder(W_ih.data, order)[None]
        R = _reorder(W_hh.data, order)[None]
        if b_ih is None:
            B = np.zeros((1, 2 * GATES[kind] * H), dt)
        else:
            B = np.concatenate([_reorder(b_ih.data, order), _reorder(b_hh.data, order)])[None]
        inits = []
        for s in states:
            if s is None:
                inits.append("")
                continue
            h = b.node("Slice", [b.name(s, dt), b.ints([k]), b.ints([k + 1]), b.ints([0])])
            inits.append(h if batched else b.node("Unsqueeze", [h, b.ints([1])]))
        ins = [name, b.const(W, base="W"), b.const(R, base="R"), b.const(B, base="B"), "", *inits]
        while ins[-1] == "":
            ins.pop()
        attrs: dict[str, Any] = {"hidden_size": H}
        if kind == "GRU":
            attrs["linear_before_reset"] = 1
        if kind == "RNN":
            attrs["activations"] = ["Tanh" if layer.nonlinearity == "tanh" else "Relu"]
        outs = b.node(kind, ins, outputs=1 + len(states), **attrs)
        for i in range(len(states)):
            finals[i].append(outs[1 + i])
        name = b.node("Squeeze", [outs[0], b.ints([1])])  # (T, 1, N, H) -> (T, N, H)
    if not batched:
        name = b.node("Squeeze", [name, b.ints([1])])
    elif layer.batch_first:
        name = b.node("Transpose", [name], perm=[1, 0, 2])
    out_sym: tuple[Dim, ...] = (*xv.sym[:-1], H)
    if batched:
        n_sym = xv.sym[0] if layer.batch_first else xv.sym[1]
        state_sym: tuple[Dim, ...] = (L, n_sym, H)
    else:
        state_sym = (L, H)
    result = []
    outputs = call_outputs(call)
    result.append((outputs[0], Value(name, dt, outputs[0].shape, out_sym)))
    for var, parts in zip(outputs[1:], finals):
        h = parts[0] if L == 1 else b.node("Concat", parts, axis=0)
        if not batched:
            h = b.node("Squeeze", [h, b.ints([1])])
        result.append((var, Value(h, dt, var.shape, state_sym)))
    return result


def ready(call: Call, values: dict[int, Value]) -> bool:
    """Whether every input of the call that an op made has been written."""
    return all(
        not (isinstance(x, Variable) and x.creator is not None) or id(x) in values
        for x in call_inputs(call)
    )


# --------------------------------------------------------------------------- import


def _check(attrs: dict[str, Any], n_outputs: int) -> str | None:
    direction = attrs.get("direction", "forward")
    if direction != "forward":
        return f"direction {direction!r} (only 'forward')"
    if attrs.get("clip") is not None:
        return "clip"
    if attrs.get("input_forget", 0):
        return "input_forget"
    return None


def _gate_rows(w: Any, kind: str) -> Any:
    """(1, G*H, K) ONNX weights -> (G*H, K) in PyTorch's gate order, as recorded ops."""
    w = w[0]
    G = GATES[kind]
    if G == 1:
        return w
    H = w.shape[0] // G
    parts = [w[i * H : (i + 1) * H] for i in FROM_ONNX[kind]]
    return F.concatenate(parts, axis=0) if isinstance(w, Variable) else np.concatenate(parts)


@imports("LSTM", "GRU", "RNN", check=_check)
def _recurrent(xs: list[Any], attrs: dict[str, Any], ctx: Context) -> Any:
    kind = ctx.op
    X, W, R = xs[:3]
    B = xs[3] if len(xs) > 3 else None
    if len(xs) > 4 and xs[4] is not None:
        raise ValueError("sequence_lens is not supported (sequences of one length only)")
    if len(xs) > 7 and xs[7] is not None:
        raise ValueError("peepholes (P) are not supported")
    h0 = xs[5] if len(xs) > 5 else None
    c0 = xs[6] if len(xs) > 6 else None
    layout = int(attrs.get("layout", 0))
    if layout == 1:
        X = F.transpose(X, 1, 0, 2)
        h0 = None if h0 is None else F.transpose(h0, 1, 0, 2)
        c0 = None if c0 is None else F.transpose(c0, 1, 0, 2)
    H = int(attrs["hidden_size"])
    T, N, C = np.shape(X.data if isinstance(X, Variable) else X)
    G = GATES[kind]
    W_ih, W_hh = _gate_rows(W, kind), _gate_rows(R, kind)
    if B is None:
        b_ih = b_hh = None
    else:
        b_ih = _gate_rows(B[:, : G * H][..., None], kind)[:, 0]
        b_hh = _gate_rows(B[:, G * H :][..., None], kind)[:, 0]
    b = b_ih if kind == "GRU" or b_ih is None else b_ih + b_hh
    xw = F.linear(F.reshape(X, (T * N, C)), F.transpose(W_ih), b)
    steps = F.unbind(F.reshape(xw, (T, N, G * H)), axis=0)
    W_hhT = F.transpose(W_hh)
    # The GRU's hidden bias sits inside r * (W_hh h + b_hh): zeros where the node has no B.
    gru_b_hh = np.zeros(G * H, xw.dtype) if b_hh is None else b_hh
    h = None if h0 is None else h0[0]
    c = None if c0 is None else c0[0]
    hs = []
    acts = attrs.get("activations") or ["Tanh"]
    act = acts[0].decode() if isinstance(acts[0], bytes) else acts[0]
    for xw_t in steps:
        if kind == "LSTM":
            h, c = lstm_step(xw_t, h, c, W_hh)
        elif kind == "GRU":
            if h is None:
                h = np.zeros((N, H), xw.dtype)
            h = gru_step(xw_t, h, W_hhT, gru_b_hh)
        else:
            h = rnn_step(xw_t, h, W_hhT, F.relu if act.lower() == "relu" else F.tanh)
        hs.append(h)
    Y = F.reshape(F.stack(hs, axis=0), (T, 1, N, H))
    Y_h = F.reshape(h, (1, N, H))
    if layout == 1:
        Y = F.transpose(Y, 2, 0, 1, 3)
        Y_h = F.transpose(Y_h, 1, 0, 2)
    if kind == "LSTM":
        Y_c = F.reshape(c, (1, N, H))
        return Y, Y_h, (F.transpose(Y_c, 1, 0, 2) if layout == 1 else Y_c)
    return Y, Y_h


# --------------------------------------------------------------------------- the ops alone
# Met outside a layer call (F.chunk, F.unbind or nn.LSTMCell in a user's model): standard
# ONNX ops, one list entry per output.


def _split_sym(x: Value, axis: int, size: int | None) -> tuple[Dim, ...]:
    if isinstance(x.sym[axis], Batch):
        raise UnsupportedOpError(
            "cannot split along the batch dimension; export with dynamic_batch=False"
        )
    if size is None:
        return x.sym[:axis] + x.sym[axis + 1 :]
    return (*x.sym[:axis], size, *x.sym[axis + 1 :])


@exports(Chunk)
def _chunk(b: Builder, f: Chunk, xs: list[Value]) -> list[Result]:
    (x,) = xs
    n = x.shape[f.axis] // f.chunks
    names = b.node("Split", [b.name(x), b.ints([n] * f.chunks)], outputs=f.chunks, axis=f.axis)
    sym = _split_sym(x, f.axis, n)
    return [(name, sym) for name in names]


@exports(Unbind)
def _unbind(b: Builder, f: Unbind, xs: list[Value]) -> list[Result]:
    (x,) = xs
    k = x.shape[f.axis]
    names = b.node("Split", [b.name(x), b.ints([1] * k)], outputs=k, axis=f.axis)
    sym = _split_sym(x, f.axis, None)
    return [(b.node("Squeeze", [name, b.ints([f.axis])]), sym) for name in names]


@exports(LSTMCellOp)
def _lstm_cell(b: Builder, f: LSTMCellOp, xs: list[Value]) -> list[Result]:
    dt = b.outs[0][1]
    xw = b.name(xs[0], dt)
    H = xs[0].shape[1] // 4
    if f.has_h:
        h, W = b.name(xs[1], dt), b.name(xs[2], dt)
        xw = b.node("Add", [xw, b.node("MatMul", [h, b.node("Transpose", [W], perm=[1, 0])])])
    i, fg, g, o = b.node("Split", [xw, b.ints([H] * 4)], outputs=4, axis=1)
    i, fg, o = (b.node("Sigmoid", [v]) for v in (i, fg, o))
    c_new = b.node("Mul", [i, b.node("Tanh", [g])])
    if f.has_c:
        c_new = b.node("Add", [c_new, b.node("Mul", [fg, b.name(xs[-1], dt)])])
    h_new = b.node("Mul", [o, b.node("Tanh", [c_new])])
    sym = (xs[0].sym[0], H)
    return [(h_new, sym), (c_new, sym)]
