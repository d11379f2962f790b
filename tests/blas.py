"""BLAS limited to one thread while a test trains: docs/make_figures.py's `one_blas_thread`
(it runs the guide's pages so), for the tests that train outside the guide."""

from __future__ import annotations

from pathlib import Path

import scripts

one_blas_thread = scripts.load(
    Path(__file__).resolve().parents[1] / "docs" / "make_figures.py", "make_figures"
).one_blas_thread
