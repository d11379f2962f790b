"""The optional dependency: importing `onnx` with an error that names the extra. (Files are
written by `minigrad._files`.)"""

from __future__ import annotations

from typing import Any

EXTRA = 'pip install "minigrad[onnx]"'


def require(module: str, who: str) -> Any:
    """Import `module` (onnx or onnxruntime) or raise an ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{who}: needs the {module} package: {EXTRA} ({e})") from None
