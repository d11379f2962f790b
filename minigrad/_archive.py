"""minigrad's files: `.npz` archives of named arrays (what `Module.save` and `Optimizer.save`
write), written atomically and read without pickles.

An archive is a zip of `name.npy` members, as `np.savez` writes it, so `np.load` reads it too.
A save writes a temporary file beside the target, `.NAME.HOST.PID.TOKEN.tmp`, and renames
it over the target: a save killed midway leaves the target as it was, plus that temporary
file. Each later save or load of the same target removes the temporary files that it can
prove stale: written on this machine by a process that no longer runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tokenize
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["write_archive", "read_archive", "remove_stale_temps"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip


def _write_npz(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """What `np.savez` writes (one `name.npy` member per array, readable by `np.load`), but
    for any names: savez's keyword arguments clash with keys like `file`."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def _host() -> str:
    # Dots split the temporary file's name into its fields.
    return socket.gethostname().replace(".", "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # no permission to signal it: it exists
        return True
    return True


def remove_stale_temps(path: str) -> list[str]:
    """Remove the temporary files of saves to `path` whose writer, on this machine, no
    longer runs; returns the names removed. Files of other machines, of running processes
    and of unknown form are left alone."""
    folder, base = os.path.split(os.path.abspath(path))
    prefix = f".{base}."
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    host = _host()
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        fields = name[len(prefix) :].rsplit(".", 3)  # HOST, PID, TOKEN, "tmp"
        if len(fields) != 4 or fields[0] != host or not fields[1].isdigit():
            continue
        if _alive(int(fields[1])):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
            removed.append(name)
    return removed


def write_archive(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], who: str) -> str:
    """Write `arrays` to `path` (exactly that name) atomically; returns the path. `who`
    (e.g. "save") starts the error messages."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder!r} does not exist")
    remove_stale_temps(path)
    name = f".{os.path.basename(path)}.{_host()}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    tmp = os.path.join(folder, name)
    # Opened by hand rather than with mkstemp, so the file gets the usual permissions.
    f = open(tmp, "xb")
    try:
        with f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


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
