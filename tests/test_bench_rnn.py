"""benchmarks/bench_rnn.py runs: --help, and a --quick run writes its JSON report with the
candidates of both settings, ratios, exactness, memory and bars (no timing is asserted: the
machine is noisy); and the hand-written reference trains exactly like minigrad's layers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scripts

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCH / "bench_rnn.py"


def test_help():
    proc = scripts.run(SCRIPT, "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--json", "--check", "--blocks", "--no-torch", "--threads"):
        assert option in proc.stdout
    assert proc.stdout.startswith("usage: bench_rnn.py")


@pytest.mark.slow
def test_quick_report(tmp_path):
    out = tmp_path / "rnn.json"
    proc = scripts.run(SCRIPT, "--quick", "--no-torch", "--json", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "bars (docs/architecture.md, Speed and memory):" in proc.stdout
    rep = json.loads(out.read_text())
    assert rep["benchmark"] == "rnn" and "torch" not in rep["env"]
    assert set(rep["results"]) == {"sequel", "charlm"}
    for r in rep["results"].values():
        assert set(r["step_ms"]) == {"minigrad", "numpy32"}
        assert set(r["ratios"]) == {"minigrad/numpy32"}
        assert len(r["step_ms"]["minigrad"]["blocks"]) == rep["config"]["blocks"]
    assert rep["config"]["settings"]["sequel"] == [10_000, 100, 100, 35, 20]
    assert max(rep["exactness"].values()) < 1e-4
    for s in ("sequel", "charlm"):
        med = rep["memory"][s]["median"]
        assert med["minigrad"]["peak"] > 0 and med["numpy32"]["peak"] > 0
        if med["numpy32"]["rss_imports"] is not None:  # Linux: minigrad is charged its import
            assert med["minigrad"]["rss_imports"] > med["numpy32"]["rss_imports"]
    names = [b["name"].split(":")[0] for b in rep["bars"]]
    assert names == [
        "sequel LSTM LM minigrad/numpy32 ms/step",
        "charlm LSTM minigrad/numpy32 ms/step",
        "sequel truncated-BPTT peak RSS minigrad/numpy32",
        "charlm truncated-BPTT peak RSS minigrad/numpy32",
        "exactness",
    ]


def test_reference_gradients_are_minigrads(monkeypatch):
    """One SGD step of the hand-written LSTM LM equals minigrad's (float64, small sizes): the
    reference computes the same thing."""
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_rnn

    monkeypatch.setitem(bench_rnn.SETTINGS, "tiny", (11, 4, 5, 6, 3))
    w = bench_rnn.weights32("tiny", 0)
    a, b = bench_rnn.Minigrad(w), bench_rnn.Reference(w)
    for ids, t in bench_rnn.make_batches("tiny", 3, 1):
        la, lb = a.step(ids, t), b.step(ids, t)
        assert la == pytest.approx(lb, rel=1e-5)
    wa, wb = a.weights(), b.weights()
    for k in wb:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6)
