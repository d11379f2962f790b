"""minigrad.optim.lr_scheduler: the rates against closed forms and against PyTorch's
schedulers (when torch is installed), resuming, the warning and bad input."""

import math
import warnings

import numpy as np
import pytest

from minigrad import Parameter, Variable, optim
from minigrad.optim import lr_scheduler as S

STEPS = 50


def _opt(lr=0.1, kind="sgd", groups=1):
    ps = [Parameter(np.ones(3)) for _ in range(groups)]
    if kind == "adam":
        return optim.Adam(ps if groups == 1 else [{"params": [p]} for p in ps], lr=lr)
    if groups == 1:
        return optim.SGD(ps, lr=lr, momentum=0.9)
    return optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)], lr=lr)


def _rates(opt, sched, steps=STEPS, metric=None):
    """The rate used at each step (after optimizer.step(), scheduler.step())."""
    out = []
    for k in range(steps):
        out.append(sched.get_last_lr()[0])
        for p in opt.params:
            p.grad = Variable(np.ones(3))
        opt.step()
        sched.step() if metric is None else sched.step(metric(k))
    return np.array(out)


def _cos(base, low, k, T):
    return low + (base - low) * (1 + math.cos(math.pi * k / T)) / 2


CLOSED = {
    "step": (lambda o: S.StepLR(o, step_size=7, gamma=0.5), lambda k: 0.1 * 0.5 ** (k // 7)),
    "multistep": (
        lambda o: S.MultiStepLR(o, milestones=[5, 12, 30], gamma=0.3),
        lambda k: 0.1 * 0.3 ** sum(k >= m for m in (5, 12, 30)),
    ),
    "exponential": (lambda o: S.ExponentialLR(o, gamma=0.9), lambda k: 0.1 * 0.9**k),
    "cosine": (
        lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=0.001),
        lambda k: _cos(0.1, 0.001, k, 20),  # the cosine goes on past T_max (period 2 T_max)
    ),
    "linear": (
        lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8),
        lambda k: 0.1 * (0.25 + 0.75 * min(k, 8) / 8),
    ),
}


@pytest.mark.parametrize("case", list(CLOSED))
def test_rates_follow_the_closed_forms(case):
    make, formula = CLOSED[case]
    opt = _opt()
    rates = _rates(opt, make(opt))
    np.testing.assert_allclose(rates, [formula(k) for k in range(STEPS)], rtol=1e-12)
    assert opt.param_groups[0]["initial_lr"] == 0.1 and opt.defaults["lr"] == 0.1


def test_one_cycle_closed_form_and_momentum():
    opt = _opt(kind="sgd")
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=40, pct_start=0.25)
    lrs, moms = [], []
    for _ in range(40):
        lrs.append(sched.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
        opt.params[0].grad = Variable(np.ones(3))
        opt.step()
        if len(lrs) < 40:
            sched.step()
    lo, hi = 1.0 / 25, 1.0 / 25 / 1e4
    for k in range(40):
        if k <= 9:  # rising over pct_start * 40 - 1 = 9 steps
            pct = k / 9
            want, m = _anneal(lo, 1.0, pct), _anneal(0.95, 0.85, pct)
        else:
            pct = (k - 9) / 30
            want, m = _anneal(1.0, hi, pct), _anneal(0.85, 0.95, pct)
        assert lrs[k] == pytest.approx(want, rel=1e-12) and moms[k] == pytest.approx(m, rel=1e-12)
    assert lrs[-1] == pytest.approx(hi)
    sched.step()  # the 40th step is the last one
    with pytest.raises(ValueError, match="OneCycleLR: stepped 41 times, but total_steps is 40"):
        sched.step()


def _anneal(a, b, pct):
    return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)


def test_one_cycle_cycles_adams_beta1():
    opt = _opt(kind="adam")
    S.OneCycleLR(opt, max_lr=0.01, epochs=2, steps_per_epoch=5)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    assert opt.lr == pytest.approx(0.01 / 25)


def test_reduce_on_plateau_closed_form():
    opt = _opt(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    losses = [5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]
    seen = []
    for loss in losses:
        sched.step(loss)
        seen.append(sched.get_last_lr()[0])
    # bad epochs from step 3 on; a cut after 3 bad ones, then a step of cooldown
    assert seen == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
    for metric in [Variable(np.array(4.0)), np.array(4.0), np.float32(4.0), np.array([4.0])] * 3:
        sched.step(metric)
    assert opt.lr == 0.2  # min_lr


def test_reduce_on_plateau_max_mode_and_abs_threshold():
    opt = _opt(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    sched.step(0.5)
    sched.step(0.55)  # not 0.1 better: a bad epoch, cut at once (patience 0)
    assert opt.lr == pytest.approx(0.1)
    sched.step(0.7)
    assert opt.lr == pytest.approx(0.1)


def test_param_groups_each_get_their_schedule():
    opt = _opt(groups=2)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    opt.params[0].grad = Variable(np.ones(3))
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [0.05, 0.1]
    with pytest.raises(ValueError, match=r"SGD.lr: the param groups have different values"):
        _ = opt.lr


def test_schedulers_chain_on_one_optimizer():
    opt = _opt()
    warm = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = S.ExponentialLR(opt, gamma=0.9)
    rates = []
    for _ in range(5):
        rates.append(opt.lr)
        opt.params[0].grad = Variable(np.ones(3))
        opt.step()
        warm.step()
        decay.step()
    want = [0.1 * min(0.5 + 0.25 * k, 1.0) * 0.9**k for k in range(5)]
    np.testing.assert_allclose(rates, want, rtol=1e-12)


def test_the_optimizer_uses_the_scheduled_rate():
    p = Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = Variable(np.ones(1))
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, [-(1 + 0.5 + 0.25)])


def test_a_books_optimizer_follows_a_schedule_too():
    opt = optim.SGD(lr=1.0)
    sched = S.ExponentialLR(opt, gamma=0.5)
    params = {"W": np.zeros(2)}
    for _ in range(2):
        opt.update(params, {"W": np.ones(2)})
        sched.step()
    np.testing.assert_allclose(params["W"], [-1.5, -1.5])


@pytest.mark.parametrize("case", [*CLOSED, "onecycle", "plateau"])
def test_a_paused_run_resumes_exactly(case, tmp_path):
    def make(o):
        if case == "onecycle":
            return S.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)
        if case == "plateau":
            return S.ReduceLROnPlateau(o, patience=1, factor=0.5)
        return CLOSED[case][0](o)

    def run(opt, sched, steps, start=0):
        for k in range(start, start + steps):
            opt.params[0].grad = Variable(np.full(3, math.sin(k)))
            opt.step()
            sched.step(10 - k % 3) if case == "plateau" else sched.step()

    straight = _opt()
    s = make(straight)
    run(straight, s, 30)

    first = _opt()
    s1 = make(first)
    run(first, s1, 12)
    first.save(tmp_path / "opt.npz")
    saved, weights = s1.state_dict(), first.params[0].data.copy()
    run(first, s1, 3, 12)  # what is saved is a copy

    second = _opt()
    second.params[0].data[...] = weights
    s2 = make(second)
    second.load(tmp_path / "opt.npz")
    s2.load_state_dict(saved)
    run(second, s2, 18, 12)
    assert s2.get_last_lr() == s.get_last_lr() and s2.last_epoch == s.last_epoch
    np.testing.assert_array_equal(second.params[0].data, straight.params[0].data)
    assert second.param_groups[0]["momentum"] == straight.param_groups[0]["momentum"]


def test_stepping_the_scheduler_first_warns_as_pytorch_does():
    opt = _opt()
    sched = S.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"StepLR.step\(\) was called before optimizer.step\(\)"):
        sched.step()
    opt = _opt()
    sched = S.StepLR(opt, step_size=2)
    opt.params[0].grad = Variable(np.ones(3))
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_resuming_with_last_epoch_needs_initial_lr():
    opt = _opt()
    with pytest.raises(ValueError, match=r"param_groups\[0\] has no 'initial_lr'"):
        S.StepLR(opt, step_size=3, last_epoch=5)
    opt.param_groups[0]["initial_lr"] = 0.1
    sched = S.CosineAnnealingLR(opt, T_max=10, last_epoch=4)
    assert sched.last_epoch == 5 and opt.lr == pytest.approx(_cos(0.1, 0, 5, 10))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda o: S.StepLR(o.params, 3), TypeError, r"StepLR: expected an optimizer .* got list"),
        (lambda o: S.StepLR(o, 0), ValueError, r"StepLR: step_size must be >= 1, got 0"),
        (lambda o: S.StepLR(o, 2.5), TypeError, r"StepLR: step_size must be an int, got float"),
        (lambda o: S.StepLR(o, 2, gamma=0), ValueError, r"StepLR: gamma must be > 0, got 0"),
        (lambda o: S.ExponentialLR(o, gamma=-1), ValueError, r"ExponentialLR: gamma must be > 0"),
        (
            lambda o: S.ExponentialLR(o, gamma=float("nan")),
            ValueError,
            r"ExponentialLR: gamma must be finite",
        ),
        (
            lambda o: S.MultiStepLR(o, [5, 3]),
            ValueError,
            r"MultiStepLR: milestones must be increasing, got \[5, 3\]",
        ),
        (lambda o: S.MultiStepLR(o, 5), TypeError, r"MultiStepLR: milestones must be a list"),
        (lambda o: S.CosineAnnealingLR(o, 0), ValueError, r"T_max must be >= 1, got 0"),
        (
            lambda o: S.CosineAnnealingLR(o, 5, eta_min=-1),
            ValueError,
            r"eta_min must be >= 0",
        ),
        (
            lambda o: S.LinearLR(o, start_factor=0),
            ValueError,
            r"LinearLR: start_factor must be in \(0, 1\], got 0",
        ),
        (
            lambda o: S.LinearLR(o, end_factor=1.5),
            ValueError,
            r"LinearLR: end_factor must be in \[0, 1\], got 1.5",
        ),
        (lambda o: S.OneCycleLR(o, 0.1), ValueError, r"give total_steps, or epochs and steps"),
        (
            lambda o: S.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"),
            ValueError,
            r"anneal_strategy must be 'cos' or 'linear', got 'exp'",
        ),
        (
            lambda o: S.OneCycleLR(o, [0.1, 0.2], 10),
            ValueError,
            r"max_lr has 2 values, the optimizer has 1 param groups",
        ),
        (
            lambda o: S.OneCycleLR(optim.AdaGrad(o.params), 0.1, 10),
            ValueError,
            r"cycle_momentum needs an optimizer with a momentum or betas setting \(AdaGrad",
        ),
        (
            lambda o: S.ReduceLROnPlateau(o, factor=1.0),
            ValueError,
            r"factor must be in \(0, 1\), got 1.0",
        ),
        (lambda o: S.ReduceLROnPlateau(o, mode="up"), ValueError, r"mode must be 'min' or 'max'"),
        (lambda o: S.ReduceLROnPlateau(o).step("low"), TypeError, r"metric must be a number"),
        (
            lambda o: S.ReduceLROnPlateau(o).step(np.ones(3)),
            TypeError,
            r"metric must be a number \(or a 1-element array\), got ndarray of shape \(3,\)",
        ),
        (
            lambda o: S.StepLR(o, 2).load_state_dict(S.ExponentialLR(o, 0.5).state_dict()),
            ValueError,
            r"StepLR.load_state_dict: keys .* are not this scheduler's",
        ),
    ],
)
def test_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make(_opt())


# --------------------------------------------------------------------------- against PyTorch

TORCH = {
    "step": ("StepLR", {"step_size": 7, "gamma": 0.5}),
    "multistep": ("MultiStepLR", {"milestones": [5, 12, 30], "gamma": 0.3}),
    "exponential": ("ExponentialLR", {"gamma": 0.93}),
    "cosine": ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.001}),
    "linear": ("LinearLR", {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 12}),
    "onecycle": ("OneCycleLR", {"max_lr": 0.8, "total_steps": STEPS}),
    "onecycle3": (
        "OneCycleLR",
        {"max_lr": 0.8, "total_steps": STEPS, "three_phase": True, "anneal_strategy": "linear"},
    ),
    "plateau": ("ReduceLROnPlateau", {"patience": 2, "factor": 0.5, "cooldown": 1}),
}


@pytest.mark.parametrize("case", list(TORCH))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_rates_and_momenta_match_pytorch(case, kind):
    torch = pytest.importorskip("torch")
    name, kw = TORCH[case]

    def metric(k):
        return 1.0 / (1 + min(k, 10))

    opt = _opt(lr=0.1, kind=kind)
    ours = _rates(opt, getattr(S, name)(opt, **kw), metric=metric if case == "plateau" else None)
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    if kind == "adam":
        topt = torch.optim.Adam([w], lr=0.1)
    else:
        topt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    theirs, moms = [], []
    for k in range(STEPS):
        theirs.append(tsched.get_last_lr()[0])
        moms.append(topt.param_groups[0]["betas" if kind == "adam" else "momentum"])
        w.grad = torch.ones(3, dtype=torch.float64)
        topt.step()
        tsched.step(metric(k)) if case == "plateau" else tsched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16)
    key = "betas" if kind == "adam" else "momentum"
    assert opt.param_groups[0][key] == pytest.approx(topt.param_groups[0][key], rel=1e-13)
