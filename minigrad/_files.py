"""Writing files safely: every file minigrad writes (a model or optimizer archive, an ONNX
model, a graph picture, the explorer's frames) goes through `write_atomically`.

It writes a temporary file beside the target, `.NAME.HOST.PID.TOKEN.tmp`, flushes it to disk
and renames it over the target: a write killed midway leaves the target as it was, plus that
temporary file, which each later write or read of the same target removes once it can prove
it stale (written on this machine by a process that no longer runs).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["write_atomically", "remove_stale_temps", "check_target"]


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


def check_target(path: str | os.PathLike[str], who: str) -> str:
    """`path` as a str, once it is known that a file can be written there: not a folder, in
    an existing folder we may write in. `who` (e.g. "export") starts the error messages."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"{who}: path must be a str or os.PathLike of str, got {type(path).__name__}"
        )
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path!r} is a folder; give a file path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder!r} does not exist (create it first)")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{who}: the folder {folder!r} is not writable")
    return path


def temp_path(path: str) -> str:
    """A temporary file's path beside `path`, named so `remove_stale_temps` knows its writer."""
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base}.{_host()}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def write_atomically(
    path: str | os.PathLike[str], write: Callable[[BinaryIO], object], who: str
) -> str:
    """Write a file at `path` (exactly that name) with `write(f)`, `f` a binary file open on a
    temporary file beside it, then rename it over `path`; returns the path. On any error the
    temporary file is removed and `path` is left as it was."""
    path = check_target(path, who)
    remove_stale_temps(path)
    tmp = temp_path(path)
    # Opened by hand rather than with mkstemp, so the file gets the usual permissions.
    try:
        f = open(tmp, "xb")
    except OSError as e:
        raise type(e)(
            e.errno, f"{who}: cannot write in {os.path.dirname(tmp)!r}: {e.strerror}"
        ) from None
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
