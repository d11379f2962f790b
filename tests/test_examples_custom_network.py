"""examples/custom_network.py: the spirals, the hand-written network and its gradients, the
training loop, and the script's output and files."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import scripts

import minigrad as mg
from minigrad import functions as F

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "custom_network.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return scripts.load(SCRIPT, "custom_network_example")


def test_spirals_have_the_promised_shapes_and_arms(example):
    x, t = example.make_spirals(50, 3, noise=0.0, rng=np.random.default_rng(0))
    assert x.shape == (150, 2) and x.dtype == np.float32
    assert t.shape == (150,) and t.dtype == np.int64
    assert np.bincount(t).tolist() == [50, 50, 50]
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.min() == pytest.approx(0.05, abs=1e-6) and r.max() == pytest.approx(1.0, abs=1e-6)
    # Without noise, arm k is arm 0 rotated by 2 pi k / 3.
    angle = 2 * np.pi / 3
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(x[t == 0] @ rot, x[t == 1], atol=1e-6)


def test_spirals_are_seeded(example):
    a = example.make_spirals(20, 2, 0.1, np.random.default_rng(5))
    b = example.make_spirals(20, 2, 0.1, np.random.default_rng(5))
    c = example.make_spirals(20, 2, 0.1, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])


def test_spirals_reject_bad_sizes(example):
    with pytest.raises(
        ValueError, match="need classes >= 2 and points_per_class >= 1, got 1 and 5"
    ):
        example.make_spirals(5, 1, 0.1, np.random.default_rng(0))


def test_params_are_named_parameters_of_the_right_shapes(example):
    params = example.init_params([2, 8, 8, 3], np.random.default_rng(0))
    assert [p.name for p in params] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.shape for p in params] == [(2, 8), (8,), (8, 8), (8,), (8, 3), (3,)]
    assert all(isinstance(p, mg.Parameter) and p.dtype == np.float32 for p in params)
    assert all(not p.data.any() for p in params[1::2])


def test_forward_matches_numpy_and_its_gradients_pass_gradcheck(example):
    rng = np.random.default_rng(1)
    params64 = [
        mg.Parameter(p.data.astype(np.float64), name=p.name)
        for p in example.init_params([2, 4, 4, 3], rng)
    ]
    for p in params64[1::2]:
        p.data[:] = rng.standard_normal(p.shape)
    x = rng.standard_normal((6, 2))
    t = np.array([0, 1, 2, 0, 1, 2])
    W1, b1, W2, b2, W3, b3 = (p.data for p in params64)
    expected = np.tanh(np.tanh(x @ W1 + b1) @ W2 + b2) @ W3 + b3
    np.testing.assert_allclose(example.forward(params64, x).data, expected, rtol=1e-12)

    def loss_of(*ps):
        return F.softmax_cross_entropy(example.forward(ps, x), t)

    assert mg.gradcheck(loss_of, *params64)


def test_accuracy_counts_the_argmax(example):
    params = example.init_params([2, 3], np.random.default_rng(0))
    W, b = params
    W.data[:] = [[1, 0, 0], [0, 1, 0]]
    x = np.array([[2.0, 1.0], [0.0, 3.0], [-1.0, -2.0], [5.0, 4.0]], dtype=np.float32)
    # argmax: class 0, 1, 2 (both negative: the zero logit wins), 0
    assert example.accuracy(params, x, np.array([0, 1, 2, 1])) == 0.75


def test_one_training_step_is_momentum_sgd_by_hand(example):
    rng = np.random.default_rng(2)
    x, t = example.make_spirals(10, 2, 0.1, rng)
    params = example.init_params([2, 5, 2], rng)
    before = [p.data.copy() for p in params]
    loss = F.softmax_cross_entropy(example.forward(params, x), t)
    loss.backward()
    grads = [p.grad.data.copy() for p in params]
    for p in params:
        p.zero_grad()
    example.train(params, x, t, steps=1, lr=0.5, momentum=0.9)
    # First step: v = -lr * g, p += v.
    for p, w0, g in zip(params, before, grads):
        np.testing.assert_allclose(p.data, w0 - 0.5 * g, rtol=1e-5, atol=1e-7)


def test_training_reaches_the_stated_accuracy(example):
    rng = np.random.default_rng(0)
    x, t = example.make_spirals(100, 3, 0.15, rng)
    params = example.init_params([2, 32, 32, 3], rng)
    first = F.softmax_cross_entropy(example.forward(params, x), t).item()
    last = example.train(params, x, t, steps=1000, lr=0.2, momentum=0.9)
    assert first == pytest.approx(np.log(3), abs=0.2)  # chance level at the start
    assert last.item() < 0.05
    assert example.accuracy(params, x, t) >= 0.97
    # The last step's gradients stay on the parameters (for the picture); the data has none.
    assert all(p.grad is not None for p in params)


def test_help_lists_the_options():
    r = scripts.run(SCRIPT, "--help", timeout=60)
    assert r.returncode == 0
    for option in ("--steps", "--lr", "--momentum", "--hidden", "--classes", "--seed", "--out"):
        assert option in r.stdout


def test_bad_options_are_refused():
    r = scripts.run(SCRIPT, "--steps", "0", timeout=60)
    assert r.returncode == 2
    assert "--steps must be at least 1" in r.stderr


def test_the_script_trains_prints_its_accuracies_last_and_writes_its_pictures(tmp_path):
    out = tmp_path / "out"
    r = scripts.run(SCRIPT, "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "300 points in 3 spirals; MLP 2-32-32-3, 1251 parameters"
    steps = [ln for ln in lines if ln.startswith("step ")]
    assert [ln.split()[1] for ln in steps] == [
        "200/1000",
        "400/1000",
        "600/1000",
        "800/1000",
        "1000/1000",
    ]
    # The last lines say which accuracy they give (before: `accuracy 1.0000` after the
    # test accuracy, and it was the training accuracy).
    key, value = lines[-2].split()
    assert key == "train_acc" and float(value) >= 0.97
    key, value = lines[-1].split()
    assert key == "test_acc" and float(value) >= 0.9
    for name in ("decision_boundary.png", "graph.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name


def test_the_run_is_deterministic(tmp_path):
    def run(seed):
        r = scripts.run(SCRIPT, "--steps", "50", "--seed", str(seed), "--out", str(tmp_path))
        assert r.returncode == 0, r.stderr
        return [
            ln for ln in r.stdout.splitlines() if ln.startswith(("step", "train_acc", "test_acc"))
        ]

    a, b = run(1), run(1)
    strip_time = lambda lines: [
        ln.rsplit("  ", 1)[0] if ln.startswith("step") else ln for ln in lines
    ]
    assert strip_time(a) == strip_time(b)
