"""BLAS limited to one thread while a test trains, when threadpoolctl is installed (the dev
extra has it).

Training multiplies small matrices: with two BLAS threads on two cores, a busy neighbour
(another test run, a benchmark) makes each product wait for a core, measured 4-10x slower
(the MNIST page of the docs took 50 s instead of 5, the book's training script 5 s instead
of 1).
"""

from __future__ import annotations

import contextlib


def one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """A context manager: one BLAS thread inside it (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
