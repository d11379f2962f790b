"""sigmoid, relu, leaky_relu, softmax, log_softmax, dropout: values, gradients (first and
second order), the documented numerics (no overflow, fixed derivatives at 0), dtypes, errors.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from minigrad import F, Variable

from .check import check_op, grads_of

SHAPES = [(), (5,), (2, 3, 4)]


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return np.log(np_softmax(x, axis))


class strict_numerics:
    """Any NumPy overflow, invalid value or division by zero, and any warning, is an error."""

    def __enter__(self):
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("error")
        self._err = np.errstate(over="raise", invalid="raise", divide="raise")
        self._err.__enter__()

    def __exit__(self, *exc):
        self._err.__exit__(*exc)
        self._warnings.__exit__(*exc)


# ------------------------------------------------------------------ sigmoid, relu, leaky_relu


@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid(shape):
    check_op(F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), shape, low=-4.0, high=4.0, gradgrad=True)


def test_sigmoid_does_not_overflow():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with strict_numerics():
        y = F.sigmoid(Variable(x))
        (g,) = grads_of(F.sigmoid, x)
        y32 = F.sigmoid(Variable(x.astype(np.float32)))
    np.testing.assert_array_equal(y.data[[0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(y.data[[1, 3]], [np.exp(-50.0), 1.0], rtol=1e-12)
    np.testing.assert_array_equal(g[[0, 2, 4]], [0.0, 0.25, 0.0])
    np.testing.assert_array_equal(y32.data[[0, 4]], [0.0, 1.0])


@pytest.mark.parametrize("shape", SHAPES)
def test_relu(shape):
    check_op(F.relu, lambda x: np.maximum(x, 0), shape, gradgrad=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu(shape, slope):
    check_op(
        lambda x: F.leaky_relu(x, slope),
        lambda x: np.where(x > 0, x, slope * x),
        shape,
        gradgrad=True,
    )


@pytest.mark.parametrize(
    ("fn", "grad"),
    [
        (F.relu, [0.0, 0.0, 1.0]),
        (lambda v: v.relu(), [0.0, 0.0, 1.0]),
        (lambda v: F.leaky_relu(v, 0.1), [0.1, 0.1, 1.0]),
        (lambda v: v.leaky_relu(), [0.01, 0.01, 1.0]),
    ],
)
def test_gradient_at_zero(fn, grad):
    (g,) = grads_of(fn, np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_allclose(g, grad, rtol=1e-15)


def test_sigmoid_method_form():
    check_op(lambda v: v.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), (3,))


@pytest.mark.parametrize("name", ["sigmoid", "leaky_relu", "softmax", "log_softmax", "dropout"])
def test_integer_input_is_rejected(name):
    with pytest.raises(TypeError, match=rf"^{name}: expected floating-point data, got int64"):
        getattr(F, name)(np.arange(3))


def test_relu_of_the_wrong_type():
    with pytest.raises(
        TypeError, match=r"^relu: expected a Variable, an ndarray or a number, got str"
    ):
        F.relu("x")


# ------------------------------------------------------------------ softmax, log_softmax


@pytest.mark.parametrize(("shape", "axis"), [((5,), -1), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1)])
@pytest.mark.parametrize(
    ("fn", "np_fn"),
    [(F.softmax, np_softmax), (F.log_softmax, np_log_softmax)],
    ids=["softmax", "log_softmax"],
)
def test_softmax_family(fn, np_fn, shape, axis):
    check_op(lambda x: fn(x, axis=axis), lambda x: np_fn(x, axis), shape, gradgrad=True)


def test_method_forms():
    check_op(lambda v: v.softmax(), np_softmax, (2, 3))
    check_op(lambda v: v.log_softmax(axis=0), lambda x: np_log_softmax(x, 0), (2, 3))


def test_softmax_family_is_stable_for_large_logits():
    x = np.array([[1000.0, -1000.0], [1000.0, 1000.0], [-1000.0, -1000.0]])
    with strict_numerics():
        p = F.softmax(Variable(x)).data
        logp = F.log_softmax(Variable(x)).data
        (g,) = grads_of(F.log_softmax, x, gy=np.array([[1.0, 0.0]] * 3))
    np.testing.assert_array_equal(p, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_array_equal(logp[0], [0.0, -2000.0])
    np.testing.assert_allclose(logp[1:], np.log(0.5), rtol=1e-15)
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.5, -0.5], [0.5, -0.5]], atol=1e-15)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_axis_must_be_one_int(name):
    with pytest.raises(TypeError, match=rf"^{name}: axis must be an int, got \(0, 1\)"):
        getattr(F, name)(Variable(np.ones((2, 3))), axis=(0, 1))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_axis_out_of_range(name):
    with pytest.raises(
        ValueError, match=rf"^{name}: axis 2 is out of range for an input of 2 dimensions"
    ):
        getattr(F, name)(Variable(np.ones((2, 3))), axis=2)


# ------------------------------------------------------------------ dropout


def np_dropout(x, p, seed):
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return x * keep / (1 - p)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)])
def test_dropout(shape):
    check_op(
        lambda x: F.dropout(x, 0.3, rng=np.random.default_rng(1)),
        lambda x: np_dropout(x, 0.3, 1),
        shape,
        gradgrad=True,
    )


def test_dropout_eval_is_the_identity():
    v = Variable(np.ones(4))
    assert F.dropout(v, 0.5, training=False) is v
    assert F.dropout(v, 0.0) is v


def test_dropout_keeps_the_expected_value():
    x = np.ones(200_000)
    y = F.dropout(Variable(x), 0.3, rng=np.random.default_rng(0)).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-15)
    assert abs(kept.mean() - 0.7) < 0.005
    assert abs(y.mean() - 1.0) < 0.01


def test_dropout_gradient_uses_the_forward_mask():
    v = Variable(np.full((50, 40), 2.0))
    y = F.dropout(v, 0.5)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(v.grad.data, y.data / 2.0)
    assert 0 < (v.grad.data == 0).mean() < 1


def test_dropout_follows_the_global_seed():
    x = Variable(np.ones(20))
    np.random.seed(3)  # noqa: NPY002 - the book's way of seeding
    a = F.dropout(x, 0.5).data
    np.random.seed(3)  # noqa: NPY002
    b = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)


def test_dropout_keeps_float32():
    v = Variable(np.ones(10, dtype=np.float32))
    y = F.dropout(v, 0.2)
    y.sum().backward()
    assert y.dtype == v.grad.dtype == np.float32


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_p_out_of_range(p):
    with pytest.raises(ValueError, match=rf"^dropout: p must be in \[0, 1\), got {p}"):
        F.dropout(Variable(np.ones(3)), p)


# --------------------------------------------------------------------------- gelu, silu

_erf = np.vectorize(math.erf)
_erfc = np.vectorize(math.erfc)


def np_gelu(x):
    # Through erfc: 1 + erf(x) cancels in the lower tail.
    return x * _erfc(-x / math.sqrt(2)) / 2


def np_gelu_tanh(x):
    return x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))) / 2


def np_silu(x):
    return x / (1 + np.exp(-x))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "fn, np_fn",
    [
        (F.gelu, np_gelu),
        (lambda x: F.gelu(x, approximate="tanh"), np_gelu_tanh),
        (F.silu, np_silu),
        (F.erf, _erf),
    ],
    ids=["gelu", "gelu_tanh", "silu", "erf"],
)
def test_gelu_and_silu(fn, np_fn, shape):
    check_op(fn, np_fn, shape, low=-4, high=4, gradgrad=True)


def test_gelu_third_order():
    # The recorded backward of gelu runs gelu_slope, whose own backward is recorded too.
    import minigrad as mg

    x = Variable(np.linspace(-3, 3, 7))
    (g1,) = mg.grad(F.gelu(x).sum(), [x], create_graph=True)
    (g2,) = mg.grad(g1.sum(), [x], create_graph=True)
    (g3,) = mg.grad(g2.sum(), [x])
    pdf = np.exp(-(x.data**2) / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(g1.data, (1 + _erf(x.data / math.sqrt(2))) / 2 + x.data * pdf)
    np.testing.assert_allclose(g2.data, pdf * (2 - x.data**2))
    np.testing.assert_allclose(g3.data, pdf * (x.data**3 - 4 * x.data), atol=1e-14)


def test_gelu_values_and_tails():
    x = np.array([-40.0, -10.0, -1.0, 0.0, 1.0, 10.0, 40.0, np.inf])
    with strict_numerics():
        y = F.gelu(x).data
        y32 = F.gelu(x.astype(np.float32)).data
    np.testing.assert_allclose(y[:7], np_gelu(x[:7]), rtol=2e-12, atol=0)
    # The lower tail keeps its relative accuracy (it is not computed as 1 - erf).
    np.testing.assert_allclose(y[1], -10 * 0.5 * math.erfc(10 / math.sqrt(2)), rtol=2e-12)
    assert y[7] == np.inf
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32[:7], np_gelu(x[:7]), rtol=1e-5, atol=1e-30)


def test_gelu_and_silu_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 5)) * 3
    for approx in ("none", "tanh"):
        xt = torch.tensor(x, requires_grad=True)
        torch.nn.functional.gelu(xt, approximate=approx).sum().backward()
        gx = grads_of(lambda v, a=approx: F.gelu(v, approximate=a), x)[0]
        np.testing.assert_allclose(
            F.gelu(x, approx).data,
            torch.nn.functional.gelu(torch.tensor(x), approximate=approx).numpy(),
            atol=1e-12,
        )
        np.testing.assert_allclose(gx, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(
        F.silu(x).data, torch.nn.functional.silu(torch.tensor(x)).numpy(), atol=1e-15
    )


def test_gelu_and_silu_bad_input():
    with pytest.raises(ValueError, match=r"^gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(np.ones(3), approximate="erf")
    for fn, name in ((F.gelu, "gelu"), (F.silu, "silu"), (F.erf, "erf")):
        with pytest.raises(TypeError, match=rf"^{name}: expected floating-point data, got int64"):
            fn(np.ones(3, np.int64))


def test_silu_does_not_overflow():
    with strict_numerics():
        y = F.silu(np.array([-1000.0, 1000.0], np.float32)).data
    np.testing.assert_array_equal(y, [0, 1000])
