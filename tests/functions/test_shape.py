"""reshape, transpose, flatten, broadcast_to, sum_to, getitem, concatenate, stack: values,
gradients (first and second order), method forms, dtypes, errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import F, Variable

from .check import check_op, grads_of

# ------------------------------------------------------------------ reshape, transpose, flatten


@pytest.mark.parametrize(
    ("shape", "new"), [((2, 3), (3, 2)), ((6,), (2, -1)), ((2, 3, 4), (4, 6)), ((), (1, 1))]
)
def test_reshape(shape, new):
    check_op(lambda x: F.reshape(x, new), lambda x: x.reshape(new), shape, gradgrad=True)


@pytest.mark.parametrize(
    "form", [lambda v: v.reshape(3, 2), lambda v: v.reshape((3, 2)), lambda v: v.reshape([3, 2])]
)
def test_reshape_method_forms(form):
    check_op(form, lambda x: x.reshape(3, 2), (2, 3))


def test_reshape_to_the_same_shape_is_the_input():
    v = Variable(np.ones((2, 3)))
    assert F.reshape(v, (2, 3)) is v


def test_reshape_errors():
    v = Variable(np.ones((2, 3)))
    with pytest.raises(
        ValueError,
        match=r"^reshape: cannot reshape an array of shape \(2, 3\) \(6 elements\) into shape \(4, 2\)",
    ):
        v.reshape(4, 2)
    with pytest.raises(TypeError, match=r"^reshape: shape entries must be ints"):
        v.reshape(2.0, 3)


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((2, 3), ()), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (-1, 0, 1)), ((2, 3, 4, 5), (3, 1, 0, 2))],
)
def test_transpose(shape, axes):
    check_op(
        lambda x: F.transpose(x, *axes),
        lambda x: x.transpose(*axes) if axes else x.T,
        shape,
        gradgrad=True,
    )


@pytest.mark.parametrize(
    ("form", "np_form"),
    [
        (lambda v: v.T, lambda x: x.T),
        (lambda v: v.mT, lambda x: x.swapaxes(-1, -2)),
        (lambda v: v.transpose(), lambda x: x.transpose()),
        (lambda v: v.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1)),
        (lambda v: v.transpose((2, 0, 1)), lambda x: x.transpose(2, 0, 1)),
    ],
    ids=["T", "mT", "transpose()", "transpose(2, 0, 1)", "transpose((2, 0, 1))"],
)
def test_transpose_method_forms(form, np_form):
    check_op(form, np_form, (2, 3, 4))


def test_transpose_error():
    with pytest.raises(
        ValueError,
        match=r"^transpose: axes \(0, 0\) are not a permutation of the 2 axes of an input of "
        r"shape \(2, 3\)",
    ):
        F.transpose(Variable(np.ones((2, 3))), 0, 0)


@pytest.mark.parametrize(
    ("shape", "start", "end", "out"),
    [
        ((2, 3, 4), 0, -1, (24,)),
        ((2, 3, 4), 1, -1, (2, 12)),
        ((2, 3, 4, 5), 1, 2, (2, 12, 5)),
        ((), 0, -1, (1,)),
    ],
)
def test_flatten(shape, start, end, out):
    y = check_op(lambda x: F.flatten(x, start, end), lambda x: x.reshape(out), shape, gradgrad=True)
    assert y.shape == out


def test_flatten_method_form():
    check_op(lambda v: v.flatten(), lambda x: x.reshape(-1), (2, 3))
    check_op(lambda v: v.flatten(1), lambda x: x.reshape(2, -1), (2, 3, 4))


def test_broadcast_to_and_sum_to_method_forms():
    check_op(lambda v: v.broadcast_to((2, 3)), lambda x: np.broadcast_to(x, (2, 3)), (3,))
    check_op(lambda v: v.sum_to((3,)), lambda x: x.sum(axis=0), (2, 3))


def test_flatten_error():
    with pytest.raises(
        ValueError, match=r"^flatten: dims 2\.\.1 are invalid for shape \(2, 3, 4\)"
    ):
        F.flatten(Variable(np.ones((2, 3, 4))), 2, 1)


# ------------------------------------------------------------------ broadcast_to, sum_to


@pytest.mark.parametrize(("shape", "to"), [((3,), (2, 3)), ((2, 1), (2, 4)), ((), (3, 2))])
def test_broadcast_to(shape, to):
    check_op(
        lambda x: F.broadcast_to(x, to), lambda x: np.broadcast_to(x, to), shape, gradgrad=True
    )


@pytest.mark.parametrize(
    ("shape", "to", "expected"),
    [
        ((2, 3), (1, 3), lambda x: x.sum(axis=0, keepdims=True)),
        ((2, 3), (3,), lambda x: x.sum(axis=0)),
        ((4, 2, 3), (2, 1), lambda x: x.sum(axis=(0, 2))[:, None]),
        ((2, 3), (), lambda x: x.sum()),
    ],
)
def test_sum_to(shape, to, expected):
    check_op(lambda x: F.sum_to(x, to), expected, shape, gradgrad=True)


def test_broadcast_to_and_sum_to_errors():
    v = Variable(np.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"^broadcast_to: cannot broadcast shape \(2, 3\) to \(4,\)"
    ):
        v.broadcast_to((4,))
    with pytest.raises(ValueError, match=r"^sum_to: cannot sum shape \(2, 3\) down to \(2,\)"):
        v.sum_to((2,))


# ------------------------------------------------------------------ getitem

INDICES = [
    (1, "int"),
    (slice(1, 3), "slice"),
    ((slice(None), slice(None, None, 2)), "step"),
    ((Ellipsis, 1), "ellipsis"),
    ((None, -1), "newaxis"),
    (slice(None, None, -1), "reversed"),
    ((1, 2), "element"),
    (np.array([0, 2]), "int array"),
    (np.array([[0, 1], [3, 0]]), "2-D int array"),
    ((np.array([0, 1, 3]), np.array([2, 0, 1])), "pair of int arrays"),
    ((slice(None), [1, 1, 2]), "repeated list"),
    (np.array([True, False, True, True]), "row mask"),
]


@pytest.mark.parametrize("index", [i for i, _ in INDICES], ids=[n for _, n in INDICES])
def test_getitem(index):
    check_op(lambda x: x[index], lambda x: x[index], (4, 3), gradgrad=True)


def test_getitem_with_a_full_boolean_mask():
    x = np.random.default_rng(0).standard_normal((3, 4))
    mask = x > 0
    y = check_op(lambda v: v[mask], lambda a: a[mask], x, gradgrad=True)
    assert y.shape == (int(mask.sum()),)
    (g,) = grads_of(lambda v: v[mask], x)
    np.testing.assert_array_equal(g, mask.astype(float))


def test_getitem_repeated_indices_accumulate():
    (g,) = grads_of(lambda v: v[[0, 0, 2, 0]], np.zeros(3), gy=np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(g, [7.0, 0.0, 3.0])
    (g,) = grads_of(lambda v: F.getitem(v, (np.array([1, 1]), np.array([0, 0]))), np.zeros((2, 2)))
    np.testing.assert_array_equal(g, [[0.0, 0.0], [2.0, 0.0]])


def test_getitem_adjoint_of_basic_and_advanced_indices():
    # A basic index (ints, slices, None, Ellipsis) is scattered by assignment, anything else
    # by np.add.at; both give zeros with gy added where x[index] came from.
    from minigrad.functions._both import _basic_index, scatter_add

    assert _basic_index((1, slice(None), None, Ellipsis)) and _basic_index(np.int64(2))
    assert not _basic_index(True) and not _basic_index([0, 0]) and not _basic_index(np.array([1]))
    x = np.arange(24.0).reshape(2, 3, 4)
    for index in [1, -1, (slice(None), 2), (Ellipsis, 3), (None, 0), (0, slice(1, 3)), True]:
        gy = np.arange(1.0, 1.0 + x[index].size).reshape(x[index].shape)
        want = np.zeros_like(x)
        np.add.at(want, index, gy)
        np.testing.assert_array_equal(scatter_add(gy, index, x.shape), want)


def test_getitem_with_a_variable_index():
    idx = Variable(np.array([2, 0]))
    v = Variable(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(v[idx].data, [3.0, 1.0])
    m = Variable(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(m[idx, 1].data, [5.0, 1.0])


@pytest.mark.parametrize("shape", [(4,), (4, 3), (4, 2, 3)])
@pytest.mark.parametrize(
    "index", [1, slice(1, 3), [0, 0, 2], np.array([True, False, False, True])], ids=str
)
def test_getitem_on_several_shapes(shape, index):
    check_op(lambda x: x[index], lambda x: x[index], shape, gradgrad=True)


def test_getitem_out_of_range():
    v = Variable(np.ones((3, 2)))
    with pytest.raises(IndexError, match=r"^getitem: index \[5\] is invalid for shape \(3, 2\)"):
        v[5]
    with pytest.raises(
        IndexError, match=r"^getitem: index \[:, <int64 \(2,\)>\] is invalid for shape \(3, 2\)"
    ):
        v[:, np.array([0, 2])]


# ------------------------------------------------------------------ concatenate, stack


@pytest.mark.parametrize(
    ("shapes", "axis"),
    [
        ([(2, 3), (4, 3)], 0),
        ([(2, 1), (2, 3), (2, 2)], 1),
        ([(2, 3, 1), (2, 3, 2)], -1),
        ([(3,)], 0),
    ],
)
def test_concatenate(shapes, axis):
    check_op(
        lambda *xs: F.concatenate(xs, axis=axis),
        lambda *xs: np.concatenate(xs, axis=axis),
        *shapes,
        gradgrad=True,
    )


def test_concatenate_backward_slices_the_gradient():
    g0, g1 = grads_of(
        lambda a, b: F.concatenate([a, b], axis=1),
        np.zeros((2, 1)),
        np.zeros((2, 2)),
        gy=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    )
    np.testing.assert_array_equal(g0, [[1.0], [4.0]])
    np.testing.assert_array_equal(g1, [[2.0, 3.0], [5.0, 6.0]])


def test_concatenate_with_a_constant():
    v = Variable(np.ones((1, 2)))
    y = F.concatenate([np.zeros((2, 2)), v], axis=0)
    assert y.creator.needs_input_grad == (False, True)
    y.backward(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(v.grad.data, [[4.0, 5.0]])


@pytest.mark.parametrize(
    ("shape", "n", "axis"), [((3,), 2, 0), ((2, 3), 3, 1), ((2, 3), 2, -1), ((), 3, 0)]
)
def test_stack(shape, n, axis):
    check_op(
        lambda *xs: F.stack(xs, axis=axis),
        lambda *xs: np.stack(xs, axis=axis),
        *[shape] * n,
        gradgrad=True,
    )


def test_stack_backward_indexes_the_gradient():
    g0, g1 = grads_of(
        lambda a, b: F.stack([a, b], axis=1),
        np.zeros(2),
        np.zeros(2),
        gy=np.array([[1.0, 2.0], [3.0, 4.0]]),
    )
    np.testing.assert_array_equal(g0, [1.0, 3.0])
    np.testing.assert_array_equal(g1, [2.0, 4.0])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: F.concatenate([np.ones((2, 3)), Variable(np.ones((2, 4)))], axis=0),
            ValueError,
            r"^concatenate: shapes \(2, 3\), \(2, 4\) differ outside axis 0",
        ),
        (
            lambda: F.concatenate([Variable(np.ones((2, 3)))], axis=2),
            ValueError,
            r"^concatenate: axis 2 is out of range for shapes \[\(2, 3\)\]",
        ),
        (
            lambda: F.concatenate([], axis=0),
            TypeError,
            r"^concatenate: expected a non-empty list of arrays, got list",
        ),
        (
            lambda: F.concatenate(Variable(np.ones((2, 3)))),
            TypeError,
            r"^concatenate: expected a non-empty list of arrays, got Variable",
        ),
        (
            lambda: F.stack([Variable(np.ones(3)), np.ones(2)]),
            ValueError,
            r"^stack: all inputs must have the same shape, got \(3,\), \(2,\)",
        ),
        (
            lambda: F.stack([Variable(np.ones(3))], axis=2),
            ValueError,
            r"^stack: axis 2 is out of range for 2 dimensions",
        ),
    ],
)
def test_join_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ chunk, unbind (several outputs)


def _scaled_stack(parts, keep=None):
    """The parts, each scaled by its position + 1 (so a swap shows), stacked; `keep` picks some
    (the others then get zero gradients)."""
    idx = range(len(parts)) if keep is None else keep
    return [parts[i] * (i + 1) for i in idx]


@pytest.mark.parametrize(
    ("shape", "chunks", "axis", "keep"),
    [((2, 6), 3, 1, None), ((4, 2, 3), 2, 0, None), ((2, 8), 4, -1, [0, 3]), ((3, 4), 1, 1, None)],
)
def test_chunk(shape, chunks, axis, keep):
    check_op(
        lambda x: F.stack(_scaled_stack(F.chunk(x, chunks, axis=axis), keep)),
        lambda x: np.stack(_scaled_stack(np.split(x, chunks, axis=axis), keep)),
        shape,
        gradgrad=True,
    )


@pytest.mark.parametrize(
    ("shape", "axis", "keep"),
    [((3, 2, 4), 0, None), ((2, 3, 4), 1, [2]), ((2, 3), -1, None), ((1, 3), 0, None)],
)
def test_unbind(shape, axis, keep):
    def np_unbind(x):
        return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]

    check_op(
        lambda x: F.stack(_scaled_stack(F.unbind(x, axis=axis), keep)),
        lambda x: np.stack(_scaled_stack(np_unbind(x), keep)),
        shape,
        gradgrad=True,
    )


def test_chunk_and_unbind_are_one_op_of_views():
    x = Variable(np.arange(12.0).reshape(3, 4))
    parts = F.chunk(x, 2, axis=1)
    assert len(parts) == 2 and parts[0].creator is parts[1].creator
    assert parts[0].creator.label() == "chunk 2 axis=1"
    assert np.shares_memory(parts[1].data, x.data)
    rows = F.unbind(x)
    assert len(rows) == 3 and rows[0].creator is rows[2].creator
    np.testing.assert_array_equal(rows[2].data, [8, 9, 10, 11])


def test_chunk_and_unbind_errors():
    x = Variable(np.ones((2, 5)))
    with pytest.raises(
        ValueError, match=r"^chunk: axis 1 of shape \(2, 5\) has 5 elements, not divisible into 2"
    ):
        F.chunk(x, 2, axis=1)
    with pytest.raises(ValueError, match=r"^chunk: chunks must be a positive int, got 0"):
        F.chunk(x, 0)
    with pytest.raises(ValueError, match=r"^chunk: axis 2 is out of range for shape \(2, 5\)"):
        F.chunk(x, 1, axis=2)
    with pytest.raises(ValueError, match=r"^unbind: axis 0 of shape \(0, 5\) is empty"):
        F.unbind(np.ones((0, 5)))
    with pytest.raises(ValueError, match=r"^unbind: axis 3 is out of range for shape \(2, 5\)"):
        F.unbind(x, axis=3)
