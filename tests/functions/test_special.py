"""The normal cdf and erf behind gelu (NumPy has no erf): accuracy against math.erf and
math.erfc over the real line, in float64 and float32, and at the infinities."""

from __future__ import annotations

import math

import numpy as np

from minigrad.functions._special import erf_array, normal_cdf_array


def test_erf_matches_math_erf():
    z = np.linspace(-8, 8, 20001)
    ref = np.array([math.erf(v) for v in z])
    assert np.abs(erf_array(z) - ref).max() < 4e-15
    e32 = erf_array(z.astype(np.float32))
    assert e32.dtype == np.float32
    assert np.abs(e32 - ref).max() < 4e-7


def test_normal_cdf_is_accurate_in_the_lower_tail():
    x = np.linspace(-10, 5, 3001)
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(normal_cdf_array(x), ref, rtol=2e-12, atol=0)
    x = np.linspace(-30, -10, 201)
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(normal_cdf_array(x), ref, rtol=1e-7, atol=0)


def test_normal_cdf_limits():
    got = normal_cdf_array(np.array([-np.inf, np.inf, np.nan, -1e300, 1e300, 0.0]))
    np.testing.assert_array_equal(got[[0, 1, 3, 4]], [0, 1, 0, 1])
    assert abs(got[5] - 0.5) < 1e-15
    assert np.isnan(got[2])
