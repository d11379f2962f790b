"""Variable and Parameter: construction, dtypes, identity, array-like access (docs/architecture.md, "The engine")."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import Parameter, Variable


@pytest.fixture
def default_float64():
    """Switch the default dtype to float64 for one test, restoring it afterwards."""
    prev = mg.get_default_dtype()
    mg.set_default_dtype(np.float64)
    try:
        yield
    finally:
        mg.set_default_dtype(prev)


# --------------------------------------------------------------------------- construction


def test_default_dtype_is_float32():
    assert mg.get_default_dtype() == np.float32


def test_ndarray_is_wrapped_without_copy():
    a = np.array([1.0, 2.0])
    v = Variable(a, name="a")
    assert v.data is a
    assert v.name == "a" and v.grad is None and v.creator is None
    assert v.requires_grad and v.is_leaf


@pytest.mark.parametrize(
    ("data", "dtype", "requires_grad"),
    [
        (1.5, np.float32, True),
        ([1.0, 2.0], np.float32, True),
        # Python ints are numbers like floats: the default float dtype, so they hold gradients.
        ([[1, 2], [3, 4]], np.float32, True),
        (3, np.float32, True),
        (True, np.bool_, False),
        ((1.0, 2.0), np.float32, True),
        (np.float64(1.5), np.float64, True),
        (np.array([1, 2], dtype=np.int32), np.int32, False),
        (np.array([1.0], dtype=np.float64), np.float64, True),
    ],
)
def test_constructor_converts_and_sets_requires_grad(data, dtype, requires_grad):
    v = Variable(data)
    assert v.dtype == dtype
    assert v.requires_grad is requires_grad
    np.testing.assert_array_equal(v.data, np.asarray(data))


def test_python_floats_take_the_default_dtype(default_float64):
    assert Variable(1.5).dtype == np.float64
    assert Variable([1.0, 2.0]).dtype == np.float64
    assert Parameter([1.0]).dtype == np.float64


@pytest.mark.parametrize(
    ("data", "type_name"),
    [(None, "NoneType"), ("1.0", "str"), ({"a": 1}, "dict"), (object(), "object")],
)
def test_constructor_rejects_other_types_naming_them(data, type_name):
    with pytest.raises(TypeError, match=type_name):
        Variable(data)


def test_constructor_rejects_a_variable():
    with pytest.raises(TypeError, match="already a Variable"):
        Variable(Variable(np.ones(2)))


def test_constructor_rejects_ragged_lists():
    with pytest.raises((TypeError, ValueError)):
        Variable([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize(
    "data", [np.array([1, 2]), np.array([1, 2], dtype=np.uint8), np.array([True])]
)
def test_requires_grad_on_integer_or_bool_data_is_a_type_error(data):
    with pytest.raises(TypeError, match="int|bool"):
        Variable(data, requires_grad=True)


def test_requires_grad_false_on_floating_data():
    v = Variable(np.ones(2), requires_grad=False)
    assert v.requires_grad is False


def test_set_default_dtype_rejects_non_floating():
    prev = mg.get_default_dtype()
    with pytest.raises(TypeError, match="int32"):
        mg.set_default_dtype(np.int32)
    assert mg.get_default_dtype() == prev


# --------------------------------------------------------------------------- Parameter


def test_parameter_defaults():
    a = np.zeros((2, 3))
    p = Parameter(a, name="W")
    assert isinstance(p, Variable)
    assert p.data is a  # optimizers update it in place: it must stay the caller's array
    assert p.dtype == np.float64
    assert p.requires_grad and p.creator is None and p.grad is None and p.name == "W"
    assert Parameter([0.5, 1.5]).dtype == np.float32
    assert Parameter(0.5).dtype == mg.get_default_dtype()


def test_parameter_dtype_argument_and_from_variable():
    p = Parameter(np.zeros(2, dtype=np.float32), dtype=np.float64)
    assert p.dtype == np.float64
    v = Variable(np.ones(2), requires_grad=False)
    q = Parameter(v)
    assert q.data is v.data and q.requires_grad


def test_parameter_rejects_integer_data():
    with pytest.raises(TypeError, match="int64"):
        Parameter(np.arange(3))


def test_parameter_gets_gradients():
    p = Parameter(np.array([2.0, 3.0]))
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.data, [4.0, 6.0])


# --------------------------------------------------------------------------- identity


def test_equality_and_hash_are_identity():
    a = Variable(np.array([1.0, 2.0]))
    b = Variable(np.array([1.0, 2.0]))
    assert (a == b) is False
    assert (a == a) is True
    assert (a != b) is True
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"
    assert len({a, b, a}) == 2
    assert hash(a) != hash(b)


# --------------------------------------------------------------------------- operators


def test_ndarray_on_the_left_gives_a_variable():
    x = Variable(np.array([1.0, 2.0]))
    arr = np.array([3.0, 4.0])
    for y in (arr * x, arr + x, arr - x, arr / x, arr**x, np.eye(2) @ x):
        assert isinstance(y, Variable)
        assert y.creator is not None
    y = arr * x
    np.testing.assert_array_equal(y.data, [3.0, 8.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, arr)


def test_scalars_on_either_side():
    x = Variable(np.array([2.0]))
    y = 1.0 - x + 3 * x - x / 4 + 8.0 / x + 2.0**x - (-x)
    expect = 1 - 2 + 6 - 0.5 + 4 + 4 + 2
    np.testing.assert_allclose(y.data, [expect])
    y.backward()
    np.testing.assert_allclose(x.grad.data, [-1 + 3 - 0.25 - 2 + 4 * np.log(2) + 1])


# --------------------------------------------------------------------------- array-like


def test_shape_ndim_size_dtype_len():
    v = Variable(np.zeros((4, 3, 2), dtype=np.float32))
    assert v.shape == (4, 3, 2)
    assert v.ndim == 3
    assert v.size == 24
    assert v.dtype == np.float32
    assert len(v) == 4


def test_len_of_zero_dimensional_raises():
    with pytest.raises(TypeError):
        len(Variable(np.array(1.0)))


def test_item():
    assert Variable(np.array([[2.5]])).item() == 2.5
    assert isinstance(Variable(np.array(3.0, dtype=np.float32)).item(), float)
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        Variable(np.ones(2)).item()


def test_repr_is_readable():
    r = repr(Variable(np.array([1.0, 2.0]), name="w"))
    assert r.startswith("Variable(") and "1." in r and "2." in r and "name='w'" in r
    assert "float32" in repr(Variable(np.zeros(2, dtype=np.float32)))
    x = Variable(np.array([1.0, 2.0]))
    assert "mul" in repr(x * 2.0)
    assert repr(Parameter(np.zeros(1))).startswith("Parameter(")
    long = repr(Variable(np.arange(10_000.0)))
    assert "..." in long and len(long) < 200


def test_detach_shares_data_and_cuts_the_graph():
    x = Variable(np.array([1.0, 2.0]))
    h = x * 2.0
    d = h.detach()
    assert d.data is h.data
    assert d.creator is None and d.requires_grad is False
    y = (d * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])  # no gradient through d


def test_object_and_string_data_are_refused():
    with pytest.raises(TypeError, match="dtype <U1"):
        Variable(np.array(["a"]))
    with pytest.raises(TypeError, match="dtype object"):
        Variable(np.array([None, 1.0], dtype=object))
    with pytest.raises(TypeError, match="cannot make an array of numbers"):
        Variable(["a", "b"])


def test_integer_ndarrays_keep_their_dtype_so_labels_stay_integers():
    t = Variable(np.array([3, 1, 4]))
    assert t.dtype == np.int64 and not t.requires_grad


def test_book_shopping_example_with_python_numbers_gives_the_books_gradients():
    # "Deep Learning from Scratch" 5.4: 2 apples at 100, 3 oranges at 150, tax 1.1.
    apple, apple_num = Variable(100), Variable(2)
    orange, orange_num = Variable(150), Variable(3)
    tax = Variable(1.1)
    price = (apple * apple_num + orange * orange_num) * tax
    price.backward()
    assert float(price) == pytest.approx(715.0)
    got = [apple.grad, apple_num.grad, orange.grad, orange_num.grad, tax.grad]
    np.testing.assert_allclose([float(g) for g in got], [2.2, 110, 3.3, 165, 650], rtol=1e-6)


def test_one_element_variable_acts_as_a_number():
    v = Variable(np.array([2.71828], dtype=np.float64))
    assert float(v) == 2.71828 and isinstance(float(v), float)
    assert int(Variable(3.9)) == 3
    assert bool(Variable(0.0)) is False and bool(Variable(np.array([[1.0]]))) is True
    assert f"{v:.3f}" == "2.718"
    assert round(v, 2) == 2.72 and round(Variable(2.5)) == 2
    assert "%.2f" % v == "2.72"  # noqa: UP031 - the book formats with %
    assert "%d" % Variable(7.0) == "7"  # noqa: UP031
    assert f"{v}" == str(v)


def test_many_element_variable_refuses_number_conversion():
    v = Variable(np.ones(3))
    with pytest.raises(TypeError, match=r"float\(\).*shape \(3,\)"):
        float(v)
    with pytest.raises(ValueError, match=r"truth value.*\(3,\).*ambiguous"):
        bool(v)
    with pytest.raises(TypeError, match=r"format spec '\.2f'.*\(3,\)"):
        f"{v:.2f}"


def test_a_list_of_losses_converts_to_an_array_as_matplotlib_does():
    losses = [Variable(np.float32(x)) * 1.0 for x in (2.5, 1.5, 0.5)]
    arr = np.asarray(losses)
    assert arr.shape == (3,) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, [2.5, 1.5, 0.5])
    assert np.asarray(Variable(np.ones((2, 2))), dtype=np.float16).dtype == np.float16
