"""``DataLoader``: mini-batches over ``(x, t)`` arrays or an indexable dataset."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from minigrad._random import loader_seed

__all__ = ["DataLoader", "IndexableDataset"]

Batch = tuple[NDArray[Any], NDArray[Any]]


@runtime_checkable
class IndexableDataset(Protocol):
    """A dataset ``DataLoader`` can batch: ``len(ds)`` samples, and ``ds[idx]`` with ``idx`` a
    1-D int64 array of sample indices returning ``(x_batch, t_batch)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, idx: NDArray[np.int64]) -> tuple[Any, Any]: ...


class _ArrayPair:
    """``(x, t)`` arrays as an ``IndexableDataset``."""

    def __init__(self, x: NDArray[Any], t: NDArray[Any]) -> None:
        self.x, self.t = x, t

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: NDArray[np.int64]) -> Batch:
        return self.x[idx], self.t[idx]


class DataLoader:
    """Iterate over a dataset in mini-batches of ``(x_batch, t_batch)``.

    ``dataset`` is a tuple ``(x, t)`` of arrays with the same first dimension, or any object
    with ``__len__`` and a ``__getitem__`` that takes an int64 index array and returns
    ``(x_batch, t_batch)`` (see ``IndexableDataset``). Each ``iter()`` is a fresh epoch that
    yields every sample exactly once (batches are copies, in shuffled order if ``shuffle``);
    the last batch is smaller unless ``drop_last``. The shuffling comes from
    ``np.random.default_rng(seed)``, created once, so epochs differ from each other and the
    whole sequence repeats for the same ``seed``. Without a ``seed``, the loader's stream comes
    from ``minigrad.manual_seed`` if it was called (else from fresh system entropy).
    ``len(loader)`` is the number of batches.
    """

    def __init__(
        self,
        dataset: tuple[Any, Any] | IndexableDataset,
        batch_size: int | np.integer[Any],
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | np.random.SeedSequence | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(
                f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}"
            )
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be positive, got {batch_size}")
        self.dataset: IndexableDataset = _as_dataset(dataset)
        n = len(self.dataset)
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.batch_size: int = int(batch_size)
        self.shuffle: bool = bool(shuffle)
        self.drop_last: bool = bool(drop_last)
        self.rng: np.random.Generator = np.random.default_rng(
            loader_seed() if seed is None else seed
        )

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        """One epoch. The order is drawn here, when ``iter()`` is called."""
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order)

    def _batches(self, order: NDArray[np.int64]) -> Iterator[Batch]:
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            batch = self.dataset[idx]
            if not isinstance(batch, tuple) or len(batch) != 2:
                raise TypeError(
                    "DataLoader: dataset[idx] must return a tuple (x_batch, t_batch), "
                    f"got {type(batch).__name__}"
                )
            yield batch

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)"
        )


def _as_dataset(dataset: object) -> IndexableDataset:
    if isinstance(dataset, tuple):
        if len(dataset) != 2:
            raise ValueError(
                f"DataLoader: a tuple dataset must be (x, t), got {len(dataset)} items"
            )
        x, t = (np.asarray(a) for a in dataset)
        if x.ndim == 0 or t.ndim == 0:
            raise ValueError(
                f"DataLoader: x and t must be arrays of samples, got shapes {x.shape} and {t.shape}"
            )
        if len(x) != len(t):
            raise ValueError(
                f"DataLoader: x has {len(x)} samples but t has {len(t)} "
                f"(shapes {x.shape} and {t.shape})"
            )
        return _ArrayPair(x, t)
    if isinstance(dataset, (list, np.ndarray)):
        raise TypeError(
            f"DataLoader: pass the data as a tuple (x, t), not a {type(dataset).__name__}"
        )
    if not isinstance(dataset, IndexableDataset):
        raise TypeError(
            "DataLoader: dataset must be a tuple (x, t) or have __len__ and __getitem__, "
            f"got {type(dataset).__name__}"
        )
    return dataset
