"""sum, mean, max, min, logsumexp over every kind of axis, with and without keepdims:
values, gradients (first and second order), ties, stability, dtypes, errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from minigrad import F, Variable

from .check import check_op, grads_of


def np_logsumexp(x, axis=None, keepdims=False):
    """The textbook formula; fine for the moderate values the gradient checks use."""
    return np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))


REDUCTIONS = [
    (F.sum, np.sum),
    (F.mean, np.mean),
    (F.max, np.max),
    (F.min, np.min),
    (F.logsumexp, np_logsumexp),
]
IDS = ["sum", "mean", "max", "min", "logsumexp"]

CASES = [
    ((2, 3, 4), None, False),
    ((2, 3, 4), None, True),
    ((2, 3, 4), 1, False),
    ((2, 3, 4), -1, True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (2, 0), True),
    ((5,), 0, False),
    ((), None, False),
]


@pytest.mark.parametrize(("shape", "axis", "keepdims"), CASES)
@pytest.mark.parametrize(("fn", "np_fn"), REDUCTIONS, ids=IDS)
def test_reduction(fn, np_fn, shape, axis, keepdims):
    check_op(
        lambda x: fn(x, axis=axis, keepdims=keepdims),
        lambda x: np_fn(x, axis=axis, keepdims=keepdims),
        shape,
        gradgrad=True,
    )


@pytest.mark.parametrize("method", IDS)
def test_method_forms(method):
    np_fn = dict(zip(IDS, [f for _, f in REDUCTIONS]))[method]
    check_op(
        lambda x: getattr(x, method)(axis=1, keepdims=True),
        lambda x: np_fn(x, axis=1, keepdims=True),
        (3, 4),
    )
    check_op(lambda x: getattr(x, method)(), np_fn, (3, 4))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", IDS)
def test_axis_0_of_a_scalar_reduces_nothing(name, keepdims):
    (g,) = grads_of(lambda v: getattr(F, name)(v, axis=0, keepdims=keepdims), np.array(1.5))
    y = getattr(F, name)(Variable(np.array(1.5)), axis=0, keepdims=keepdims)
    assert y.shape == ()
    assert y.item() == 1.5
    assert g == 1.0


@pytest.mark.parametrize(("fn", "np_fn"), REDUCTIONS, ids=IDS)
def test_axis_as_a_list(fn, np_fn):
    check_op(lambda x: fn(x, axis=[0, 2]), lambda x: np_fn(x, axis=(0, 2)), (2, 3, 2))


def test_sum_with_keepdims_method():
    v = Variable(np.arange(6.0).reshape(2, 3))
    y = v.sum(axis=1, keepdims=True)
    assert y.shape == (2, 1)
    np.testing.assert_array_equal(y.data, [[3.0], [12.0]])


def test_mean_gradient_is_one_over_n():
    (g,) = grads_of(lambda x: F.mean(x, axis=0), np.zeros((4, 2)))
    np.testing.assert_array_equal(g, np.full((4, 2), 0.25))


@pytest.mark.parametrize(
    ("fn", "x", "axis", "grad"),
    [
        (F.max, [1.0, 3.0, 3.0, 2.0], None, [0.0, 0.5, 0.5, 0.0]),
        (F.min, [1.0, 1.0, 1.0, 2.0], None, [1 / 3, 1 / 3, 1 / 3, 0.0]),
        (F.max, [[2.0, 2.0], [0.0, 1.0]], 1, [[0.5, 0.5], [0.0, 1.0]]),
        (F.min, [[2.0, 2.0], [0.0, 2.0]], 0, [[0.0, 0.5], [1.0, 0.5]]),
        (F.max, [[5.0, 5.0], [5.0, 5.0]], None, [[0.25, 0.25], [0.25, 0.25]]),
    ],
)
def test_max_min_split_the_gradient_among_ties(fn, x, axis, grad):
    (g,) = grads_of(lambda v: fn(v, axis=axis), np.array(x))
    np.testing.assert_allclose(g, grad, rtol=1e-15)


def test_logsumexp_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [1000.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.logsumexp(Variable(x), axis=1)
        (g,) = grads_of(lambda v: F.logsumexp(v, axis=1), x)
    np.testing.assert_allclose(y.data, [1000.0 + np.log(2), -1000.0 + np.log(2), 1000.0])
    np.testing.assert_allclose(g, [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]])


def test_logsumexp_gradient_is_softmax():
    x = np.array([[0.0, 1.0, 2.0]])
    (g,) = grads_of(lambda v: F.logsumexp(v, axis=1), x)
    e = np.exp(x)
    np.testing.assert_allclose(g, e / e.sum(), rtol=1e-12)


def test_float32_keeps_its_dtype_through_mean():
    v = Variable(np.ones((3, 5), dtype=np.float32))
    y = v.mean()
    y.backward()
    assert y.dtype == np.float32
    assert v.grad.dtype == np.float32


@pytest.mark.parametrize("name", IDS)
def test_axis_out_of_range(name):
    with pytest.raises(
        ValueError, match=rf"^{name}: axis 2 is out of range for an input of 2 dimensions"
    ):
        getattr(F, name)(Variable(np.ones((2, 3))), axis=2)


@pytest.mark.parametrize("name", IDS)
def test_repeated_axis(name):
    with pytest.raises(ValueError, match=rf"^{name}: repeated axis in \(1, -1\)"):
        getattr(F, name)(Variable(np.ones((2, 3))), axis=(1, -1))


@pytest.mark.parametrize("name", IDS)
def test_axis_of_the_wrong_type(name):
    with pytest.raises(TypeError, match=rf"^{name}: axis must be an int or a tuple of ints"):
        getattr(F, name)(Variable(np.ones((2, 3))), axis=1.5)


@pytest.mark.parametrize("name", ["mean", "max", "min", "logsumexp"])
def test_empty_input(name):
    with pytest.raises(
        ValueError, match=rf"^{name}: cannot reduce an empty array of shape \(0, 3\)"
    ):
        getattr(F, name)(Variable(np.ones((0, 3))))


def test_sum_of_empty_input_is_zero():
    v = Variable(np.ones((0, 3)))
    y = v.sum(axis=0)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.0])
    y.backward(np.ones(3))
    assert v.grad.shape == (0, 3)
