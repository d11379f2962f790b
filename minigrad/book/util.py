"""The book's helpers (`common.util`): `smooth_curve`, `shuffle_dataset`, `conv_output_size`,
and `im2col`/`col2im` on ndarrays (minigrad's ops `F.im2col`/`F.col2im`, values only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import no_grad

__all__ = ["smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]


def smooth_curve(x: Any) -> np.ndarray:
    """x smoothed by a Kaiser window of 11 points (beta 2), its ends mirrored; same length."""
    x = np.asarray(x, dtype=float)
    n = 11
    padded = np.concatenate([x[n - 1 : 0 : -1], x, x[-1:-n:-1]])
    window = np.kaiser(n, 2)
    y = np.convolve(window / window.sum(), padded, mode="valid")
    return y[5 : len(y) - 5]


def shuffle_dataset(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and t with their rows in one random order (`np.random.permutation`)."""
    order = np.random.permutation(x.shape[0])  # noqa: NPY002 - the book seeds np.random
    return x[order], t[order]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """(input_size + 2 * pad - filter_size) / stride + 1 (a float, as in the book)."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def _floating(a: Any) -> np.ndarray:
    a = np.asarray(a)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def im2col(
    input_data: Any, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """(N, C, H, W) -> (N*OH*OW, C*filter_h*filter_w): one row per window, zero padding."""
    with no_grad():
        return F.im2col(_floating(input_data), (filter_h, filter_w), stride, pad).data


def col2im(
    col: Any,
    input_shape: tuple[int, ...],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
) -> np.ndarray:
    """The adjoint of im2col: each row of col added onto its window of an (N, C, H, W) image."""
    with no_grad():
        return F.col2im(_floating(col), tuple(input_shape), (filter_h, filter_w), stride, pad).data
