"""`python -m minigrad.book [--seed N] [--float32] SCRIPT [ARGS...]`: run a script of the
book's repository unchanged on minigrad (see `minigrad.book.runner`)."""

from __future__ import annotations

import sys

import numpy as np

from minigrad.book.layers import set_compute_dtype
from minigrad.book.runner import SERVED, run_script

_USAGE = """usage: python -m minigrad.book [--seed N] [--float32] SCRIPT [ARGS...]

Run a script of the book's repository (Deep Learning from Scratch) unchanged on minigrad,
from the script's own folder, e.g.  cd ch06 && python -m minigrad.book batch_norm_test.py
Its imports of {served} are served by minigrad.book; its chapter-local files stay its own.
MNIST comes from minigrad's loader ($MINIGRAD_DATA, the cache, the mirrors, the package index).

options (before SCRIPT):
  --seed N    call np.random.seed(N) first: the run then prints what the book's own code
              prints after the same call
  --float32   the book's layers compute in float32 (faster, e.g. ch07/train_convnet.py;
              no longer the book's digits)
"""


def _usage_error(message: str) -> int:
    print(_USAGE.format(served=", ".join(SERVED)), end="", file=sys.stderr)
    print(f"minigrad.book: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (2 and the usage for a bad command line)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(_USAGE.format(served=", ".join(SERVED)), end="")
        return 0
    seed, float32 = None, False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--float32":
            float32 = True
        elif opt == "--seed" or opt.startswith("--seed="):
            value = opt.partition("=")[2] if "=" in opt else (args.pop(0) if args else "")
            if not value.isdigit():
                return _usage_error(f"--seed needs a non-negative integer, got {value!r}")
            seed = int(value)
        else:
            return _usage_error(f"unknown option {opt} (options go before SCRIPT)")
    if not args:
        return _usage_error("no SCRIPT given")
    if seed is not None:
        np.random.seed(seed)  # noqa: NPY002 - the book draws from the global generator
    previous = set_compute_dtype(np.float32) if float32 else None
    try:
        run_script(args[0], args[1:])
    except FileNotFoundError as e:
        if e.filename is None and str(e).startswith("minigrad.book: no script"):
            print(e, file=sys.stderr)
            return 2
        raise
    finally:
        if float32:
            set_compute_dtype(previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
