"""sum, mean, max, min, logsumexp, var, std over every kind of axis (or `dim`), with and
without keepdims: values, gradients (first and second order), ties, stability, dtypes,
errors; argmax and argmin.
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


# --------------------------------------------------------------------------- dim= for axis=


@pytest.mark.parametrize("name", [*IDS, "var", "std"])
def test_dim_is_a_synonym_of_axis(name):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    fn = getattr(F, name)
    for axis in (1, (0, 2), -1):
        want = fn(Variable(x), axis=axis, keepdims=True).data
        np.testing.assert_array_equal(fn(Variable(x), dim=axis, keepdims=True).data, want)
        np.testing.assert_array_equal(
            getattr(Variable(x), name)(dim=axis, keepdims=True).data, want
        )
    with pytest.raises(TypeError, match=rf"^{name}: got both axis=1 and dim=2; dim is axis's"):
        fn(Variable(x), 1, dim=2)


# --------------------------------------------------------------------------- var, std


def np_var(x, axis=None, keepdims=False, correction=1):
    """The definition, sum of squared deviations over n - correction."""
    m = x.mean(axis=axis, keepdims=True)
    n = x.size // np.size(x.sum(axis=axis))
    return ((x - m) ** 2).sum(axis=axis, keepdims=keepdims) / (n - correction)


SPREAD_CASES = [
    ((2, 3, 4), None, False),
    ((2, 3, 4), 1, True),
    ((2, 3, 4), (0, 2), False),
    ((5,), 0, True),
    ((3, 1), None, False),
]


@pytest.mark.parametrize(("shape", "axis", "keepdims"), SPREAD_CASES)
@pytest.mark.parametrize("unbiased", [True, False])
def test_var(shape, axis, keepdims, unbiased):
    c = int(unbiased)
    check_op(
        lambda x: F.var(x, axis, unbiased, keepdims),
        lambda x: np_var(x, axis, keepdims, c),
        shape,
        gradgrad=True,
    )


@pytest.mark.parametrize(("shape", "axis", "keepdims"), SPREAD_CASES)
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_std(shape, axis, keepdims, correction):
    check_op(
        lambda x: F.std(x, axis, keepdims=keepdims, correction=correction),
        lambda x: np.sqrt(np_var(x, axis, keepdims, correction)),
        shape,
        gradgrad=True,
    )


def test_var_std_in_a_broadcast_graph_and_method_forms():
    check_op(lambda x, w: (x * w).var(axis=0), lambda x, w: np_var(x * w, 0), (4, 1), (1, 3))
    check_op(
        lambda x, w: (x + w).std(1, False, True),
        lambda x, w: np.sqrt(np_var(x + w, 1, True, 0)),
        (2, 3),
        (3,),
        gradgrad=True,
    )


def test_var_default_is_unbiased_as_torch_var():
    x = np.array([1.0, 2.0, 3.0, 6.0])
    assert F.var(Variable(x)).item() == pytest.approx(14 / 3)
    assert F.var(Variable(x), unbiased=False).item() == pytest.approx(14 / 4)
    assert F.std(Variable(x)).item() == pytest.approx(np.sqrt(14 / 3))


def test_var_std_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((3, 4, 5))
    for fn, tfn in [(F.var, torch.var), (F.std, torch.std)]:
        for dim, unbiased in [(1, True), ((0, 2), False), (None, True)]:
            v = Variable(x.copy())
            y = fn(v, dim=dim, unbiased=unbiased)
            y.backward(np.ones(y.shape))
            t = torch.tensor(x, requires_grad=True)
            ty = (
                tfn(t, dim=dim, unbiased=unbiased) if dim is not None else tfn(t, unbiased=unbiased)
            )
            ty.backward(torch.ones_like(ty))
            np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
            np.testing.assert_allclose(v.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_keep_float32(name):
    v = Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = getattr(F, name)(v, axis=1)
    y.backward(np.ones(2, np.float32))
    assert y.dtype == np.float32 and v.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_bad_input(name):
    fn = getattr(F, name)
    x = Variable(np.ones((2, 3)))
    with pytest.raises(
        ValueError, match=rf"^{name}: 1 element\(s\) along axis 0 .* shape \(1, 3\)"
    ):
        fn(Variable(np.ones((1, 3))), axis=0)
    with pytest.raises(ValueError, match=rf"^{name}: 3 element\(s\) along axis 1 .*correction 3"):
        fn(x, axis=1, correction=3)
    with pytest.raises(ValueError, match=rf"^{name}: correction must be non-negative, got -1"):
        fn(x, correction=-1)
    with pytest.raises(TypeError, match=rf"^{name}: correction must be an int, got 0.5"):
        fn(x, correction=0.5)
    with pytest.raises(TypeError, match=rf"^{name}: unbiased must be True or False, got 1"):
        fn(x, unbiased=1)
    with pytest.raises(TypeError, match=rf"^{name}: give unbiased or correction, not both"):
        fn(x, unbiased=False, correction=1)
    with pytest.raises(TypeError, match=rf"^{name}: expected floating-point data, got int64"):
        fn(np.arange(4))
    with pytest.raises(ValueError, match=rf"^{name}: axis 2 is out of range"):
        fn(x, axis=2)
    with pytest.raises(ValueError, match=rf"^{name}: cannot reduce an empty array of shape"):
        fn(Variable(np.ones((0, 3))))
    # One element with no correction is fine: a variance of 0.
    assert fn(Variable(np.ones((1, 3))), axis=0, unbiased=False).data.tolist() == [0.0] * 3


# --------------------------------------------------------------------------- argmax, argmin


@pytest.mark.parametrize(("name", "np_fn"), [("argmax", np.argmax), ("argmin", np.argmin)])
def test_argmax_argmin(name, np_fn):
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    for axis in (None, 0, 1, -1):
        for keepdims in (False, True):
            want = np_fn(x, axis=axis, keepdims=keepdims)
            for got in (
                getattr(F, name)(Variable(x), axis, keepdims),
                getattr(F, name)(Variable(x), dim=axis, keepdims=keepdims),
                getattr(Variable(x), name)(axis=axis, keepdims=keepdims),
                getattr(F, name)(x, axis, keepdims),
            ):
                assert type(got) is np.ndarray and got.dtype.kind == "i"
                assert got.shape == np.shape(want)
                np.testing.assert_array_equal(got, want)


def test_argmax_takes_the_first_of_ties_and_serves_accuracy():
    y = Variable(np.array([[0.1, 0.9, 0.9], [2.0, 2.0, -1.0]]))
    np.testing.assert_array_equal(y.argmax(axis=1), [1, 0])
    np.testing.assert_array_equal(y.argmin(dim=1), [0, 2])
    # An ndarray, so == compares the values (on Variables it compares identity).
    assert (y.argmax(axis=1) == np.array([1, 1])).mean() == 0.5


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_bad_input(name):
    fn = getattr(F, name)
    x = Variable(np.ones((2, 3)))
    with pytest.raises(TypeError, match=rf"^{name}: axis must be an int or None, got \(0, 1\)"):
        fn(x, axis=(0, 1))
    with pytest.raises(ValueError, match=rf"^{name}: axis 2 is out of range"):
        fn(x, 2)
    with pytest.raises(ValueError, match=rf"^{name}: cannot reduce an empty array of shape \(0,\)"):
        fn(np.ones(0))
    with pytest.raises(TypeError, match=rf"^{name}: got both axis=0 and dim=0"):
        fn(x, 0, dim=0)
