"""Reading the book's weight files (`pickle` of a dict of NumPy arrays) without running code.

`read_weights_pickle` unpickles through a `pickle.Unpickler` whose `find_class` admits only
what rebuilds an ndarray, a NumPy scalar or a dtype; any other global (a function, a class,
`os.system`) is refused before it is looked up, so nothing in the file is executed, as with
PyTorch's `torch.load(weights_only=True)`. The result must be a dict of str -> ndarray or
number; numeric arrays only.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

__all__ = ["read_weights_pickle", "WeightsPickleError"]

# What pickles of NumPy arrays name (NumPy 1.x wrote numpy.core, 2.x writes numpy._core).
_ALLOWED = {
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype")}


class WeightsPickleError(pickle.UnpicklingError, ValueError):
    """A weights pickle that holds something else than a dict of arrays and numbers."""


class _WeightsUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: str) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            if module.startswith("numpy.core") and not hasattr(np, "core"):
                module = "numpy._core.multiarray"
            return super().find_class(module, name)
        raise WeightsPickleError(
            f"{self._path}: refused to load {module}.{name}: a weights file may hold only a "
            "dict of NumPy arrays and numbers (nothing else is unpickled, no code is run)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsPickleError(f"{self._path}: persistent ids are not allowed in weights")


def read_weights_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dict {name: ndarray or number} pickled in `path` (the book's `.pkl` weights), read
    without running anything from the file. Raises `WeightsPickleError` (a ValueError) for
    anything else, naming the file and what was found."""
    where = os.fspath(path)
    with open(where, "rb") as f:
        try:
            obj = _WeightsUnpickler(f, where).load()
        except WeightsPickleError:
            raise
        except Exception as e:  # a truncated or foreign file
            raise WeightsPickleError(f"{where}: not a readable weights pickle ({e})") from None
    if not isinstance(obj, dict):
        raise WeightsPickleError(f"{where}: holds a {type(obj).__name__}, expected a dict")
    for k, v in obj.items():
        ok_value = isinstance(v, int | float | np.number) or (
            isinstance(v, np.ndarray) and v.dtype.kind in "biuf"
        )
        if not isinstance(k, str) or not ok_value:
            what = f"dtype {v.dtype}" if isinstance(v, np.ndarray) else type(v).__name__
            raise WeightsPickleError(
                f"{where}: entry {k!r} is a {what}; only str keys and numeric arrays or "
                "numbers are allowed"
            )
    return obj
