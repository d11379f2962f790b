"""benchmarks/bench_conv.py runs: --help, and a --quick run writes its JSON report with the
candidates, ratios, exactness, memory and bars (no timing is asserted: the machine is noisy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import scripts

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_conv.py"


def test_help():
    proc = scripts.run(SCRIPT, "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--json", "--check", "--blocks", "--no-torch", "--no-deep"):
        assert option in proc.stdout
    assert proc.stdout.startswith("usage: bench_conv.py")


@pytest.mark.slow
def test_quick_report(tmp_path):
    out = tmp_path / "conv.json"
    proc = scripts.run(SCRIPT, "--quick", "--no-torch", "--json", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (
        "SimpleConvNet, batch 100" in proc.stdout
        and "bars (docs/architecture.md, Speed and memory):" in proc.stdout
    )
    rep = json.loads(out.read_text())
    assert rep["benchmark"] == "conv" and "torch" not in rep["env"]
    simple, deep = rep["results"]["simple"], rep["results"]["deep"]
    assert set(simple["step_ms"]) == {"minigrad", "numpy32", "book64", "book32"}
    assert set(deep["step_ms"]) == {"minigrad", "numpy32"}
    assert set(simple["ratios"]) == {"minigrad/numpy32", "book64/minigrad", "book32/minigrad"}
    # Same weights, same batches: minigrad trains exactly like the hand-written layers.
    assert rep["exactness"]["simple"] < 1e-4 and rep["exactness"]["deep"] < 1e-4
    mem = rep["memory"]["median"]
    assert mem["minigrad"]["peak"] > 0 and mem["numpy32"]["peak"] > 0
    names = [b["name"].split(" ms/step")[0].split(":")[0] for b in rep["bars"]]
    assert names == [
        "SimpleConvNet minigrad/numpy32",
        "SimpleConvNet book64/minigrad",
        "DeepConvNet minigrad/numpy32",
        "DeepConvNet peak RSS minigrad/numpy32",
        "exactness",
    ]
