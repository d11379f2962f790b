"""The normal distribution's cdf for GELU, on ndarrays: NumPy has no erf, and minigrad does
not depend on SciPy.

Phi(x) = erfc(-x / sqrt(2)) / 2, with erfc(z) for z >= 0 written (as W. J. Cody and Numerical
Recipes do) as t * exp(-z**2 + f(t)), t = 2 / (2 + z): f is smooth and bounded on t in (0, 1],
so a polynomial of low degree fits it. Its coefficients are interpolated at Chebyshev nodes
from `math.erfc` on first use (no table to trust); the degree is the dtype's: 18 for float64
(largest error of erf over the real line 1.6e-15, measured on a grid of 200,001 points
against math.erf), 8 for float32 (1.4e-8, below float32's own rounding). Working from erfc
keeps Phi's lower tail accurate in relative terms, where 1 - erf would cancel: a relative
error under 2e-12 down to x = -10 (past the fitted range it grows, 5e-9 at x = -20, where
Phi is 3e-89).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: erfc is fitted on z in [0, _ZMAX]; past it erfc(z) < 2.2e-17, and the bounded polynomial
#: times exp(-z**2) goes to 0 as it should.
_ZMAX = 6.0
_TMIN = 2 / (2 + _ZMAX)
_DEGREE = {np.dtype(np.float64): 18, np.dtype(np.float32): 8}
_COEFS: dict[np.dtype, tuple[float, ...]] = {}


def _coefs(dt: np.dtype) -> tuple[float, ...]:
    """Power-series coefficients (lowest first) of f in u = (t - tmin) * 2 / (1 - tmin) - 1."""
    c = _COEFS.get(dt)
    if c is None:
        from numpy.polynomial import chebyshev

        def f(u: Any) -> Any:
            t = _TMIN + (u + 1) / 2 * (1 - _TMIN)
            z = 2 / t - 2
            return np.array([math.log(math.erfc(zi) / ti) + zi * zi for zi, ti in zip(z, t)])

        cheb = chebyshev.chebinterpolate(f, _DEGREE.get(dt, 18))
        c = _COEFS[dt] = tuple(float(a) for a in chebyshev.cheb2poly(cheb))
    return c


def half_erfc_array(z: np.ndarray) -> np.ndarray:
    """erfc(z) / 2 for z >= 0, computed in place in `z` (the caller's own array, which is
    returned). In place because each new array of this size costs more than the arithmetic
    on it (page faults on a fresh block)."""
    dt = z.dtype.type
    coefs = _coefs(z.dtype)
    t = z + dt(2)
    np.divide(dt(2), t, out=t)
    u = t - dt(_TMIN)
    u *= dt(2 / (1 - _TMIN))
    u -= dt(1)
    f = u * dt(coefs[-1])
    f += dt(coefs[-2])
    for a in coefs[-3::-1]:
        f *= u
        f += dt(a)
    np.square(z, out=z)
    f -= z
    np.exp(f, out=z)
    z *= t
    z *= dt(0.5)
    return z


def _flat(x: np.ndarray) -> tuple[np.ndarray, np.dtype]:
    """x as a 1-D float array (a view where it can be; 0-d arrays too, so that every step
    below stays an array and can work in place) and its float dtype."""
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return np.asarray(x, dt).reshape(-1), dt


def normal_cdf_array(x: np.ndarray) -> np.ndarray:
    """Phi(x) = (1 + erf(x / sqrt(2))) / 2, the standard normal cdf, elementwise."""
    xf, dt = _flat(x)
    z = np.abs(xf)
    z *= dt.type(1 / math.sqrt(2))
    # Past 40, erfc is 0 in float64; the clip keeps z**2 from overflowing.
    np.minimum(z, dt.type(40), out=z)
    e = half_erfc_array(z)
    # e + (1 - 2e) * [x >= 0]: e for x < 0 (exactly), 1 - e otherwise; a NaN stays NaN.
    # Arithmetic rather than np.where or a masked ufunc: 8-10x faster (0.27 ms against
    # 2.2 ms on 2048 x 256 float32).
    w = e * dt.type(-2)
    w += dt.type(1)
    w *= xf >= 0
    w += e
    return w.reshape(np.shape(x))


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf(x) elementwise (accurate to about 2e-15 in float64)."""
    xf, dt = _flat(x)
    z = np.minimum(np.abs(xf), dt.type(40))
    e = half_erfc_array(z)
    e *= dt.type(-2)
    e += dt.type(1)
    return np.copysign(e, xf, out=e).reshape(np.shape(x))
