"""Initializers: the book's reproducibility, the variances of He and Xavier, dtypes, errors."""

# ruff: noqa: NPY002 - the book seeds NumPy's global generator; these tests check that
# np.random.seed reproduces what it did.

from __future__ import annotations

import numpy as np
import pytest

import minigrad
from minigrad.nn import init


def test_normal_is_the_books_weight_init_std_times_randn():
    np.random.seed(42)
    w = init.normal(0.01)((784, 50), np.float64)
    np.random.seed(42)
    np.testing.assert_array_equal(w, 0.01 * np.random.randn(784, 50))
    np.random.seed(42)
    w32 = init.normal(0.01)((784, 50))
    assert w32.dtype == np.float32
    np.testing.assert_array_equal(w32, w.astype(np.float32))


@pytest.mark.parametrize(
    ("fn", "std"),
    [
        (init.he_normal, np.sqrt(2 / 400)),
        (init.he_uniform, np.sqrt(2 / 400)),
        (init.xavier_normal, np.sqrt(2 / (400 + 600))),
        (init.xavier_uniform, np.sqrt(2 / (400 + 600))),
    ],
)
def test_variances(fn, std):
    w = fn((400, 600), np.float64, rng=np.random.default_rng(0))
    assert w.shape == (400, 600) and w.dtype == np.float64
    assert abs(w.mean()) < 0.01 * std
    assert w.std() == pytest.approx(std, rel=0.01)


def test_uniform_bounds():
    w = init.he_uniform((100, 30), rng=np.random.default_rng(0))
    bound = np.sqrt(6 / 100)
    assert w.min() >= -bound and w.max() <= bound and w.max() > 0.95 * bound
    x = init.xavier_uniform((100, 30), rng=np.random.default_rng(0))
    assert np.abs(x).max() <= np.sqrt(6 / 130)


def test_rng_makes_it_repeatable_and_global_seed_too():
    a = init.he_normal((3, 4), rng=np.random.default_rng(7))
    b = init.he_normal((3, 4), rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    np.random.seed(1)
    c = init.xavier_normal((3, 4))
    np.random.seed(1)
    np.testing.assert_array_equal(c, init.xavier_normal((3, 4)))


def test_dtype_follows_the_default():
    minigrad.set_default_dtype(np.float64)
    try:
        assert init.he_normal((2, 2)).dtype == np.float64
        assert init.zeros(3).dtype == np.float64
    finally:
        minigrad.set_default_dtype(np.float32)
    z = init.zeros((2, 3))
    assert z.dtype == np.float32 and not z.any()


def test_get():
    assert init.get("he_uniform") is init.he_uniform
    assert init.get(init.xavier_normal) is init.xavier_normal
    np.random.seed(0)
    w = init.get(0.1)((2, 2), np.float64)
    np.random.seed(0)
    np.testing.assert_array_equal(w, 0.1 * np.random.randn(2, 2))
    with pytest.raises(
        ValueError, match=r"unknown initializer 'he'; expected one of \['he_normal'"
    ):
        init.get("he")
    with pytest.raises(TypeError, match="expected a name, a number or a callable"):
        init.get(None)


def test_errors():
    with pytest.raises(ValueError, match="normal: std must be >= 0, got -1"):
        init.normal(-1)
    with pytest.raises(TypeError, match="normal: std must be a number, got str"):
        init.normal("0.1")
    with pytest.raises(TypeError, match="expected a floating dtype, got int64"):
        init.he_normal((2, 2), np.int64)
    with pytest.raises(ValueError, match="he_normal: a scalar has no fan-in"):
        init.he_normal(())
    with pytest.raises(ValueError, match=r"xavier_uniform: shape \(0, 3\) has an empty dimension"):
        init.xavier_uniform((0, 3))
