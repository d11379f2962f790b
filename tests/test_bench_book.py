"""benchmarks/bench_book.py: its reference computes what minigrad.book computes, and a
`--quick` run writes its report. No timing is asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scripts

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench():
    sys.path.insert(0, str(BENCH))
    try:
        return __import__("bench_book")
    finally:
        sys.path.remove(str(BENCH))


def test_the_book_kit_and_minigrad_book_compute_the_same_step():
    B = _bench()
    w = B.init_weights(0)
    x, t = B.make_batches(1, 0)[0]
    book = B.BookStyleSimpleConvNet(w, B.KITS["book"])
    ours = B.BookStyleSimpleConvNet(w, B.KITS["minigrad"])
    assert book.loss(x, t) == pytest.approx(ours.loss(x, t), rel=1e-13)
    gb, go = book.gradient(x, t), ours.gradient(x, t)
    for k in gb:
        assert go[k].dtype == np.float64
        np.testing.assert_allclose(go[k], gb[k], rtol=1e-10, atol=1e-14, err_msg=k)
    assert B.exactness(0, B.make_batches(2, 0), 2) < 1e-9


def test_quick_run_writes_the_report(tmp_path):
    out = tmp_path / "book.json"
    proc = scripts.run(BENCH / "bench_book.py", "--quick", "--json", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(out.read_text())
    assert rep["benchmark"] == "book"
    assert set(rep["times"]) == {"book64", "minigrad64", "minigrad32"}
    assert set(rep["ratios"]) == {"book64/minigrad64", "book64/minigrad32"}
    assert [b["op"] for b in rep["bars"]] == [">=", ">=", "<="]
    assert rep["exactness"] < 1e-9
    help_ = scripts.run(BENCH / "bench_book.py", "--help")
    assert help_.returncode == 0 and help_.stdout.startswith("usage: bench_book.py")
