"""softmax_cross_entropy (index and one-hot targets), mean_squared_error,
binary_cross_entropy_with_logits: values against NumPy, gradients (first and second order),
stability for extreme logits, dtypes, errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Variable

from .check import check_op, grads_of


def np_log_softmax(x):
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def np_cross_entropy(x, t):
    """The book's cross-entropy of softmax(x) against one-hot t, without its +1e-7."""
    return -(t * np_log_softmax(x)).sum() / x.shape[0]


def onehot(t, c):
    return np.eye(c)[t]


LABELS = [np.array([0]), np.array([2, 0, 1, 2]), np.array([4, 4, 0, 1, 3, 2])]
IDS = ["N=1", "N=4", "N=6"]


# ------------------------------------------------------------------ softmax_cross_entropy


@pytest.mark.parametrize(("t", "c"), list(zip(LABELS, [3, 3, 5])), ids=IDS)
def test_softmax_cross_entropy_with_class_indices(t, c):
    check_op(
        lambda x: F.softmax_cross_entropy(x, t),
        lambda x: np_cross_entropy(x, onehot(t, c)),
        (len(t), c),
        gradgrad=True,
    )


@pytest.mark.parametrize(("t", "c"), list(zip(LABELS, [3, 3, 5])), ids=IDS)
def test_softmax_cross_entropy_with_one_hot_targets(t, c):
    check_op(
        lambda x: F.softmax_cross_entropy(x, onehot(t, c)),
        lambda x: np_cross_entropy(x, onehot(t, c)),
        (len(t), c),
        gradgrad=True,
    )


@pytest.mark.parametrize("shape", [(1, 2), (3, 4), (5, 3)])
def test_softmax_cross_entropy_with_soft_targets_differentiates_both(shape):
    t = np.random.default_rng(7).dirichlet(np.ones(shape[1]), size=shape[0])
    check_op(F.softmax_cross_entropy, np_cross_entropy, shape, t, gradgrad=True)


def test_index_and_one_hot_targets_agree():
    x = np.random.default_rng(0).standard_normal((6, 4))
    t = np.array([0, 3, 1, 1, 2, 0])
    a = F.softmax_cross_entropy(Variable(x), t)
    b = F.softmax_cross_entropy(Variable(x), onehot(t, 4))
    np.testing.assert_allclose(a.data, b.data, rtol=1e-14)
    (ga,) = grads_of(lambda v: F.softmax_cross_entropy(v, t), x)
    (gb,) = grads_of(lambda v: F.softmax_cross_entropy(v, onehot(t, 4)), x)
    np.testing.assert_allclose(ga, gb, rtol=1e-14)


@pytest.mark.parametrize("targets", ["index", "one-hot"])
def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot_over_n(targets):
    x = np.random.default_rng(1).standard_normal((5, 3))
    t = np.array([2, 0, 0, 1, 2])
    tt = t if targets == "index" else onehot(t, 3)
    (g,) = grads_of(lambda v: F.softmax_cross_entropy(v, tt), x)
    e = np.exp(x)
    np.testing.assert_allclose(g, (e / e.sum(axis=1, keepdims=True) - onehot(t, 3)) / 5, rtol=1e-13)


@pytest.mark.parametrize("targets", ["index", "one-hot"])
def test_softmax_cross_entropy_is_stable_for_extreme_logits(targets):
    x = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [1000.0, 1000.0]])
    t = np.array([1, 1, 0])
    tt = t if targets == "index" else onehot(t, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.softmax_cross_entropy(Variable(x), tt)
        (g,) = grads_of(lambda v: F.softmax_cross_entropy(v, tt), x)
    # Per row: -log p = 2000, 0 and log 2.
    np.testing.assert_allclose(loss.data, (2000.0 + np.log(2.0)) / 3, rtol=1e-15)
    np.testing.assert_allclose(g, [[1 / 3, -1 / 3], [0.0, 0.0], [-1 / 6, 1 / 6]], atol=1e-16)


def test_softmax_cross_entropy_keeps_float32():
    x = Variable(np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32))
    for t in (np.array([0, 1, 2, 0]), onehot(np.array([0, 1, 2, 0]), 3)):
        x.zero_grad()
        loss = F.softmax_cross_entropy(x, t)
        loss.backward()
        assert loss.dtype == x.grad.dtype == np.float32


@pytest.mark.parametrize("c", [64, 65, 200])
def test_softmax_cross_entropy_with_many_classes(c):
    # Past 64 classes the op works on the logits' rows as they are, not transposed.
    t = np.random.default_rng(4).integers(0, c, 5)
    check_op(
        lambda x: F.softmax_cross_entropy(x, t),
        lambda x: np_cross_entropy(x, onehot(t, c)),
        (5, c),
        gradgrad=True,
    )
    x = Variable(np.random.default_rng(5).standard_normal((5, c)))
    loss = F.softmax_cross_entropy(x, t)
    loss.backward(retain_graph=True)
    first = x.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first, rtol=1e-15)


def test_softmax_cross_entropy_backward_twice_with_retain_graph():
    x = Variable(np.random.default_rng(3).standard_normal((4, 3)))
    loss = F.softmax_cross_entropy(x, np.array([0, 2, 1, 1]))
    loss.backward(retain_graph=True)
    first = x.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first, rtol=1e-15)


@pytest.mark.parametrize(
    ("x_shape", "t", "error", "message"),
    [
        (
            (3, 4),
            np.array([0, 4, 1]),
            ValueError,
            r"^softmax_cross_entropy: label 4 is out of range for 4 classes",
        ),
        (
            (3, 4),
            np.array([0, -1, 1]),
            ValueError,
            r"^softmax_cross_entropy: label -1 is out of range for 4 classes",
        ),
        (
            (3, 4),
            np.array([0.0, 1.0, 1.0]),
            TypeError,
            r"^softmax_cross_entropy: class-index targets must be integers, got dtype float64",
        ),
        (
            (3, 4),
            np.zeros(4, dtype=int),
            ValueError,
            r"^softmax_cross_entropy: targets of shape \(4,\) do not fit logits of shape \(3, 4\) "
            r"\(expected \(3,\) class indices or \(3, 4\) one-hot\)",
        ),
        (
            (4,),
            np.array([1]),
            ValueError,
            r"^softmax_cross_entropy: x must be \(N, C\) logits, got shape \(4,\)",
        ),
        ((0, 4), np.zeros(0, dtype=int), ValueError, r"^softmax_cross_entropy: empty batch"),
    ],
)
def test_softmax_cross_entropy_errors(x_shape, t, error, message):
    with pytest.raises(error, match=message):
        F.softmax_cross_entropy(Variable(np.zeros(x_shape)), t)


def test_softmax_cross_entropy_rejects_integer_logits():
    with pytest.raises(
        TypeError, match=r"^softmax_cross_entropy: expected floating-point data, got int64"
    ):
        F.softmax_cross_entropy(np.zeros((2, 3), dtype=np.int64), np.array([0, 1]))


# ------------------------------------------------------------------ mean_squared_error


@pytest.mark.parametrize("shape", [(), (4,), (3, 2, 2)])
def test_mean_squared_error(shape):
    check_op(F.mean_squared_error, lambda a, b: ((a - b) ** 2).mean(), shape, shape, gradgrad=True)


def test_mean_squared_error_is_the_mean_over_all_elements():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = np.array([[1.0, 0.0], [0.0, 0.0]])
    loss = F.mean_squared_error(Variable(y), t)
    assert loss.item() == (0 + 4 + 9 + 16) / 4
    (g,) = grads_of(lambda v: F.mean_squared_error(v, t), y)
    np.testing.assert_array_equal(g, 2 * (y - t) / 4)


def test_mean_squared_error_keeps_float32_with_a_constant_target():
    v = Variable(np.ones((2, 3), dtype=np.float32))
    for t in (np.zeros((2, 3)), np.zeros((2, 3), dtype=np.int64)):
        v.zero_grad()
        loss = F.mean_squared_error(v, t)
        loss.backward()
        assert loss.dtype == v.grad.dtype == np.float32


def test_mean_squared_error_errors():
    with pytest.raises(
        ValueError, match=r"^mean_squared_error: shapes \(2, 3\) and \(3, 2\) differ"
    ):
        F.mean_squared_error(Variable(np.ones((2, 3))), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"^mean_squared_error: empty input"):
        F.mean_squared_error(Variable(np.ones((0, 3))), np.ones((0, 3)))


# ------------------------------------------------------------------ binary_cross_entropy_with_logits


def np_bce(x, t):
    """The naive formula, fine for moderate logits."""
    s = 1 / (1 + np.exp(-x))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean()


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_bce_with_logits(shape):
    t = np.random.default_rng(4).random(shape)
    check_op(
        lambda x: F.binary_cross_entropy_with_logits(x, t),
        lambda x: np_bce(x, t),
        shape,
        gradgrad=True,
    )


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_bce_with_logits_differentiates_the_targets(shape):
    t = np.random.default_rng(4).random(shape)
    check_op(F.binary_cross_entropy_with_logits, np_bce, shape, t, gradgrad=True)


def test_bce_with_logits_gradient_is_sigmoid_minus_t_over_size():
    x = np.array([[-1.0, 0.0], [2.0, 0.5]])
    t = np.array([[0.0, 1.0], [1.0, 0.3]])
    (g,) = grads_of(lambda v: F.binary_cross_entropy_with_logits(v, t), x)
    np.testing.assert_allclose(g, (1 / (1 + np.exp(-x)) - t) / 4, rtol=1e-14)


def test_bce_with_logits_is_stable_for_extreme_logits():
    x = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    t = np.array([1.0, 0.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy_with_logits(Variable(x), t)
        (g,) = grads_of(lambda v: F.binary_cross_entropy_with_logits(v, t), x)
    np.testing.assert_array_equal(loss.data, 2000.0 / 4)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.25, -0.25])


def test_bce_with_logits_keeps_float32_with_integer_labels():
    v = Variable(np.zeros(4, dtype=np.float32))
    loss = F.binary_cross_entropy_with_logits(v, np.array([0, 1, 1, 0]))
    loss.backward()
    assert loss.dtype == v.grad.dtype == np.float32
    np.testing.assert_allclose(loss.data, np.log(2.0), rtol=1e-6)


@pytest.mark.parametrize(
    ("x", "t", "error", "message"),
    [
        (
            np.zeros(3),
            np.zeros(4),
            ValueError,
            r"^binary_cross_entropy_with_logits: shapes \(3,\) and \(4,\) differ",
        ),
        (
            np.zeros(2),
            np.array([0.0, 1.5]),
            ValueError,
            r"^binary_cross_entropy_with_logits: targets must lie in \[0, 1\]",
        ),
        (
            np.zeros(2, dtype=int),
            np.zeros(2),
            TypeError,
            r"^binary_cross_entropy_with_logits: expected floating-point data",
        ),
    ],
)
def test_bce_with_logits_errors(x, t, error, message):
    with pytest.raises(error, match=message):
        F.binary_cross_entropy_with_logits(x, t)


def test_losses_are_scalars_that_seed_backward():
    x = Variable(np.zeros((2, 3)))
    for loss in (
        F.softmax_cross_entropy(x, np.array([0, 1])),
        F.mean_squared_error(x, np.ones((2, 3))),
        F.binary_cross_entropy_with_logits(x, np.ones((2, 3))),
    ):
        assert loss.shape == ()
        (g,) = mg.grad(loss, [x])
        assert g.shape == (2, 3)
