"""`python -m minigrad.book SCRIPT [ARGS...]`: run a script of the book's repository
unchanged on minigrad (see `minigrad.book.runner`)."""

from __future__ import annotations

import sys

import numpy as np

from minigrad.book.runner import SERVED, run_script

_USAGE = """usage: python -m minigrad.book [--seed N] SCRIPT [ARGS...]

Run a script of the book's repository (Deep Learning from Scratch) unchanged on minigrad,
from the script's own folder, e.g.  cd ch06 && python -m minigrad.book batch_norm_test.py
Its imports of {served} are served by minigrad.book; its chapter-local files stay its own.
MNIST comes from minigrad's loader ($MINIGRAD_DATA, the cache, the mirrors, the package index).
--seed N calls np.random.seed(N) first, so the run prints what the book's own code prints
after the same call.
"""


def main(argv: list[str] | None = None) -> int:
    """The command line: run SCRIPT with ARGS; 2 and the usage on a bad command line."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(
            _USAGE.format(served=", ".join(SERVED)), end="", file=sys.stdout if argv else sys.stderr
        )
        return 0 if argv else 2
    if argv[0] == "--seed" or argv[0].startswith("--seed="):
        value, rest = (
            (argv[1], argv[2:])
            if argv[0] == "--seed" and len(argv) > 1
            else (argv[0].partition("=")[2], argv[1:])
        )
        if not value.isdigit() or not rest:
            print(_USAGE.format(served=", ".join(SERVED)), end="", file=sys.stderr)
            print(
                "minigrad.book: --seed needs a non-negative integer and a SCRIPT", file=sys.stderr
            )
            return 2
        np.random.seed(int(value))  # noqa: NPY002 - the book draws from the global generator
        argv = rest
    try:
        run_script(argv[0], argv[1:])
    except FileNotFoundError as e:
        if e.filename is None and str(e).startswith("minigrad.book: no script"):
            print(e, file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
