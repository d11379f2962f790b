"""docs/transformers.md: its PyTorch blocks (fenced `py`, which the docs build does not run:
CI has no PyTorch) run after the page's python blocks, where PyTorch is installed, and print
what the page says (the hand-over of MultiheadAttention and TransformerBlock by state dict)."""

from __future__ import annotations

from pathlib import Path

import pytest
import scripts

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "transformers.md"


def test_pytorch_blocks_run_and_print_what_the_page_says(tmp_path):
    pytest.importorskip("torch")  # a local oracle only: never installed in CI
    mf = scripts.load(ROOT / "docs" / "make_figures.py", "make_figures")
    text = PAGE.read_text(encoding="utf-8")
    assert text.count("```py\n") == 1
    page = tmp_path / PAGE.name
    page.write_text(text.replace("```py\n", "```python\n"), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    ns = mf.run_page(page, work)
    assert "torch_block" in ns and "torch_mha" in ns


def test_the_page_hands_over_by_state_dict():
    text = PAGE.read_text(encoding="utf-8")
    assert "```py\n" in text and "to_torch_state_dict" in text
