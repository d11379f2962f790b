"""The MNIST cache: one uncompressed ``.npz`` of the four uint8 arrays, written atomically.

The file is written only after the arrays passed ``verify_arrays``, as a temp file in the same
folder renamed over the final name, so a run killed midway leaves no file that would be read as
good. Reading validates it (zip CRCs, no pickles, keys, dtypes, shapes, label range and a marker of
the checksum table it was made for); a file that fails is deleted and never used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import checksums

__all__ = ["CACHE_NAME", "Cache", "default_cache_dir", "is_cache_file", "read_cache_file"]

CACHE_NAME = "mnist.npz"
TEMP_PREFIX = ".mnist-"  # temp files of the atomic write
WORK_PREFIX = ".download-"  # temp folders of downloads
_STALE_AFTER_S = 3600.0
_MARKER = "md5"
_INFO = "info"


def _key(name: str) -> str:
    return name.replace("-", "_")  # "train-images" -> "train_images" inside the npz


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/minigrad/mnist``, or ``~/.cache/minigrad/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative path is invalid and should be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "minigrad" / "mnist"


class Cache:
    """The cache file in ``folder``. ``read()`` loads and validates it once and remembers the
    outcome; ``problem`` then says why a present file was rejected (and deleted)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / CACHE_NAME
        self.problem: str | None = None
        self._loaded = False
        self._arrays: dict[str, NDArray[np.uint8]] | None = None
        self._info: dict[str, object] = {}

    def read(self) -> dict[str, NDArray[np.uint8]] | None:
        """The cached arrays, or None if there is no valid cache file (a bad one is deleted)."""
        if not self._loaded:
            self._loaded = True
            if self.path.is_file() and not os.access(self.path, os.R_OK):
                self.problem = f"cache file {self.path} is not readable (left in place)"
            elif self.path.is_file():
                try:
                    self._arrays, self._info = _load(self.path)
                except ValueError as e:
                    self.problem = f"{e}; deleted"
                    _remove(self.path)
        return self._arrays

    def info(self) -> dict[str, object]:
        """What the valid cache file says about its origin (``source``, ``files``)."""
        self.read()
        return dict(self._info)

    def write(
        self, arrays: dict[str, NDArray[np.uint8]], source: str, files: object = None
    ) -> None:
        """Write verified arrays atomically, with a note of their ``source`` and, for a local
        folder, the ``files`` fingerprint that lets a later run skip re-reading them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.folder)
        payload: dict[str, Any] = {
            _key(name): np.ascontiguousarray(arrays[name]) for name in checksums.IDX_FILES
        }
        payload[_MARKER] = _marker()
        payload[_INFO] = np.array(json.dumps({"source": source, "files": files}))
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".npz.tmp", dir=self.folder)
        try:
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache is ordinary data
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **payload)  # no objects in it: nothing to pickle
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            _remove(Path(tmp))
            raise
        self._loaded = True
        self._arrays = {name: arrays[name] for name in checksums.IDX_FILES}
        self._info = {"source": source, "files": files}

    def workdir(self) -> tempfile.TemporaryDirectory[str]:
        """A temporary folder inside the cache folder for downloads, removed on exit."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=self.folder)


def is_cache_file(path: Path) -> bool:
    """True if `path` looks like a cache file that ``load_mnist`` wrote (its zip holds the
    checksum marker); cheap, reads the zip's directory only."""
    try:
        with zipfile.ZipFile(path) as z:
            return _MARKER + ".npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_cache_file(path: Path) -> dict[str, NDArray[np.uint8]]:
    """The arrays of a cache file, validated as ``Cache.read`` does but never deleted (it may
    be a copy in a folder the user named); ValueError says what is wrong."""
    return _load(path)[0]


def _marker() -> NDArray[np.str_]:
    """The checksum table the cache was made for: a cache from another table is not used."""
    return np.array([spec.md5 for spec in checksums.IDX_FILES.values()])


class _Invalid(ValueError):
    """A cache file that was read but is not what this package writes."""


def _load(path: Path) -> tuple[dict[str, NDArray[np.uint8]], dict[str, object]]:
    """Load and validate the cache file; ValueError says what is wrong with it."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise _Invalid("not an .npz archive")
        with loaded as npz:
            return _validate(npz)
    except _Invalid as e:
        raise ValueError(f"cache file {path} is invalid: {e}") from None
    except (
        ValueError,
        OSError,
        EOFError,
        KeyError,
        zipfile.BadZipFile,
        SyntaxError,  # NumPy parsing a damaged .npy header
        tokenize.TokenError,
    ) as e:
        # Object arrays (allow_pickle=False), bad CRCs, truncated members, garbage bytes.
        raise ValueError(f"cache file {path} is corrupt ({type(e).__name__}: {e})") from e


def _validate(npz: np.lib.npyio.NpzFile) -> tuple[dict[str, NDArray[np.uint8]], dict[str, object]]:
    expected = {_key(name) for name in checksums.IDX_FILES} | {_MARKER, _INFO}
    names = set(npz.files)
    if names != expected:
        raise _Invalid(f"it holds {sorted(names)}, expected {sorted(expected)}")
    # Reading a member in full makes zipfile check its CRC-32.
    marker = npz[_MARKER]
    if marker.shape != (len(checksums.IDX_FILES),) or marker.dtype.kind != "U":
        raise _Invalid("malformed checksum marker")
    if marker.tolist() != _marker().tolist():
        raise _Invalid("it was made for other checksums (stale)")
    info_arr = npz[_INFO]
    try:
        info = json.loads(str(info_arr)) if info_arr.shape == () else None
    except ValueError:
        info = None
    if info_arr.dtype.kind != "U" or not isinstance(info, dict):
        raise _Invalid("malformed info entry")
    arrays: dict[str, NDArray[np.uint8]] = {}
    for name, spec in checksums.IDX_FILES.items():
        a = npz[_key(name)]
        if a.dtype != np.uint8 or a.shape != spec.shape:
            raise _Invalid(f"{name} is {a.dtype} {a.shape}, expected uint8 {spec.shape}")
        if name.endswith("labels") and a.size and int(a.max()) > 9:
            raise _Invalid(f"{name} holds labels above 9")
        arrays[name] = a
    return arrays, info


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _remove_stale(folder: Path) -> None:
    """Remove temp files and folders left by runs killed over an hour ago."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith((TEMP_PREFIX, WORK_PREFIX)):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < _STALE_AFTER_S:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
