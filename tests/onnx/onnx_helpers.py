"""What the ONNX tests share: the packages they need (a failure under CI=true, where the dev
extra installs them; a skip elsewhere), onnxruntime sessions, and the parity check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

#: The tolerance of the issue: onnxruntime's outputs equal minigrad's to 1e-5 relative.
RTOL = 1e-5


def need(module: str) -> Any:
    """Import `module`; without it, skip the test, or fail it under CI=true (CI installs the
    `onnx` extra through `dev`, so a missing package there is a broken install)."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is not installed; CI installs it with the dev extra")
        pytest.skip(f"{module} is not installed (pip install 'minigrad[onnx]')")


def run_ort(path: str | Path, *inputs: np.ndarray) -> list[np.ndarray]:
    """The outputs of onnxruntime (CPU) on `inputs`, fed in the file's input order."""
    ort = need("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(inputs), names
    return session.run(None, dict(zip(names, inputs)))


def rel_error(got: Any, want: Any) -> float:
    """max |got - want| / max |want|: the error relative to the output's scale."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    return (
        float(np.max(np.abs(got.astype(np.float64) - want))) / (scale or 1.0) if want.size else 0.0
    )


def assert_close(got: Any, want: Any, rtol: float = RTOL) -> None:
    """`got` equals `want` in shape and dtype, and to `rtol` relative to the output's scale."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    err = rel_error(got, want)
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"
