"""Optimizers on float16 parameters: each step is the float32 step rounded to float16 (the
optimizer keeps float32 state and a float32 master copy)."""

import numpy as np
import pytest

from minigrad import Parameter, Variable, optim

CASES = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-decay": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.01),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda ps: optim.AdaGrad(ps, lr=0.05),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "adam": lambda ps: optim.Adam(ps, lr=0.001),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.001),
}


def _grads(steps, shape, seed=0):
    rng = np.random.default_rng(seed)
    # Small gradients, as late in training: float16 arithmetic would lose them.
    return [(rng.standard_normal(shape) * 1e-3).astype(np.float16) for _ in range(steps)]


@pytest.mark.parametrize("case", list(CASES))
def test_each_step_is_the_float32_step_rounded(case):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 5)).astype(np.float16)
    p16, p32 = Parameter(w.copy()), Parameter(w.astype(np.float32))
    opt16, opt32 = CASES[case]([p16]), CASES[case]([p32])
    for g in _grads(6, w.shape):
        p16.grad, p32.grad = Variable(g), Variable(g.astype(np.float32))
        opt16.step()
        opt32.step()
        assert p16.data.dtype == np.float16
        np.testing.assert_array_equal(p16.data, p32.data.astype(np.float16))
    state = opt16.state[0]
    assert state["master"].dtype == np.float32
    np.testing.assert_array_equal(state["master"], p32.data)
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            assert v.dtype == np.float32, k


def test_adam_on_float16_stays_finite():
    # Adam's state in float16 turned the weights to -inf after one step (eps and v round to 0).
    p = Parameter(np.ones(3, np.float16))
    opt = optim.Adam([p], lr=0.001)
    p.grad = Variable(np.full(3, 1e-4, np.float16))
    opt.step()
    assert np.isfinite(p.data).all()
    np.testing.assert_array_equal(p.data, np.float16(1 - 0.001))


@pytest.mark.parametrize("case", ["momentum", "adam"])
def test_the_books_update_keeps_master_copies_too(case):
    w = np.linspace(-1, 1, 6, dtype=np.float16)
    params16, p32 = {"W": w.copy()}, Parameter(w.astype(np.float32))
    opt16, opt32 = CASES[case](None), CASES[case]([p32])
    for g in _grads(4, w.shape):
        opt16.update(params16, {"W": g})
        p32.grad = Variable(g.astype(np.float32))
        opt32.step()
    np.testing.assert_array_equal(params16["W"], p32.data.astype(np.float16))
    assert opt16.key_state["W"]["master"].dtype == np.float32


def test_weights_set_from_outside_restart_the_master_copy():
    p = Parameter(np.ones(2, np.float16))
    opt = optim.SGD([p], lr=0.1)
    p.grad = Variable(np.ones(2, np.float16))
    opt.step()
    p.data[...] = 5  # loaded or set by hand
    opt.step()
    np.testing.assert_array_equal(p.data, np.float16(np.float32(5) - np.float32(0.1)))


def test_a_float16_run_resumes_exactly_with_its_master_copies(tmp_path):
    w = np.linspace(-1, 1, 6, dtype=np.float16)
    grads = _grads(8, w.shape)
    p = Parameter(w.copy())
    opt = optim.Adam([p], lr=0.01)
    for g in grads:
        p.grad = Variable(g)
        opt.step()
    q = Parameter(w.copy())
    opt_q = optim.Adam([q], lr=0.01)
    for g in grads[:3]:
        q.grad = Variable(g)
        opt_q.step()
    opt_q.save(tmp_path / "adam16.npz")
    sd = opt_q.state_dict()
    assert sd["state"][0]["master"].dtype == np.float32
    r = Parameter(q.data.copy())
    opt_r = optim.Adam([r], lr=0.01)
    opt_r.load(tmp_path / "adam16.npz")
    assert opt_r.state[0]["exp_avg"].dtype == np.float32
    for g in grads[3:]:
        r.grad = Variable(g)
        opt_r.step()
    np.testing.assert_array_equal(r.data, p.data)


def test_float32_and_float64_keep_their_own_dtype_and_no_master_copy():
    for dt in (np.float32, np.float64):
        p = Parameter(np.ones(2, dt))
        opt = optim.Adam([p])
        p.grad = Variable(np.ones(2, dt))
        opt.step()
        assert "master" not in opt.state[0] and opt.state[0]["exp_avg"].dtype == dt
