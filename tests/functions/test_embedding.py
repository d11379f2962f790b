"""F.embedding (in minigrad/functions/shape.py): values, gradients (first and second order),
repeated ids, padding_idx, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Variable

from .check import check_op, grads_of

IDS = [
    (np.array([0, 2, 4]), "1-D"),
    (np.array([[1, 1], [3, 0]]), "2-D with a repeat"),
    (np.array([[[4, 4, 4]]]), "3-D, one id thrice"),
    (np.array(2), "scalar id"),
    (np.zeros((2, 0), dtype=np.int64), "empty"),
]


@pytest.mark.parametrize("ids", [i for i, _ in IDS], ids=[n for _, n in IDS])
def test_embedding_gathers_rows(ids):
    y = check_op(lambda W: F.embedding(ids, W), lambda W: W[ids], (5, 3), gradgrad=True)
    assert y.shape == ids.shape + (3,)


def test_embedding_repeated_ids_add_their_gradients():
    ids = np.array([[0, 2, 0], [0, 1, 2]])
    gy = np.arange(18, dtype=np.float64).reshape(2, 3, 3)
    (g,) = grads_of(lambda W: F.embedding(ids, W), np.zeros((4, 3)), gy=gy)
    expected = np.zeros((4, 3))
    for pos, i in np.ndenumerate(ids):
        expected[i] += gy[pos]
    np.testing.assert_array_equal(g, expected)
    np.testing.assert_array_equal(g[3], 0.0)


def test_embedding_matches_add_at_on_a_language_model_batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=(20, 35))
    gy = rng.standard_normal((20, 35, 8))
    (g,) = grads_of(lambda W: F.embedding(ids, W), rng.standard_normal((50, 8)), gy=gy)
    expected = np.zeros((50, 8))
    np.add.at(expected, ids, gy)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


def test_embedding_padding_idx_gets_no_gradient():
    ids = np.array([[0, 1, 0], [2, 0, 1]])
    W = Variable(np.ones((3, 2)))
    y = F.embedding(ids, W, padding_idx=0)
    np.testing.assert_array_equal(y.data, np.ones((2, 3, 2)))
    y.sum().backward()
    np.testing.assert_array_equal(W.grad.data, [[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]])
    W2 = Variable(np.ones((3, 2)))
    F.embedding(ids, W2, padding_idx=-3).sum().backward()
    np.testing.assert_array_equal(W2.grad.data, W.grad.data)


def test_embedding_second_order_with_padding():
    ids = np.array([1, 0, 1])
    mg.gradgradcheck(lambda W: (F.embedding(ids, W, padding_idx=0) ** 2).sum(), np.ones((2, 2)))


def test_embedding_keeps_float32_and_takes_variable_ids():
    W = Variable(np.ones((4, 2), dtype=np.float32))
    ids = Variable(np.array([3, 1]))
    y = F.embedding(ids, W)
    assert y.dtype == np.float32 and y.shape == (2, 2)
    y.sum().backward()
    assert W.grad.dtype == np.float32


def test_embedding_label_names_the_ids_shape():
    y = F.embedding(np.zeros((2, 5), dtype=np.int64), Variable(np.ones((3, 4))), padding_idx=1)
    assert y.creator.label() == "embedding padding_idx=1"


def test_embedding_errors():
    W = Variable(np.ones((10, 4)))
    with pytest.raises(
        IndexError, match=r"embedding: id 10 is out of range for a table of 10 rows"
    ):
        F.embedding(np.array([1, 10]), W)
    with pytest.raises(IndexError, match=r"id -1 is out of range"):
        F.embedding(np.array([-1, 3]), W)
    with pytest.raises(TypeError, match=r"embedding: ids must be integers, got dtype float64"):
        F.embedding(np.array([1.0, 2.0]), W)
    with pytest.raises(TypeError, match=r"ids must be integers, got dtype bool"):
        F.embedding(np.array([True]), W)
    with pytest.raises(
        ValueError, match=r"embedding: W must be a 2-D table \(V, D\), got shape \(10,\)"
    ):
        F.embedding(np.array([1]), Variable(np.ones(10)))
    with pytest.raises(ValueError, match=r"padding_idx 10 is out of range for 10 rows"):
        F.embedding(np.array([1]), W, padding_idx=10)
