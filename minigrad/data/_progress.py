"""A progress bar on stderr for slow downloads and conversions, if tqdm is installed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DELAY_S = 1.0  # quick steps show no bar


@contextmanager
def progress(total: int | None, desc: str, unit: str = "B") -> Iterator[Callable[[int], object]]:
    """Yield an ``update(n)`` callable. The bar appears only after a second, only when stderr is
    a terminal, and only if tqdm can be imported; otherwise ``update`` does nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield lambda n: None
        return
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        delay=DELAY_S,
        disable=None,  # None: off when stderr is not a terminal
        leave=False,
        file=sys.stderr,
    )
    try:
        yield bar.update
    finally:
        bar.close()
