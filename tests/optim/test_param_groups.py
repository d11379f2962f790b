"""Optimizers' param_groups and defaults (PyTorch's), and the messages for what a newcomer
passes as params."""

import numpy as np
import pytest

from minigrad import Parameter, Variable, nn, optim


def test_one_group_by_default_and_attributes_read_it():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    assert opt.defaults == {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}
    assert len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert group["params"] == [a, b] and group["lr"] == 0.1 and group["momentum"] == 0.9
    opt.lr = 0.5
    assert group["lr"] == 0.5 and opt.defaults["lr"] == 0.5
    group["lr"] = 0.25  # what a scheduler does
    assert opt.lr == 0.25
    with pytest.raises(ValueError, match=r"SGD: invalid lr -1 \(must be >= 0\)"):
        opt.lr = -1
    assert opt.lr == 0.25


def test_groups_have_their_own_settings():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1)
    assert opt.params == [a, b]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    a.grad = b.grad = Variable(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.data, [-0.1, -0.1])
    np.testing.assert_allclose(b.data, [-1.0, -1.0])
    assert repr(opt) == (
        "SGD(group 0: lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0; "
        "group 1: lr=1.0, momentum=0.0, nesterov=False, weight_decay=0.0)"
    )


def test_group_settings_match_separate_optimizers():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3))
    c, d = Parameter(np.ones(3)), Parameter(np.ones(3))
    both = optim.Adam([{"params": [a], "betas": (0.5, 0.9)}, {"params": [b]}], lr=0.01)
    one, two = optim.Adam([c], lr=0.01, betas=(0.5, 0.9)), optim.Adam([d], lr=0.01)
    for k in range(3):
        for p in (a, b, c, d):
            p.grad = Variable(np.full(3, k + 1.0))
        both.step()
        one.step()
        two.step()
    np.testing.assert_array_equal(a.data, c.data)
    np.testing.assert_array_equal(b.data, d.data)


def test_add_param_group():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": [b], "lr": 0.1})
    assert opt.params == [a, b] and len(opt.state) == 2 and opt.param_groups[1]["lr"] == 0.1
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="a parameter appears more than once"):
        opt.add_param_group({"params": [a]})


def test_groups_are_saved_and_loaded(tmp_path):
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1, momentum=0.5)
    opt.param_groups[0]["initial_lr"] = 0.1
    sd = opt.state_dict()
    assert sd["param_groups"][1] == {
        "lr": 1.0,
        "momentum": 0.5,
        "nesterov": False,
        "weight_decay": 0.0,
        "params": [1],
    }
    opt.save(tmp_path / "o.npz")
    other = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.3, momentum=0.5)
    other.load(tmp_path / "o.npz")
    assert [g["lr"] for g in other.param_groups] == [0.1, 1.0]
    assert other.param_groups[0]["initial_lr"] == 0.1 and other.defaults["lr"] == 0.1
    one = optim.SGD([a, b], lr=0.1, momentum=0.5)
    with pytest.raises(ValueError, match="the state dict has 2 param groups, this optimizer has 1"):
        one.load_state_dict(sd)
    # A state dict from before param groups sets every group.
    old = {k: v for k, v in sd.items() if k != "param_groups"}
    other.load_state_dict(old)
    assert [g["lr"] for g in other.param_groups] == [0.1, 0.1]


def test_bad_groups():
    a = Parameter(np.ones(2))
    with pytest.raises(ValueError, match=r"SGD: a param group has unknown settings \['learning_rate'\]"):  # fmt: skip
        optim.SGD([{"params": [a], "learning_rate": 0.1}])
    with pytest.raises(ValueError, match=r"SGD: invalid lr -0.5"):
        optim.SGD([{"params": [a], "lr": -0.5}])
    with pytest.raises(TypeError, match=r"SGD: a param group must be a dict with a 'params' key"):
        optim.SGD([a]).add_param_group({"lr": 0.1})
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([{"params": []}])


def test_a_model_passed_as_params_says_to_pass_its_parameters():
    net = nn.Linear(3, 2)
    with pytest.raises(
        TypeError,
        match=r"SGD: got a Linear \(a model\); pass its parameters: SGD\(model.parameters\(\), ...\)",
    ):
        optim.SGD(net, lr=0.1)


def test_a_used_up_generator_is_named():
    net = nn.Linear(3, 2)
    params = net.parameters()
    optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: params is an iterator that gave no parameters; was it used up already"):  # fmt: skip
        optim.Adam(params)
    with pytest.raises(
        TypeError, match=r"SGD: params must be an iterable of Parameters .* got int"
    ):
        optim.SGD(3)


def test_an_optimizer_of_ones_own():
    class SignSGD(optim.Optimizer):
        def __init__(self, params, lr=0.01):
            super().__init__(params, {"lr": lr})

        def _update(self, data, g, state, group):
            data -= group["lr"] * np.sign(g)

    p = Parameter(np.array([1.0, -1.0]))
    opt = SignSGD([p], lr=0.5)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        p.grad = Variable(np.array([3.0, -0.1]))
        opt.step()
        sched.step()
    np.testing.assert_array_equal(p.data, [1.0 - 0.75, -1.0 + 0.75])
    assert opt.lr == 0.125 and repr(opt) == "SignSGD(lr=0.125)"
