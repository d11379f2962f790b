"""Truncated backprop through time: `unchain_backward` and `detach` cut the history behind a
hidden state, a stateful loop keeps its memory flat, and DeZero's step 59/60 loop trains."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import minigrad as mg
from minigrad import Function, Variable, nn, optim


def test_unchain_backward_cuts_everything_behind_and_keeps_its_own_creator():
    x = Variable(np.array([1.0, 2.0]))
    a = x * 2.0
    b = a + 1.0
    c = b * b
    c.unchain_backward()
    assert c.creator is not None
    assert a.creator is None and b.creator is None
    assert c.creator.parents == ()
    c.sum().backward()
    # b is now a leaf: it receives its gradient; nothing reaches x.
    np.testing.assert_array_equal(b.grad.data, 2 * b.data)
    assert x.grad is None


def test_unchain_backward_on_a_leaf_does_nothing_and_unchain_makes_a_leaf():
    x = Variable(np.ones(2))
    x.unchain_backward()
    assert x.creator is None
    y = x * 3.0
    y.unchain()
    assert y.creator is None and y.is_leaf


def test_unchain_backward_is_iterative():
    x = Variable(np.ones(1))
    y = x
    for _ in range(20_000):  # far beyond Python's recursion limit
        y = y + 1.0
    y.unchain_backward()
    assert y.creator is not None and y.creator.inputs[0].creator is None


def test_unchain_backward_through_shared_and_multi_output_ops():
    x = Variable(np.arange(6.0).reshape(2, 3))
    a, b = mg.F.chunk(x * 1.0, 2, axis=0)
    m = a * b
    y = m + a
    y.unchain_backward()
    assert a.creator is None and b.creator is None and m.creator is None
    y.sum().backward()
    # Everything behind y is cut, m included: y's own op is all that backward runs.
    np.testing.assert_array_equal(m.grad.data, np.ones((1, 3)))
    np.testing.assert_array_equal(a.grad.data, np.ones((1, 3)))
    assert b.grad is None and x.grad is None


def _live(kind: type) -> int:
    gc.collect()
    # type(), not isinstance: some objects (torch's) warn when their __class__ is read.
    return sum(1 for o in gc.get_objects() if issubclass(type(o), kind))


def _stateful_loop(steps: int, cut: str | None, checkpoints: tuple[int, ...]):
    """An LSTM cell run over a long sequence, its state carried from step to step; every 10
    steps a backward and (with `cut`) the history cut. Returns, at each checkpoint, the live
    Variables, Functions and traced bytes."""
    np.random.seed(0)  # noqa: NPY002
    cell = nn.LSTMCell(3, 8)
    x = np.random.default_rng(0).standard_normal((steps, 4, 3)).astype(np.float32)
    h = c = None
    loss = None
    seen = {}
    for t in range(steps):
        h, c = cell(x[t], None if h is None else (h, c))
        term = (h * h).sum()
        loss = term if loss is None else loss + term
        if (t + 1) % 10 == 0:
            cell.zero_grad()
            loss.backward(retain_graph=cut is None)
            if cut == "unchain":
                loss.unchain_backward()
            elif cut == "detach":
                h, c = h.detach(), c.detach()
            loss = None
        if t + 1 in checkpoints:
            seen[t + 1] = (_live(Variable), _live(Function), tracemalloc.get_traced_memory()[0])
    return seen


def test_memory_stays_flat_over_1000_truncated_steps():
    tracemalloc.start()
    try:
        for cut in ("unchain", "detach"):
            seen = _stateful_loop(1000, cut, (100, 1000))
            (v0, f0, m0), (v1, f1, m1) = seen[100], seen[1000]
            assert v1 <= v0 + 5 and f1 <= f0 + 5, (cut, seen)
            assert m1 < m0 + 64 * 1024, (cut, seen)  # not 900 steps' graphs (~2 MB)
        # The control: never cut, the history grows with every step.
        seen = _stateful_loop(300, None, (100, 300))
        assert seen[300][1] > seen[100][1] + 500  # 200 steps of a few ops each
    finally:
        tracemalloc.stop()


def test_dezero_step_59_training_loop_learns_a_sine_wave():
    """DeZero's steps 59/60: a stateful recurrent model predicts the next value of a noisy
    sine wave, backprop truncated every `bptt_length` steps with `loss.unchain_backward()`."""

    class SimpleLSTM(nn.Module):
        def __init__(self, hidden_size, out_size):
            super().__init__()
            self.lstm = nn.LSTMCell(1, hidden_size)
            self.fc = nn.Linear(hidden_size, out_size)
            self.reset_state()

        def reset_state(self):
            self.h = self.c = None

        def forward(self, x):
            state = None if self.h is None else (self.h, self.c)
            self.h, self.c = self.lstm(x, state)
            return self.fc(self.h)

    np.random.seed(0)  # noqa: NPY002
    t = np.linspace(0, 4 * np.pi, 200)
    noise = np.random.default_rng(0).uniform(-0.05, 0.05, t.shape)
    xs = (np.sin(t) + noise).astype(np.float32)
    model = SimpleLSTM(16, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    bptt_length = 20
    epoch_losses = []
    for _epoch in range(8):
        model.reset_state()
        loss, count, total = 0, 0, 0.0
        for x, y in zip(xs[:-1], xs[1:]):
            y_pred = model(x.reshape(1, 1))
            loss += mg.F.mean_squared_error(y_pred, y.reshape(1, 1))
            count += 1
            if count % bptt_length == 0 or count == len(xs) - 1:
                model.zero_grad()
                loss.backward()
                loss.unchain_backward()
                optimizer.step()
                total += float(loss)
                loss = 0
        epoch_losses.append(total / count)
    assert model.h.creator is None  # the state's history was cut
    assert epoch_losses[-1] < 0.1 * epoch_losses[0], epoch_losses


def test_unchain_backward_cuts_the_unused_outputs_of_ops_behind():
    # An LSTM step's cell state c' is an output nothing in the loss reads: after the cut, the
    # next segment's backward must not reach the released step through it.
    a = Variable(np.random.default_rng(0).standard_normal((2, 8)))
    h, c = mg.F.lstm_cell(a * 1.0)
    loss = (h * h).sum()
    loss.backward()
    loss.unchain_backward()
    assert h.creator is None and c.creator is None
    h2, _ = mg.F.lstm_cell(a * 1.0, c=c)
    h2.sum().backward()  # stops at c, a leaf now
    assert c.grad is not None
