"""minigrad's archives: `.npz` files of named arrays (what `Module.save` and `Optimizer.save`
write), written atomically (`minigrad._files`) and read without pickles.

An archive is a zip of `name.npy` members, as `np.savez` writes it, so `np.load` reads it too.
"""

from __future__ import annotations

import os
import tokenize
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad._files import remove_stale_temps, write_atomically

__all__ = ["write_archive", "read_archive"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip


def _write_npz(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """What `np.savez` writes (one `name.npy` member per array, readable by `np.load`), but
    for any names: savez's keyword arguments clash with keys like `file`."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def write_archive(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], who: str) -> str:
    """Write `arrays` to `path` (exactly that name) atomically; returns the path. `who`
    (e.g. "save") starts the error messages."""
    return write_atomically(path, lambda f: _write_npz(f, arrays), who)


def read_archive(path: str | os.PathLike[str], who: str) -> dict[str, np.ndarray]:
    """The arrays of the archive at `path`, by name. A file that is not an archive of arrays
    (text, a pickle, a damaged zip, pickled objects inside) raises a ValueError that names
    it; nothing is ever unpickled."""
    path = os.fspath(path)
    remove_stale_temps(path)
    with open(path, "rb") as f:  # FileNotFoundError names the file
        head = f.read(4)
    what = f"{who}: {path!r} is not a minigrad archive (a .npz file written by save)"
    if head not in _ZIP_MAGIC:
        raise ValueError(f"{what}: it does not start as a zip file does (first bytes {head!r})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            out = {}
            for key in archive.files:
                value = archive[key]
                if not isinstance(value, np.ndarray):
                    raise ValueError(f"its member {key!r} is not a .npy array")
                out[key] = value
    except (zipfile.BadZipFile, EOFError, OSError, SyntaxError, tokenize.TokenError) as e:
        # SyntaxError, TokenError: NumPy parsing a damaged .npy header.
        raise ValueError(f"{what}: a damaged zip ({type(e).__name__}: {e})") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError(
                f"{what}: it holds pickled Python objects, which minigrad never loads"
            ) from None
        raise ValueError(f"{what}: {e}") from None
    return out
