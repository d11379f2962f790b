"""minigrad.data.DataLoader: epochs, batches, shuffling and bad arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from minigrad.data import DataLoader, IndexableDataset

X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
T = np.arange(10) * 10


def _epoch(loader: DataLoader) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs, ts = zip(*loader, strict=True)
    return list(xs), list(ts)


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_once_per_epoch(shuffle: bool) -> None:
    loader = DataLoader((X, T), batch_size=4, shuffle=shuffle, seed=0)
    assert len(loader) == 3
    for _ in range(3):
        xs, ts = _epoch(loader)
        assert [len(x) for x in xs] == [4, 4, 2]  # the last batch is partial
        x, t = np.concatenate(xs), np.concatenate(ts)
        assert sorted(t.tolist()) == T.tolist()
        np.testing.assert_array_equal(x[:, 0] * 10 / 3, t)  # rows stay paired with labels
        if not shuffle:
            np.testing.assert_array_equal(t, T)


def test_drop_last() -> None:
    loader = DataLoader((X, T), batch_size=4, drop_last=True, seed=0)
    assert len(loader) == 2
    xs, _ = _epoch(loader)
    assert [len(x) for x in xs] == [4, 4]
    assert len(DataLoader((X, T), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader((X, T), batch_size=11, drop_last=True)) == 0
    assert len(DataLoader((X, T), batch_size=11)) == 1


def test_seeded_shuffling_is_reproducible_and_differs_between_epochs() -> None:
    a = DataLoader((X, T), batch_size=10, seed=42)
    b = DataLoader((X, T), batch_size=10, seed=42)
    epochs_a = [_epoch(a)[1][0] for _ in range(3)]
    epochs_b = [_epoch(b)[1][0] for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    other = _epoch(DataLoader((X, T), batch_size=10, seed=7))[1][0]
    assert not np.array_equal(other, epochs_a[0])


def test_each_iter_is_a_fresh_pass() -> None:
    loader = DataLoader((X, T), batch_size=3, shuffle=False)
    it = iter(loader)
    next(it)
    assert len(list(loader)) == 4  # a new iter() starts over, the old one is unaffected
    assert len(list(it)) == 3


def test_batches_are_copies() -> None:
    x = X.copy()
    for xb, _ in DataLoader((x, T), batch_size=4, shuffle=False):
        xb[...] = -1
    np.testing.assert_array_equal(x, X)


class Squares:
    """An indexable dataset: x = i, t = i**2."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, idx: np.ndarray) -> tuple[Any, Any]:
        return idx.astype(np.float64), idx**2


def test_indexable_dataset() -> None:
    assert isinstance(Squares(), IndexableDataset)
    loader = DataLoader(Squares(), batch_size=3, seed=1)
    xs, ts = _epoch(loader)
    assert [len(x) for x in xs] == [3, 3, 1]
    x, t = np.concatenate(xs), np.concatenate(ts)
    assert sorted(x.tolist()) == list(range(7))
    np.testing.assert_array_equal(t, x**2)


def test_dataset_returning_no_pair() -> None:
    class Bad(Squares):
        def __getitem__(self, idx: np.ndarray) -> Any:
            return idx

    with pytest.raises(TypeError, match=r"must return a tuple \(x_batch, t_batch\), got ndarray"):
        list(DataLoader(Bad(), batch_size=2))


@pytest.mark.parametrize(
    "args, error, match",
    [
        (
            ((X, T[:9]), 4),
            ValueError,
            r"x has 10 samples but t has 9 \(shapes \(10, 3\) and \(9,\)\)",
        ),
        (((X, T), 0), ValueError, "batch_size must be positive, got 0"),
        (((X, T), -2), ValueError, "batch_size must be positive, got -2"),
        (((X, T), 2.0), TypeError, "batch_size must be an int, got float"),
        (((X, T), True), TypeError, "batch_size must be an int, got bool"),
        (((X[:0], T[:0]), 4), ValueError, "the dataset is empty"),
        (((X, T, T), 4), ValueError, r"must be \(x, t\), got 3 items"),
        (((np.float32(1), T), 4), ValueError, r"got shapes \(\) and \(10,\)"),
        (([X, T], 4), TypeError, r"as a tuple \(x, t\), not a list"),
        ((X, 4), TypeError, r"as a tuple \(x, t\), not a ndarray"),
        ((42, 4), TypeError, "must be a tuple .* or have __len__ and __getitem__, got int"),
    ],
)
def test_bad_arguments(args: tuple, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DataLoader(*args)


def test_numpy_int_batch_size_and_repr() -> None:
    loader = DataLoader((X, T), batch_size=np.int64(4))
    assert loader.batch_size == 4 and type(loader.batch_size) is int
    assert repr(loader) == (
        "DataLoader(10 samples, batch_size=4, shuffle=True, drop_last=False, 3 batches)"
    )
