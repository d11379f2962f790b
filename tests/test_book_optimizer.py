"""minigrad.book.optimizer and trainer: the book's update rules, step by step against NumPy
written here, on arrays, on numbers and on a network's params; the Trainer's schedule and
printed lines."""

from __future__ import annotations

import re

import numpy as np
import pytest

from minigrad.book import MultiLayerNet, Trainer
from minigrad.book import optimizer as O
from minigrad.core import Variable


def grads_seq(n: int = 3):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((2, 3)) for _ in range(n)]


def reference(name: str, p: np.ndarray, gs: list[np.ndarray]) -> np.ndarray:
    """The book's rules, restated."""
    p = p.copy()
    v = np.zeros_like(p)
    h = np.zeros_like(p)
    m = np.zeros_like(p)
    for i, g in enumerate(gs, 1):
        if name == "SGD":
            p = p - 0.1 * g
        elif name == "Momentum":
            v = 0.9 * v - 0.1 * g
            p = p + v
        elif name == "Nesterov":
            p = p + 0.81 * v - 1.9 * 0.1 * g
            v = 0.9 * v - 0.1 * g
        elif name == "AdaGrad":
            h = h + g * g
            p = p - 0.1 * g / (np.sqrt(h) + 1e-7)
        elif name == "RMSprop":
            h = 0.99 * h + 0.01 * g * g
            p = p - 0.1 * g / (np.sqrt(h) + 1e-7)
        else:  # Adam
            lr_t = 0.1 * np.sqrt(1 - 0.999**i) / (1 - 0.9**i)
            m = m + 0.1 * (g - m)
            h = h + 0.001 * (g * g - h)
            p = p - lr_t * m / (np.sqrt(h) + 1e-7)
    return p


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
def test_the_books_update_rules(name):
    p0 = np.arange(6.0).reshape(2, 3)
    gs = grads_seq()
    params = {"W": p0.copy(), "x": 1.5}
    arr = params["W"]
    opt = getattr(O, name)(lr=0.1)
    for g in gs:
        opt.update(params, {"W": g, "x": float(g[0, 0])})
    assert params["W"] is arr  # updated in place
    np.testing.assert_allclose(arr, reference(name, p0, gs), rtol=1e-13)
    # A number stays a number (the book's optimizer_compare_naive.py optimizes two floats).
    want = reference(name, np.array([[1.5]]), [g[:1, :1] for g in gs])[0, 0]
    assert isinstance(params["x"], float) and params["x"] == pytest.approx(want, rel=1e-13)


def test_update_checks_everything_before_changing_anything():
    params = {"W": np.zeros((2, 2)), "b": np.zeros(2)}
    opt = O.Adam()
    with pytest.raises(ValueError, match=r"Adam.update: grads\['b'\] has shape \(3,\) but"):
        opt.update(params, {"W": np.ones((2, 2)), "b": np.ones(3)})
    with pytest.raises(KeyError, match=r"params has key 'b', which grads lacks"):
        opt.update(params, {"W": np.ones((2, 2))})
    assert not params["W"].any() and opt.iter == 0
    opt.update(params, {"W": Variable(np.ones((2, 2))), "b": np.ones(2)})
    assert opt.iter == 1 and np.all(params["W"] < 0)
    with pytest.raises(TypeError, match=r"call update\(params, grads\)"):
        opt.step()


def test_trainer_schedule_prints_and_updates_the_network(capsys):
    rng = np.random.default_rng(1)
    x = rng.random((30, 4)).astype(np.float32)
    t = (x.sum(axis=1) > 2).astype(np.uint8)
    np.random.seed(0)  # noqa: NPY002
    net = MultiLayerNet(4, [5], 2)
    w1 = net.params["W1"].copy()
    tr = Trainer(net, x, t, x[:10], t[:10], epochs=2, mini_batch_size=10,
                 optimizer="adagrad", optimizer_param={"lr": 0.1},
                 evaluate_sample_num_per_epoch=5)  # fmt: skip
    assert tr.max_iter == 6 and tr.iter_per_epoch == 3
    tr.train()
    lines = capsys.readouterr().out.splitlines()
    assert len(tr.train_loss_list) == 6 and len(tr.train_acc_list) == 2
    losses = [ln for ln in lines if ln.startswith("train loss:")]
    assert [float(ln.split(":")[1]) for ln in losses] == tr.train_loss_list
    epochs = [ln for ln in lines if ln.startswith("=== epoch:")]
    assert re.fullmatch(r"=== epoch:1, train acc:[0-9.]+, test acc:[0-9.]+ ===", epochs[0])
    assert lines[-2:] == ["=============== Final Test Accuracy ===============",
                          f"test acc:{net.accuracy(x[:10], t[:10])}"]  # fmt: skip
    assert not np.array_equal(net.params["W1"], w1)
    with pytest.raises(ValueError, match=r"Trainer: unknown optimizer 'lbfgs'"):
        Trainer(net, x, t, x, t, optimizer="lbfgs")
