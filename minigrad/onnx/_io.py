"""The optional dependency and the file: importing `onnx` with an error that names the extra,
and writing a file atomically with errors that name the folder."""

from __future__ import annotations

import contextlib
import os
from typing import Any

EXTRA = 'pip install "minigrad[onnx]"'


def require(module: str, who: str) -> Any:
    """Import `module` (onnx or onnxruntime) or raise an ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{who}: needs the {module} package: {EXTRA} ({e})") from None


def check_target(path: str | os.PathLike[str], who: str) -> str:
    """The path as a string, once it is known that a file can be written there: its folder
    exists and is writable, and the path is not a folder. Raises FileNotFoundError,
    IsADirectoryError or PermissionError with a message that says which."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(
            f"{who}: path must be a str or os.PathLike of str, got {type(path).__name__}"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path!r} is a folder; give a file path such as model.onnx")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder!r} does not exist (create it first)")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{who}: the folder {folder!r} is not writable")
    return path


def write_atomic(path: str, data: bytes, who: str) -> None:
    """Write `data` to `path`: a temporary file in the same folder, flushed to disk, then
    renamed over `path`, so an interrupted write never leaves a partial file at `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    try:
        f = open(tmp, "xb")
    except PermissionError as e:
        raise PermissionError(f"{who}: cannot write in {folder!r}: {e.strerror}") from None
    except OSError as e:
        raise OSError(e.errno, f"{who}: cannot write in {folder!r}: {e.strerror}") from None
    try:
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
