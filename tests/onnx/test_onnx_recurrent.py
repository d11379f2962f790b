"""Recurrent layers to ONNX and back: one ONNX RNN/LSTM/GRU node per layer (gate orders
converted), onnxruntime's outputs equal to minigrad's to 1e-5 on another batch size and
another sequence length, the file loaded back by minigrad; Embedding -> Gather in a character
language model."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_helpers import RTOL, need, rel_error, run_ort

import minigrad as mg
import minigrad.onnx
from minigrad import nn

KINDS = ["RNN", "LSTM", "GRU"]


def outputs_of(result):
    out, state = result
    return [out, *(state if isinstance(state, tuple) else (state,))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("batch_first", "num_layers"), [(False, 1), (True, 2)])
def test_layer_runs_in_onnxruntime_on_other_batch_and_length(
    tmp_path, kind, batch_first, num_layers
):
    onnx = need("onnx")
    np.random.seed(0)  # noqa: NPY002
    m = getattr(nn, kind)(3, 5, num_layers=num_layers, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    t_axis = 1 if batch_first else 0
    n_axis = 1 - t_axis
    n_out = 3 if kind == "LSTM" else 2
    # Both the time and the batch axes symbolic (dynamic_batch would name the first one).
    axes = {"input": {t_axis: "T", n_axis: "B"}, "y0": {t_axis: "T", n_axis: "B"}}
    for k in range(1, n_out):
        axes[f"y{k}"] = {1: "B"}
    path = minigrad.onnx.export(m, x, tmp_path / "m.onnx", dynamic_batch=False, dynamic_axes=axes)
    proto = onnx.load(str(path))
    assert [n.op_type for n in proto.graph.node].count(kind) == num_layers
    assert not {"Split", "Sigmoid", "Tanh"} & {n.op_type for n in proto.graph.node}
    other = rng.standard_normal((7, 3, 3)).astype(np.float32)  # other T and N
    if batch_first:
        other = other.transpose(1, 0, 2).copy()
    got = run_ort(path, other)
    want = outputs_of(m(other))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert rel_error(g, w.data) < RTOL
    # And back into minigrad.
    loaded = minigrad.onnx.load(path)
    for g, w in zip(loaded(other), want):
        np.testing.assert_allclose(g.data, w.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_initial_state_and_unbatched_input(tmp_path, kind):
    need("onnx")
    np.random.seed(1)  # noqa: NPY002
    m = getattr(nn, kind)(3, 4, num_layers=2)
    rng = np.random.default_rng(2)

    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 2, 4)).astype(np.float32)
    c0 = h0 * 0.5
    if kind == "LSTM":
        inputs = (x, h0, c0)
        path = minigrad.onnx.export(
            lambda x, h0, c0: m(x, (h0, c0)), inputs, tmp_path / "s.onnx", dynamic_batch=False
        )
        want = outputs_of(m(x, (h0, c0)))
    else:
        inputs = (x, h0)
        path = minigrad.onnx.export(
            lambda x, h0: m(x, h0), inputs, tmp_path / "s.onnx", dynamic_batch=False
        )
        want = outputs_of(m(x, h0))
    for g, w in zip(run_ort(path, *inputs), want):
        assert rel_error(g, w.data) < RTOL

    u = rng.standard_normal((6, 3)).astype(np.float32)
    path = minigrad.onnx.export(m, u, tmp_path / "u.onnx", dynamic_batch=False)
    for g, w in zip(run_ort(path, u), outputs_of(m(u))):
        assert g.shape == w.shape and rel_error(g, w.data) < RTOL


def test_gate_orders_are_converted():
    from minigrad.onnx.recurrent import FROM_ONNX, TO_ONNX, _reorder

    a = np.arange(8.0).reshape(8, 1)  # 4 gates of H = 2: i i f f g g o o
    onnx_order = _reorder(a, TO_ONNX["LSTM"])  # i o f c
    np.testing.assert_array_equal(onnx_order[:, 0], [0, 1, 6, 7, 2, 3, 4, 5])
    np.testing.assert_array_equal(_reorder(onnx_order, FROM_ONNX["LSTM"]), a)
    g = np.arange(3.0).reshape(3, 1)  # r z n -> z r h
    np.testing.assert_array_equal(_reorder(g, TO_ONNX["GRU"])[:, 0], [1, 0, 2])


def test_char_language_model_embedding_to_gather(tmp_path):
    onnx = need("onnx")

    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(20, 6)
            self.lstm = nn.LSTM(6, 8, batch_first=True)
            self.fc = nn.Linear(8, 20)

        def forward(self, ids):
            y, _ = self.lstm(self.embed(ids))
            n, t, h = y.shape
            return self.fc(y.reshape(n * t, h)).reshape(n, t, 20)

    np.random.seed(2)  # noqa: NPY002
    model = CharLM()
    ids = np.random.default_rng(3).integers(0, 20, (2, 5))
    path = minigrad.onnx.export(model, ids, tmp_path / "lm.onnx")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Gather" in ops and ops.count("LSTM") == 1
    other = np.random.default_rng(4).integers(0, 20, (4, 5))
    (got,) = run_ort(path, other)
    with mg.no_grad():
        want = model(other).data
    assert rel_error(got, want) < RTOL


def test_dynamic_axes_errors(tmp_path):
    need("onnx")
    m = nn.GRU(3, 4)
    x = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(
        ValueError, match=r"dynamic_axes names 'z', which is not an input or output"
    ):
        minigrad.onnx.export(m, x, tmp_path / "a.onnx", dynamic_axes={"z": {0: "T"}})
    with pytest.raises(ValueError, match=r"'input' has 3 dimensions, no axis 3"):
        minigrad.onnx.export(m, x, tmp_path / "a.onnx", dynamic_axes={"input": {3: "T"}})


def test_chunk_unbind_and_lstm_cell_alone(tmp_path):
    """Outside a layer call the ops export as standard ONNX ops (Split, Squeeze, Sigmoid,
    ...): a user's loop over nn.LSTMCell, and chunk/unbind, run in onnxruntime."""
    onnx = need("onnx")
    np.random.seed(3)  # noqa: NPY002
    cell = nn.LSTMCell(3, 4)

    def model(x):  # x (T, N, 3): a hand-written loop over the cell
        h = c = None
        outs = []
        for x_t in mg.F.unbind(x, axis=0):
            h, c = cell(x_t, None if h is None else (h, c))
            a, b = mg.F.chunk(h, 2, axis=1)
            outs.append(a * b)
        return mg.F.stack(outs, axis=0)

    x = np.random.default_rng(5).standard_normal((3, 2, 3)).astype(np.float32)
    path = minigrad.onnx.export(model, x, tmp_path / "cell.onnx", dynamic_batch=False)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Split", "Sigmoid", "Tanh", "MatMul"} <= ops
    (got,) = run_ort(path, x)
    assert rel_error(got, model(x).data) < RTOL
    (back,) = [minigrad.onnx.load(path)(x)]
    np.testing.assert_allclose(back.data, model(x).data, rtol=1e-5, atol=1e-6)
