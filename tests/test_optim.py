"""Optimizers: the first two steps of each against values worked out by hand, dtypes, the
book's update(params, grads), and bad hyperparameters."""

# ruff: noqa: NPY002 - the book seeds NumPy's global generator; these tests check that
# np.random.seed reproduces what it did.

from __future__ import annotations

import numpy as np
import pytest

from minigrad import Parameter, Variable, optim
from minigrad.nn import TwoLayerNet

P0 = [1.0, -2.0]
G1 = [0.5, -1.0]
G2 = [0.25, 2.0]


def two_steps(make):
    """p after one and after two steps from P0 with gradients G1 then G2 (float64)."""
    p = Parameter(np.array(P0))
    opt = make([p])
    out = []
    for g in (G1, G2):
        p.grad = Variable(np.array(g))
        data = p.data
        opt.step()
        assert p.data is data  # in place
        out.append(p.data.copy())
    return out


def adam_moments(g1, g2):
    """m and v after two Adam steps (betas 0.9, 0.999), by hand."""
    g1, g2 = np.array(g1), np.array(g2)
    m = 0.9 * (0.1 * g1) + 0.1 * g2
    v = 0.999 * (0.001 * g1**2) + 0.001 * g2**2
    return m / (1 - 0.9**2), v / (1 - 0.999**2)


# Each case: the optimizer, then p after step 1 and after step 2, worked out by hand.
CASES = {
    "sgd": (
        lambda ps: optim.SGD(ps, lr=0.1),
        [0.95, -1.9],
        [0.925, -2.1],
    ),
    "momentum": (
        # buf = g1 = [0.5, -1]; then buf = 0.9 buf + g2 = [0.7, 1.1]
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        [0.95, -1.9],
        [0.95 - 0.07, -1.9 - 0.11],
    ),
    "nesterov": (
        # steps use g + 0.9 buf: 1.9 * g1 = [0.95, -1.9], then g2 + 0.9 [0.7, 1.1] = [0.88, 2.99]
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        [0.905, -1.81],
        [0.905 - 0.088, -1.81 - 0.299],
    ),
    "sgd_weight_decay": (
        # g1 + 0.1 p0 = [0.6, -1.2]; g2 + 0.1 p1 = [0.344, 1.812]
        lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1),
        [0.94, -1.88],
        [0.94 - 0.0344, -1.88 - 0.1812],
    ),
    "adagrad": (
        # h1 = [0.25, 1]; h2 = [0.3125, 5]
        lambda ps: optim.AdaGrad(ps, lr=0.1),
        [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 1 / (1 + 1e-8)],
        [
            0.9 - 0.1 * 0.25 / (np.sqrt(0.3125) + 1e-8),
            -1.9 - 0.1 * 2 / (np.sqrt(5) + 1e-8),
        ],
    ),
    "rmsprop": (
        # v1 = 0.01 g1^2 = [0.0025, 0.01]; v2 = 0.99 v1 + 0.01 g2^2 = [0.0031, 0.0499]
        lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.99),
        [1 - 0.01 * 0.5 / (0.05 + 1e-8), -2 + 0.01 * 1 / (0.1 + 1e-8)],
        [
            0.9 - 0.01 * 0.25 / (np.sqrt(0.0031) + 1e-8),
            -1.9 - 0.01 * 2 / (np.sqrt(0.0499) + 1e-8),
        ],
    ),
    "adam": (
        # step 1: m_hat = g1, v_hat = g1^2, so p moves by lr * sign(g1)
        lambda ps: optim.Adam(ps, lr=0.1),
        [0.9, -1.9],
        None,
    ),
    "adamw": (
        # p *= 1 - lr * wd = 0.99 before each Adam step; the moments are Adam's
        lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.1),
        [0.99 - 0.1, -1.98 + 0.1],
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_first_two_steps(case):
    make, step1, step2 = CASES[case]
    p1, p2 = two_steps(make)
    np.testing.assert_allclose(p1, step1, rtol=1e-7, atol=1e-12)
    if step2 is None:
        m_hat, v_hat = adam_moments(G1, G2)
        decay = 0.99 if case == "adamw" else 1.0
        step2 = np.array(step1) * decay - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p2, step2, rtol=1e-7, atol=1e-12)


def test_adam_weight_decay_is_added_to_the_gradient():
    p1, p2 = two_steps(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1))
    g1 = np.array(G1) + 0.1 * np.array(P0)  # [0.6, -1.2]: same signs, so step 1 is as Adam's
    np.testing.assert_allclose(p1, [0.9, -1.9], rtol=1e-7)
    g2 = np.array(G2) + 0.1 * p1
    m_hat, v_hat = adam_moments(g1, g2)
    np.testing.assert_allclose(p2, p1 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-7)


@pytest.mark.parametrize("case", list(CASES))
def test_float32_stays_float32(case):
    make = CASES[case][0]
    p = Parameter(np.array(P0, dtype=np.float32))
    opt = make([p])
    for g in (G1, G2):
        p.grad = Variable(np.array(g, dtype=np.float32))
        opt.step()
    assert p.data.dtype == np.float32
    for state in opt.state:
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
    p64 = two_steps(make)[1]
    np.testing.assert_allclose(p.data, p64, rtol=1e-5)


def test_numpy_scalar_hyperparameters_keep_float32():
    p = Parameter(np.ones(2, dtype=np.float32))
    opt = optim.SGD([p], lr=np.float64(0.1), momentum=np.float64(0.5))
    assert type(opt.lr) is float
    p.grad = Variable(np.ones(2, dtype=np.float32))
    opt.step()
    opt.step()
    assert p.data.dtype == np.float32


def test_step_skips_parameters_without_gradient_and_zero_grad_clears():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = Variable(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    assert opt.state[1] == {}
    np.testing.assert_allclose(a.data, [0.9, 0.9])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_lr_can_change_between_steps():
    p = Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    p.grad = Variable(np.ones(1))
    opt.step()
    opt.lr = 0.5
    opt.step()
    np.testing.assert_array_equal(p.data, [-1.5])


def test_module_parameters_are_accepted():
    net = TwoLayerNet(3, 2, 2)
    opt = optim.SGD(net.parameters(), lr=0.1)
    assert opt.params == [net.W1, net.b1, net.W2, net.b2]


# --------------------------------------------------------------------------- the book's way


@pytest.mark.parametrize("case", list(CASES))
def test_update_with_the_books_dicts_matches_step(case):
    make = CASES[case][0]
    opt = make(None)
    params = {"W": np.array(P0), "b": np.array([0.5])}
    arrays = dict(params)
    for g in (G1, G2):
        opt.update(params, {"W": np.array(g), "b": np.array([1.0])})
    assert all(params[k] is arrays[k] for k in params)  # updated in place
    np.testing.assert_allclose(params["W"], two_steps(make)[1], rtol=1e-12)


def test_update_trains_two_layer_net_like_the_book():
    np.random.seed(0)
    net = TwoLayerNet(4, 5, 3, weight_init_std=0.5, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((6, 4))
    t = np.array([0, 1, 2, 0, 1, 2])
    expected = {
        k: v - 0.1 * g for (k, v), g in zip(net.params.items(), net.gradient(x, t).values())
    }
    optim.SGD(lr=0.1).update(net.params, net.gradient(x, t))
    for k in expected:
        np.testing.assert_allclose(net.params[k], expected[k], rtol=1e-12)
        assert net.params[k] is getattr(net, k).data


def test_update_accepts_parameters_and_variables():
    p = Parameter(np.array(P0))
    optim.SGD(lr=0.1).update({"p": p}, {"p": Variable(np.array(G1))})
    np.testing.assert_allclose(p.data, [0.95, -1.9])


def test_update_errors():
    opt = optim.SGD(lr=0.1)
    with pytest.raises(KeyError, match="grads has key 'x', which params lacks"):
        opt.update({"W": np.zeros(2)}, {"x": np.zeros(2)})
    with pytest.raises(
        ValueError, match=r"grads\['W'\] has shape \(3,\) but params\['W'\] has shape \(2,\)"
    ):
        opt.update({"W": np.zeros(2)}, {"W": np.zeros(3)})
    with pytest.raises(TypeError, match=r"params\['W'\] is a float; it must be an ndarray"):
        opt.update({"W": 1.0}, {"W": np.zeros(())})


def test_step_without_params_says_what_to_do():
    with pytest.raises(RuntimeError, match=r"SGD.step: no parameters were given at construction"):
        optim.SGD(lr=0.1).step()
    with pytest.raises(RuntimeError, match=r"Adam.zero_grad: no parameters"):
        optim.Adam().zero_grad()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: optim.SGD(lr=-0.1), r"SGD: invalid lr -0.1 \(must be >= 0\)"),
        (lambda: optim.SGD(lr=0.1, momentum=-0.5), r"SGD: invalid momentum -0.5"),
        (lambda: optim.SGD(lr=0.1, weight_decay=-1), r"SGD: invalid weight_decay -1"),
        (lambda: optim.SGD(lr=0.1, nesterov=True), r"SGD: nesterov needs a momentum > 0"),
        (lambda: optim.AdaGrad(lr=-1), r"AdaGrad: invalid lr -1"),
        (lambda: optim.AdaGrad(eps=-1e-8), r"AdaGrad: invalid eps -1e-08"),
        (lambda: optim.RMSprop(alpha=1.0), r"RMSprop: invalid alpha 1.0 \(must be in \[0, 1\)\)"),
        (lambda: optim.Adam(betas=(1.0, 0.999)), r"Adam: invalid betas\[0\] 1.0"),
        (lambda: optim.Adam(betas=(0.9, -0.1)), r"Adam: invalid betas\[1\] -0.1"),
        (lambda: optim.AdamW(weight_decay=-0.01), r"AdamW: invalid weight_decay -0.01"),
        (lambda: optim.SGD(lr=float("nan")), r"SGD: lr is NaN"),
    ],
)
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_hyperparameter_types():
    with pytest.raises(TypeError, match="SGD: lr must be a number, got str"):
        optim.SGD(lr="0.1")
    with pytest.raises(TypeError, match=r"Adam: betas must be a pair of numbers, got 0.9"):
        optim.Adam(betas=0.9)


def test_bad_params():
    p = Parameter(np.ones(2))
    with pytest.raises(TypeError, match="params must be an iterable of Parameters"):
        optim.SGD(p)
    with pytest.raises(TypeError, match=r"params is a dict; pass Parameters"):
        optim.SGD({"W": np.ones(2)})
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray, not a Parameter"):
        optim.SGD([p, np.ones(2)])
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(ValueError, match="a parameter appears more than once"):
        optim.SGD([p, p])
    with pytest.raises(
        ValueError, match=r"params\[0\] \(unnamed\) is not a leaf that requires grad"
    ):
        optim.SGD([p * 2])


def test_repr():
    assert repr(optim.SGD(lr=0.1, momentum=0.9)) == (
        "SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"
    )
    assert repr(optim.Adam()) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"
