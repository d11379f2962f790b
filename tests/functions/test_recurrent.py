"""lstm_cell: value against NumPy (PyTorch's gate order), gradients first and second order,
float32, the step without a cell state, an unused output, errors."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import F, Variable

from .check import check_op, grads_of


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_lstm_cell(a, c=None, h=None, W=None):
    if h is not None:
        a = a + h @ W.T
    i, f, g, o = np.split(a, 4, axis=1)
    c_new = sig(i) * np.tanh(g) + (0 if c is None else sig(f) * c)
    return sig(o) * np.tanh(c_new), c_new


@pytest.mark.parametrize("shape", [(2, 8), (3, 4), (1, 12)])
def test_lstm_cell_with_full_state(shape):
    n, h = shape[0], shape[1] // 4
    check_op(
        lambda a, c, h, W: F.concatenate(list(F.lstm_cell(a, h, c, W)), axis=1),
        lambda a, c, h, W: np.concatenate(np_lstm_cell(a, c, h, W), axis=1),
        shape,
        (n, h),
        (n, h),
        (4 * h, h),
        gradgrad=True,
    )


@pytest.mark.parametrize("shape", [(2, 8), (3, 4), (1, 12)])
def test_lstm_cell_with_cell_state_only(shape):
    n, h = shape[0], shape[1] // 4
    check_op(
        lambda a, c: F.concatenate(list(F.lstm_cell(a, c=c)), axis=1),
        lambda a, c: np.concatenate(np_lstm_cell(a, c), axis=1),
        shape,
        (n, h),
        low=-3.0,
        high=3.0,
        gradgrad=True,
    )


def test_lstm_cell_without_state():
    check_op(
        lambda a: F.concatenate(list(F.lstm_cell(a)), axis=1),
        lambda a: np.concatenate(np_lstm_cell(a), axis=1),
        (3, 8),
        gradgrad=True,
    )


def test_lstm_cell_one_output_used():
    rng = np.random.default_rng(0)
    a, c = rng.standard_normal((2, 8)), rng.standard_normal((2, 2))
    w = rng.standard_normal((2, 2))
    ga, gc = grads_of(lambda a, c: F.lstm_cell(a, c=c)[1] * w, a, c)
    # Only c' = f c + i g is used: o's block gets no gradient, and gc = w * f.
    i, f, g, o = np.split(a, 4, axis=1)
    np.testing.assert_allclose(ga[:, 6:], 0)
    np.testing.assert_allclose(gc, w * sig(f), rtol=1e-12)
    np.testing.assert_allclose(ga[:, :2], w * np.tanh(g) * sig(i) * (1 - sig(i)), rtol=1e-12)


def test_lstm_cell_extreme_gates_do_not_warn():
    a = Variable(np.array([[-200.0, 200.0, -200.0, 200.0]], np.float32))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        h, c = F.lstm_cell(a)
    np.testing.assert_array_equal(c.data, [[0.0]])  # i = 0
    assert h.dtype == np.float32


def test_lstm_cell_errors():
    with pytest.raises(
        ValueError, match=r"^lstm_cell: expected gates xw of shape \(N, 4H\), got \(2, 6\)"
    ):
        F.lstm_cell(np.zeros((2, 6)))
    with pytest.raises(
        ValueError,
        match=r"^lstm_cell: gates xw of shape \(2, 8\) need a cell state c of shape \(2, 2\), "
        r"got \(2, 3\)",
    ):
        F.lstm_cell(np.zeros((2, 8)), c=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^lstm_cell: a state h needs its weights W_hh"):
        F.lstm_cell(np.zeros((2, 8)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"need W_hh of shape \(8, 2\), got \(2, 8\)"):
        F.lstm_cell(np.zeros((2, 8)), np.zeros((2, 2)), W_hh=np.zeros((2, 8)))
