"""The book's `dataset.mnist.load_mnist`, on minigrad's loader.

`load_mnist(normalize=True, flatten=True, one_hot_label=False)` returns what the book's
loader returns, array for array: images (N, 784), or (N, 1, 28, 28) without `flatten`, as
uint8 pixels or, with `normalize`, float32 pixels / 255.0; labels as uint8 class indices
or, with `one_hot_label`, float64 one-hot rows (N, 10). MNIST comes from
`minigrad.data.load_mnist` (`$MINIGRAD_DATA`, the cache, the mirrors, the package index,
each checked against the published checksums), never from a pickle the book's loader writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.data import load_mnist as _load

__all__ = ["load_mnist"]


def _images(x: np.ndarray, normalize: bool, flatten: bool) -> np.ndarray:
    if normalize:
        x = x.astype(np.float32)
        x /= 255.0  # in float32, as the book does
    return x if flatten else x.reshape(-1, 1, 28, 28)


def _labels(t: np.ndarray, one_hot: bool) -> np.ndarray:
    if one_hot:
        out = np.zeros((t.size, 10))
        out[np.arange(t.size), t] = 1
        return out
    return t.astype(np.uint8)


def load_mnist(
    normalize: bool = True, flatten: bool = True, one_hot_label: bool = False
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, t_train), (x_test, t_test)` as the book's loader returns them (see the
    module)."""
    for flag, value in [
        ("normalize", normalize),
        ("flatten", flatten),
        ("one_hot_label", one_hot_label),
    ]:
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"load_mnist: {flag} must be a bool, got {type(value).__name__}")
    (x_train, t_train), (x_test, t_test) = _load(normalize=False, flatten=True)
    out: list[Any] = []
    for x, t in [(x_train, t_train), (x_test, t_test)]:
        out.append((_images(x, normalize, flatten), _labels(t, one_hot_label)))
    return out[0], out[1]
