"""benchmarks/bench_transformer.py: --help; the hand-written NumPy block and GPT compute what
minigrad computes (so the speed comparison compares the same math); a --quick run writes its
JSON report with the candidates, exactness, profile and bars (no timing is asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scripts

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCH / "bench_transformer.py"
sys.path.insert(0, str(BENCH))

import bench_transformer as bt  # noqa: E402
from _transformer_reference import GPTRef, init_block, init_gpt  # noqa: E402

D = {"vocab": 11, "context": 8, "d_model": 16, "n_heads": 4, "n_layers": 2, "d_ff": 32}
D["batch"], D["lr"] = 3, 1e-3


def test_help():
    proc = scripts.run(SCRIPT, "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--json", "--check", "--blocks", "--no-torch", "--threads"):
        assert option in proc.stdout
    assert proc.stdout.startswith("usage: bench_transformer.py")


def test_reference_block_equals_minigrads():
    rng = np.random.default_rng(0)
    w = init_block(D["d_model"], D["d_ff"], rng)
    for k in w:  # away from the initial zeros and ones, so that every term counts
        w[k] = w[k] + 0.3 * rng.standard_normal(w[k].shape)
    x = rng.standard_normal((D["batch"], D["context"], D["d_model"])).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    ours, ref = bt.MinigradBlock(w, D), bt.NumpyBlock(w, D)
    from minigrad import Variable

    xv = Variable(x)
    y = ours.blk(xv)
    y.backward(gy)
    y_ref = ref.blk.forward(x)
    gx_ref = ref.blk.backward(gy)
    np.testing.assert_allclose(y.data, y_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xv.grad.data, gx_ref, rtol=1e-4, atol=1e-5)
    names = {
        k[2:]: (n.removeprefix("blocks.0."), t)
        for k, (n, t) in bt.minigrad_names(1).items()
        if k.startswith("0.")
    }
    got = bt.minigrad_weights(ours.blk, names)
    for k in names:
        p = dict(ours.blk.named_parameters())[names[k][0]]
        g = p.grad.data.T if names[k][1] else p.grad.data
        scale = np.max(np.abs(ref.blk.g[k]))
        assert np.max(np.abs(g - ref.blk.g[k])) <= 1e-4 * scale, k
    assert set(got) == set(ref.blk.p)


def test_reference_gpt_step_equals_minigrads():
    w = init_gpt(D["vocab"], D["context"], D["d_model"], D["n_layers"], D["d_ff"], 0)
    batches = bt.make_batches(D, 1, 0)["step"]
    exact = bt.exactness(D, 0, batches)
    assert exact["loss"] < 1e-6 and exact["grads"] < 1e-4
    # One Adam step by hand moves the weights as minigrad's optim.Adam does.
    ours, ref = bt.MinigradGPT(w, D), GPTRef(w, D["n_layers"], D["n_heads"], D["lr"])
    ours.step(*batches[0])
    ref.step(*batches[0])
    got = ours.weights()
    for k in w:
        np.testing.assert_allclose(got[k], ref.fp.p[k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.slow
def test_quick_report(tmp_path):
    out = tmp_path / "t.json"
    proc = scripts.run(SCRIPT, "--quick", "--no-torch", "--json", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "GPT training step" in proc.stdout and "time inside ops" in proc.stdout
    rep = json.loads(out.read_text())
    assert rep["benchmark"] == "transformer" and "torch" not in rep["env"]
    assert set(rep["block"]["step_ms"]) == {"minigrad", "numpy32"}
    assert set(rep["step"]["step_ms"]) == {"minigrad", "numpy32"}
    assert rep["exactness"]["grads"] < 1e-4
    ops = {r["op"] for r in rep["profile"]["ops"]}
    assert {"ScaledDotProductAttention", "Linear", "GELU"} <= ops
    assert rep["memory"]["median"]["minigrad"]["peak"] > 0
    names = [b["name"] for b in rep["bars"]]
    assert names[0].startswith("GPT step minigrad/torch") and names[1].startswith("block")
    assert [b["pass"] for b in rep["bars"]][0] is None  # no torch: skipped
