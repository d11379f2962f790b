"""matmul (1-D, 2-D, batched N-D with broadcasting) and the fused linear: values, gradients
(first and second order), the constant data batch getting no gradient, dtypes, errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import F, Variable

from .check import check_op, grads_of

MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((4,), (4,)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize(("s0", "s1"), MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul(s0, s1):
    check_op(F.matmul, np.matmul, s0, s1, gradgrad=True)


@pytest.mark.parametrize(
    "form",
    [lambda a, b: a @ b, lambda a, b: a.matmul(b), lambda a, b: a.dot(b)],
    ids=["@", "matmul", "dot"],
)
def test_matmul_forms(form):
    check_op(form, np.matmul, (3, 4), (4, 2))


def test_matmul_with_an_ndarray_on_either_side():
    a = np.arange(6.0).reshape(2, 3)
    v = Variable(np.ones((3, 2)))
    y = a @ v
    assert isinstance(y, Variable)
    np.testing.assert_array_equal(y.data, a @ np.ones((3, 2)))
    assert y.creator.needs_input_grad == (False, True)
    y2 = v @ a
    np.testing.assert_array_equal(y2.data, np.ones((3, 2)) @ a)
    y2.backward(np.ones((3, 3)))
    np.testing.assert_array_equal(v.grad.data, np.ones((3, 3)) @ a.T)


@pytest.mark.parametrize(
    ("s0", "s1", "message"),
    [
        ((3, 4), (5, 2), r"^matmul: shapes \(3, 4\) and \(5, 2\) are not aligned \(4 != 5\)"),
        ((3,), (4,), r"^matmul: shapes \(3,\) and \(4,\) are not aligned \(3 != 4\)"),
        ((2, 3), (2,), r"^matmul: shapes \(2, 3\) and \(2,\) are not aligned \(3 != 2\)"),
        (
            (2, 3, 4),
            (3, 4, 5),
            r"^matmul: the batch dimensions of shapes \(2, 3, 4\) and \(3, 4, 5\) cannot be "
            r"broadcast together",
        ),
        ((), (3,), r"^matmul: shapes \(\) and \(3,\): scalars cannot be matrix-multiplied"),
    ],
)
def test_matmul_shape_errors(s0, s1, message):
    with pytest.raises(ValueError, match=message):
        F.matmul(Variable(np.ones(s0)), Variable(np.ones(s1)))


# ------------------------------------------------------------------ linear


@pytest.mark.parametrize(("n", "i", "o"), [(5, 3, 2), (1, 4, 1), (2, 1, 3)])
def test_linear_with_bias(n, i, o):
    check_op(F.linear, lambda x, W, b: x @ W + b, (n, i), (i, o), (o,), gradgrad=True)


@pytest.mark.parametrize(("n", "i", "o"), [(5, 3, 2), (1, 4, 1), (2, 1, 3)])
def test_linear_without_bias(n, i, o):
    check_op(F.linear, lambda x, W: x @ W, (n, i), (i, o), gradgrad=True)


def test_linear_gradients_are_the_affine_formulas():
    rng = np.random.default_rng(0)
    x, W, b, gy = rng.random((4, 3)), rng.random((3, 2)), rng.random(2), rng.random((4, 2))
    gx, gW, gb = grads_of(F.linear, x, W, b, gy=gy)
    np.testing.assert_allclose(gx, gy @ W.T, rtol=1e-14)
    np.testing.assert_allclose(gW, x.T @ gy, rtol=1e-14)
    np.testing.assert_allclose(gb, gy.sum(axis=0), rtol=1e-14)


@pytest.mark.parametrize(
    "x",
    [np.ones((4, 3)), Variable(np.ones((4, 3)), requires_grad=False)],
    ids=["ndarray", "constant"],
)
def test_linear_computes_no_gradient_for_a_constant_input(x):
    W = Variable(np.ones((3, 2)))
    b = Variable(np.zeros(2))
    y = F.linear(x, W, b)
    assert y.creator.needs_input_grad == (False, True, True)
    # The fast-path backward itself skips dx = gy @ W.T.
    gx, gW, gb = y.creator.backward(np.ones((4, 2)))
    assert gx is None
    np.testing.assert_array_equal(gW, np.full((3, 2), 4.0))
    np.testing.assert_array_equal(gb, [4.0, 4.0])


def test_linear_float32_with_a_float32_batch():
    x = np.ones((4, 3), dtype=np.float32)
    W = Variable(np.ones((3, 2), dtype=np.float32))
    b = Variable(np.zeros(2, dtype=np.float32))
    y = F.linear(x, W, b)
    y.sum().backward()
    assert y.dtype == W.grad.dtype == b.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("sx", "sW", "sb", "message"),
    [
        (
            (4, 3),
            (2, 5),
            None,
            r"^linear: x of shape \(4, 3\) and W of shape \(2, 5\) do not fit \(expected x "
            r"\(N, in\) and W \(in, out\)\)",
        ),
        ((3,), (3, 2), None, r"^linear: x of shape \(3,\) and W of shape \(3, 2\) do not fit"),
        (
            (4, 3),
            (3, 2),
            (3,),
            r"^linear: b has shape \(3,\), expected \(2,\) for W of shape \(3, 2\)",
        ),
    ],
)
def test_linear_shape_errors(sx, sW, sb, message):
    b = None if sb is None else Variable(np.ones(sb))
    with pytest.raises(ValueError, match=message):
        F.linear(np.ones(sx), Variable(np.ones(sW)), b)
