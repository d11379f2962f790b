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


# --------------------------------------------------------------------------- wrong shapes


@pytest.mark.parametrize("case", list(CASES))
def test_a_gradient_of_another_shape_names_the_parameter_and_updates_nothing(case):
    a, b = Parameter(np.ones(2), name="a"), Parameter(np.ones((2, 3)), name="W")
    opt = CASES[case][0]([a, b])
    a.grad = Variable(np.ones(2))
    b.grad = Variable(np.ones((3, 2)))  # wrong, and after a good one
    name = type(opt).__name__
    with pytest.raises(ValueError, match=rf"{name}\.step: params\[1\] \(W\) has a gradient of shape \(3, 2\) but the parameter has shape \(2, 3\) .*nothing was updated"):  # fmt: skip
        opt.step()
    assert (a.data == 1).all() and (b.data == 1).all() and opt.state_dict()["state"] == [{}, {}]


def test_a_parameter_whose_data_was_replaced_gives_both_shapes():
    net = TwoLayerNet(4, 3, 2)
    opt = optim.SGD(net.parameters(), lr=0.1)
    net.loss(np.ones((1, 4)), np.array([1])).backward()
    net.W1.data = np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"params\[0\] \(W1\) has a gradient of shape \(4, 3\) but the parameter has shape \(5, 3\) \(was its .data replaced"):  # fmt: skip
        opt.step()


def test_the_books_update_checks_every_key_before_updating():
    params = {"W": np.ones(2), "b": np.ones(3)}
    with pytest.raises(ValueError, match=r"grads\['b'\] has shape \(2,\).*nothing was updated"):
        optim.SGD(lr=0.1).update(params, {"W": np.ones(2), "b": np.ones(2)})
    assert (params["W"] == 1).all()


# --------------------------------------------------------------------------- saving, resuming


def _batches(n: int = 12):
    r = np.random.default_rng(0)
    return [(r.standard_normal((16, 6)), r.integers(0, 3, 16)) for _ in range(n)]


def _train(net, opt, batches):
    for x, t in batches:
        loss = net.loss(x, t)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("via", ["state_dict", "file"])
def test_a_paused_run_resumes_exactly(case, via, tmp_path):
    make = CASES[case][0]
    batches = _batches()
    np.random.seed(0)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5)
    opt = make(net.parameters())
    _train(net, opt, batches)  # without a pause
    straight = net.state_dict()

    np.random.seed(0)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5)
    opt = make(net.parameters())
    _train(net, opt, batches[:5])
    if via == "file":
        net.save(tmp_path / "net.npz")
        opt.save(tmp_path / "opt.npz")
    else:
        saved = (net.state_dict(), opt.state_dict())
    opt.lr = 123.0  # the copy is not touched by what follows
    _train(net, opt, batches[5:6])

    resumed = TwoLayerNet(6, 5, 3)
    opt2 = make(resumed.parameters())
    if via == "file":
        resumed.load(tmp_path / "net.npz")
        opt2.load(tmp_path / "opt.npz")
    else:
        resumed.load_state_dict(saved[0])
        opt2.load_state_dict(saved[1])
    assert repr(opt2) == repr(make([Parameter(np.ones(1))]))  # the settings came back
    _train(resumed, opt2, batches[5:])
    for key, value in straight.items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def test_the_books_update_state_resumes_too(tmp_path):
    def run(opt, steps, net):
        for x, t in steps:
            opt.update(net.params, net.gradient(x, t))

    batches = _batches(6)
    np.random.seed(0)
    a = TwoLayerNet(6, 5, 3)
    opt = optim.Adam(lr=0.01)
    run(opt, batches, a)
    np.random.seed(0)
    b = TwoLayerNet(6, 5, 3)
    opt = optim.Adam(lr=0.01)
    run(opt, batches[:2], b)
    opt.save(tmp_path / "adam.npz")
    opt = optim.Adam()
    opt.load(tmp_path / "adam.npz")
    assert sorted(opt.key_state) == ["W1", "W2", "b1", "b2"] and opt.lr == 0.01
    run(opt, batches[2:], b)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])


def test_state_dict_is_a_copy_with_the_settings():
    p = Parameter(np.ones(2, np.float32))
    opt = optim.Adam([p], lr=0.1)
    p.grad = Variable(np.ones(2, np.float32))
    opt.step()
    sd = opt.state_dict()
    assert sd["type"] == "Adam" and sd["settings"]["lr"] == 0.1
    assert sd["state"][0]["step"] == 1 and sd["state"][0]["exp_avg"].dtype == np.float32
    sd["state"][0]["exp_avg"][...] = 5
    assert (opt.state[0]["exp_avg"] != 5).all()


def test_load_state_dict_errors_change_nothing(tmp_path):
    p = Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = Variable(np.ones(2))
    opt.step()
    good = opt.state_dict()
    with pytest.raises(ValueError, match="the state dict is of a SGD, not of a Adam"):
        optim.Adam([p]).load_state_dict(good)
    other = optim.SGD([p, Parameter(np.ones(3))], lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match="state for 1 parameters, this optimizer has 2"):
        other.load_state_dict(good)
    bad = {**good, "state": [{"momentum_buffer": np.ones(5)}]}
    fresh = optim.SGD([p], lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match=r"params\[0\] \(unnamed\): its 'momentum_buffer' has shape \(5,\) but the parameter has shape \(2,\); nothing was loaded"):  # fmt: skip
        fresh.load_state_dict(bad)
    with pytest.raises(ValueError, match="invalid lr -1.0"):
        fresh.load_state_dict({**good, "settings": {**good["settings"], "lr": -1.0}})
    assert fresh.lr == 0.5 and fresh.state == [{}]
    path = tmp_path / "net.npz"
    TwoLayerNet(2, 2, 2).save(path)
    with pytest.raises(ValueError, match="a minigrad archive but not an optimizer's"):
        fresh.load(path)


def test_dir_shows_the_optimizers_only():
    names = [n for n in dir(optim) if not n.startswith("_")]
    assert names == sorted(optim.__all__)
    assert not {"np", "math", "Any", "Iterable", "Mapping", "Variable"} & set(dir(optim))
