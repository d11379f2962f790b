"""minigrad.data._progress: a tqdm bar on a terminal, silence otherwise."""

from __future__ import annotations

import io
import sys

import pytest

from minigrad.data import _progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(_progress, "DELAY_S", 0.0)
    with _progress.progress(2048, "train-images") as update:
        update(1024)
        update(1024)
    assert "train-images" in term.getvalue()


def test_no_bar_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    monkeypatch.setattr(_progress, "DELAY_S", 0.0)
    with _progress.progress(10, "x") as update:
        update(10)
    assert out.getvalue() == ""


def test_without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    with _progress.progress(10, "x") as update:
        update(10)
    assert term.getvalue() == ""
