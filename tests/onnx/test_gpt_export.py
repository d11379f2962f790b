"""nn.GPT to ONNX (opset 17): onnxruntime gives minigrad's logits to 1e-5 on another batch
size and, through right padding (the model is causal), on a shorter context."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn, no_grad

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

V, L = 13, 10


@pytest.mark.parametrize("tie_weights", [True, False])
def test_gpt_runs_in_onnxruntime_on_other_batches_and_contexts(tmp_path, tie_weights):
    import minigrad.onnx

    np.random.seed(0)  # noqa: NPY002
    net = nn.GPT(V, L, 16, 2, 4, d_ff=32, tie_weights=tie_weights).eval()
    rng = np.random.default_rng(0)
    path = tmp_path / "gpt.onnx"
    minigrad.onnx.export(net, rng.integers(0, V, (2, L)), path, input_names=["ids"])
    model = onnx.load(path)
    assert model.opset_import[0].version == 17
    ops = {n.op_type for n in model.graph.node}
    assert "LayerNormalization" in ops and "Softmax" in ops or "Attention" in ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n, t in [(5, L), (3, 4), (1, 1)]:
        ids = rng.integers(0, V, (n, t))
        padded = np.zeros((n, L), np.int64)
        padded[:, :t] = ids
        (got,) = session.run(None, {"ids": padded})
        with no_grad():
            want = net(ids).data
        assert got.shape == (n, L, V) and got.dtype == np.float32
        np.testing.assert_allclose(got[:, :t], want, rtol=1e-5, atol=1e-5)
