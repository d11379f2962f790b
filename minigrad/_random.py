"""The one seed of minigrad's random draws: `minigrad.manual_seed`.

minigrad draws from two places: NumPy's global generator (the initialisers of `nn.init`, the
book's nets, dropout masks: the book's convention, so `np.random.seed` keeps working) and each
`DataLoader`'s own generator (its shuffling). `manual_seed` seeds the first and starts a
`SeedSequence` from which every DataLoader made later without a `seed=` takes its own
stream, so that one call repeats a whole run.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["manual_seed"]

_seeds: np.random.SeedSequence | None = None


def manual_seed(seed: int) -> None:
    """Seed every random draw minigrad makes, so that two runs print the same numbers:
    NumPy's global generator (weight initialisers, dropout masks) is seeded with `seed`,
    and each `DataLoader` made after this call without a `seed=` shuffles from its own
    stream derived from `seed` (in the order the loaders are made). `seed`: an int in
    [0, 2**32), the range of NumPy's global generator.

    The same results also need the same NumPy and BLAS (their sums may round differently)."""
    global _seeds
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(
            f"manual_seed: seed must be in [0, 2**32) (NumPy's global generator takes 32-bit "
            f"seeds), got {seed}"
        )
    np.random.seed(int(seed))  # noqa: NPY002 - the book's convention: the global generator
    _seeds = np.random.SeedSequence(int(seed))


def loader_seed() -> np.random.SeedSequence | None:
    """The seed of a DataLoader made without one: the next stream of `manual_seed`'s
    sequence, or None (fresh entropy from the system) if `manual_seed` was never called."""
    return None if _seeds is None else _seeds.spawn(1)[0]
