"""minigrad.nn.utils: gradient clipping (against closed forms and PyTorch) and summary."""

import math

import numpy as np
import pytest

from minigrad import Parameter, Variable, nn


def _params(*grads, dtype=np.float64):
    out = []
    for g in grads:
        p = Parameter(np.zeros(np.shape(g), dtype))
        p.grad = Variable(np.asarray(g, dtype))
        out.append(p)
    return out


G = ([3.0, -4.0], [[1.0, 2.0], [-2.0, 0.5]], [12.0])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
def test_clip_grad_norm_scales_to_max_norm(norm_type):
    ps = _params(*G)
    flat = np.concatenate([np.ravel(g) for g in G])
    p = math.inf if norm_type == "inf" else norm_type
    total = np.max(np.abs(flat)) if p == math.inf else np.sum(np.abs(flat) ** p) ** (1 / p)
    got = nn.utils.clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type)
    assert isinstance(got, float) and got.item() == pytest.approx(total, rel=1e-12)
    coef = 2.0 / (total + 1e-6)
    for p_, g in zip(ps, G):
        np.testing.assert_allclose(p_.grad.data, np.asarray(g) * coef, rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing_ones():
    ps = _params(*G, dtype=np.float32)
    ps.append(Parameter(np.ones(3, np.float32)))  # no gradient
    before = [p.grad for p in ps[:3]]
    total = nn.utils.clip_grad_norm_(iter(ps), max_norm=100.0)
    assert total == pytest.approx(math.sqrt(9 + 16 + 1 + 4 + 4 + 0.25 + 144), rel=1e-6)
    assert [p.grad for p in ps[:3]] == before and ps[3].grad is None
    nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    assert all(p.grad.data.dtype == np.float32 for p in ps[:3])
    assert nn.utils.clip_grad_norm_([Parameter(np.ones(2))], 1.0) == 0.0


def test_clip_grad_norm_of_one_variable_and_shared_gradient_arrays():
    (p,) = _params([6.0, 8.0])
    assert nn.utils.clip_grad_norm_(p, 5.0) == 10.0
    np.testing.assert_allclose(p.grad.data, [3.0, 4.0], rtol=1e-6)
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    (a + b).sum().backward()  # the engine may hand both leaves one array
    nn.utils.clip_grad_norm_([a, b], 1.0)
    np.testing.assert_allclose(a.grad.data, [0.5, 0.5], rtol=1e-5)
    np.testing.assert_allclose(b.grad.data, [0.5, 0.5], rtol=1e-5)


def test_clip_grad_norm_non_finite():
    ps = _params([1.0, np.nan])
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):  # fmt: skip
        nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert math.isnan(nn.utils.clip_grad_norm_(ps, 1.0))
    assert np.isnan(ps[0].grad.data).all()  # scaled by NaN, as PyTorch


def test_clip_grad_value():
    ps = _params(*G)
    nn.utils.clip_grad_value_(ps, 1.5)
    for p, g in zip(ps, G):
        np.testing.assert_array_equal(p.grad.data, np.clip(g, -1.5, 1.5))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda ps: nn.utils.clip_grad_norm_(ps, -1.0),
            ValueError,
            r"max_norm must be finite and >= 0, got -1.0",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_norm_(ps, "1"),
            TypeError,
            r"max_norm must be a number, got str",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_norm_(ps, 1.0, norm_type=0),
            ValueError,
            r"norm_type must be > 0, got 0",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_norm_(ps, 1.0, norm_type="l2"),
            TypeError,
            r"norm_type must be a number or 'inf'",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_norm_([*ps, np.ones(2)], 1.0),
            TypeError,
            r"clip_grad_norm_: parameters\[3\] is a ndarray, not a Parameter",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_norm_(nn.Linear(2, 2), 1.0),
            TypeError,
            r"got a Linear; pass model.parameters\(\)",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_value_(ps, float("inf")),
            ValueError,
            r"clip_grad_value_: clip_value must be finite and >= 0, got inf",
        ),  # fmt: skip
        (
            lambda ps: nn.utils.clip_grad_value_(3, 1.0),
            TypeError,
            r"parameters must be a Variable or an iterable of them, got int",
        ),  # fmt: skip
    ],
)
def test_clipping_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call(_params(*G))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clipping_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2, 2)]]
    ps = _params(*grads)
    ts = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    ours = nn.utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(ts, 0.5, norm_type=norm_type)
    assert ours == pytest.approx(theirs.item(), rel=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-12)
    nn.utils.clip_grad_value_(ps, 0.05)
    torch.nn.utils.clip_grad_value_(ts, 0.05)
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(p.grad.data, t.grad.numpy())


# --------------------------------------------------------------------------- summary


def test_summary_of_a_two_layer_net():
    net = nn.TwoLayerNet(784, 50, 10, dtype=np.float32)
    before = repr(net)
    s = nn.summary(net, np.zeros((2, 784), np.float32))
    assert [(r.name, r.type, r.depth, r.output_shape, r.num_params) for r in s.rows] == [
        ("", "TwoLayerNet", 0, (2, 10), 39760),
        ("layers.Affine1", "Affine", 1, (2, 50), 784 * 50 + 50),
        ("layers.Relu1", "ReLU", 1, (2, 50), 0),
        ("layers.Affine2", "Affine", 1, (2, 10), 510),
        ("lastLayer", "SoftmaxWithLoss", 1, None, 0),  # not called by predict
    ]
    assert (s.total_params, s.trainable_params, s.param_bytes) == (39760, 39760, 39760 * 4)
    text = str(s)
    assert repr(s) == text
    assert "  layers.Affine1 (Affine)       (2, 50)         39,250" in text
    assert text.endswith(
        "Total params: 39,760\nTrainable params: 39,760\nNon-trainable params: 0\n"
        "Params size: 159,040 bytes (0.16 MB)"
    )
    assert repr(net) == before and "forward" not in vars(net.layers["Affine1"])


def test_summary_nests_and_counts_frozen_parameters_and_restores_modes():
    inner = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    net = nn.Sequential(inner, nn.BatchNorm1d(4), nn.Linear(4, 2))
    net[2].W.requires_grad = False
    net.train()
    stats = net[1].running_mean.copy()
    s = nn.summary(net, np.ones((6, 3), np.float32))
    assert [(r.name, r.depth, r.output_shape) for r in s.rows] == [
        ("", 0, (6, 2)),
        ("0", 1, (6, 4)),
        ("0.0", 2, (6, 4)),
        ("0.1", 2, (6, 4)),
        ("1", 1, (6, 4)),
        ("2", 1, (6, 2)),
    ]
    assert s.rows[1].num_params == 16 and s.total_params == 16 + 8 + 10
    assert s.trainable_params == 16 + 8 + 2
    assert all(m.training for m in net.modules())
    np.testing.assert_array_equal(net[1].running_mean, stats)  # run in evaluation mode


def test_summary_of_a_module_returning_a_tuple_and_taking_two_inputs():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)

        def forward(self, x, y):
            return self.fc(x), y * 2

    s = nn.summary(Pair(), (np.ones((1, 2), np.float32), np.ones(5, np.float32)))
    assert s.rows[0].output_shape == [(1, 3), (5,)]
    assert "[(1, 3), (5,)]" in str(s)


def test_summary_bad_input_and_errors_restore_the_model():
    with pytest.raises(TypeError, match="summary: expected a Module, got function"):
        nn.summary(lambda x: x, np.ones(2))
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="Linear"):
        nn.summary(net, np.ones((2, 5), np.float32))
    assert "forward" not in vars(net[0]) and net.training
