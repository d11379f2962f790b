"""RNN, LSTM, GRU and their cells: values against a hand-written NumPy forward (PyTorch's
formulas and gate orders), gradients against central differences (float64), dtypes, layouts,
PyTorch's parameter names and shapes, inter-layer dropout, bad input; and, where PyTorch is
installed, outputs and gradients equal to PyTorch's on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

KINDS = ["RNN", "LSTM", "GRU"]


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_step(kind, p, x, h, c, act=np.tanh):
    """One step of PyTorch's cell in NumPy; p has weight_ih, weight_hh, bias_ih, bias_hh."""
    gi = x @ p["weight_ih"].T + p["bias_ih"]
    gh = h @ p["weight_hh"].T + p["bias_hh"]
    if kind == "RNN":
        return act(gi + gh), None
    if kind == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c
    r_x, z_x, n_x = np.split(gi, 3, axis=1)
    r_h, z_h, n_h = np.split(gh, 3, axis=1)
    r, z = sig(r_x + r_h), sig(z_x + z_h)
    n = np.tanh(n_x + r * n_h)
    return (1 - z) * n + z * h, None


def np_layer(kind, m, x, h0=None, c0=None, act=np.tanh):
    """The layer's forward on (T, N, C) x, layer by layer, in NumPy."""
    L, H = m.num_layers, m.hidden_size
    N = x.shape[1]
    h0 = np.zeros((L, N, H)) if h0 is None else h0
    c0 = np.zeros((L, N, H)) if c0 is None else c0
    hn, cn = [], []
    for layer in range(L):
        p = {
            k: getattr(m, f"{k}_l{layer}").data
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        h, c = h0[layer], c0[layer]
        outs = []
        for t in range(x.shape[0]):
            h, c = np_step(kind, p, x[t], h, c, act)
            outs.append(h)
        x = np.stack(outs)
        hn.append(h)
        cn.append(c)
    return x, np.stack(hn), (np.stack(cn) if kind == "LSTM" else None)


def with_params(m, values):
    """Put the Variables `values` (name -> Variable) in the module's parameters' places, so
    that gradcheck differentiates through them."""
    for name, v in values.items():
        object.__setattr__(m, name, v)


def make(kind, *args, **kw):
    np.random.seed(0)  # noqa: NPY002
    kw.setdefault("dtype", np.float64)
    return getattr(nn, kind)(*args, **kw)


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(("kind", "gates"), [("RNN", 1), ("LSTM", 4), ("GRU", 3)])
def test_parameter_names_shapes_and_init_are_pytorchs(kind, gates):
    m = getattr(nn, kind)(3, 5, num_layers=2)
    names = [n for n, _ in m.named_parameters()]
    assert names == [
        f"{w}_l{k}" for k in range(2) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    assert m.weight_ih_l0.shape == (gates * 5, 3)
    assert m.weight_ih_l1.shape == (gates * 5, 5)
    assert m.weight_hh_l1.shape == (gates * 5, 5)
    assert m.bias_hh_l0.shape == (gates * 5,)
    k = 1 / np.sqrt(5)
    for p in m.parameters():
        assert p.dtype == np.float32
        assert np.all(np.abs(p.data) <= k)
    # U(-k, k): all the values together spread over the whole range.
    every = np.concatenate([p.data.ravel() for p in m.parameters()])
    assert every.min() < -0.9 * k and every.max() > 0.9 * k
    nobias = getattr(nn, kind)(3, 5, bias=False)
    assert [n for n, _ in nobias.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    cell = getattr(nn, kind + "Cell")(3, 5)
    assert [n for n, _ in cell.named_parameters()] == [
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
    ]
    assert cell.weight_hh.shape == (gates * 5, 5)


def test_repr():
    assert repr(nn.LSTM(3, 5, num_layers=2, batch_first=True)) == (
        "LSTM(3, 5, num_layers=2, batch_first=True)"
    )
    assert repr(nn.RNN(3, 5, nonlinearity="relu")) == "RNN(3, 5, nonlinearity='relu')"
    assert repr(nn.GRUCell(3, 5, bias=False)) == "GRUCell(3, 5, bias=False)"


# ------------------------------------------------------------------ forward against NumPy


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_state", [False, True])
def test_forward_equals_numpy(kind, with_state):
    m = make(kind, 3, 4, num_layers=2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3))
    h0 = rng.standard_normal((2, 2, 4)) if with_state else None
    c0 = rng.standard_normal((2, 2, 4)) if with_state else None
    want, hn, cn = np_layer(kind, m, x, h0, c0)
    hx = None
    if with_state:
        hx = (h0, c0) if kind == "LSTM" else h0
    y, state = m(x, hx)
    assert y.shape == (5, 2, 4) and y.dtype == np.float64
    np.testing.assert_allclose(y.data, want, rtol=1e-12, atol=1e-13)
    if kind == "LSTM":
        np.testing.assert_allclose(state[0].data, hn, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(state[1].data, cn, rtol=1e-12, atol=1e-13)
    else:
        np.testing.assert_allclose(state.data, hn, rtol=1e-12, atol=1e-13)


def test_relu_rnn_equals_numpy():
    m = make("RNN", 3, 4, nonlinearity="relu")
    x = np.random.default_rng(2).standard_normal((6, 3, 3))
    np.testing.assert_allclose(
        m(x)[0].data, np_layer("RNN", m, x, act=lambda a: np.maximum(a, 0))[0], rtol=1e-12
    )


@pytest.mark.parametrize("kind", KINDS)
def test_batch_first_and_unbatched_layouts(kind):
    m = make(kind, 3, 4)
    x = np.random.default_rng(3).standard_normal((5, 2, 3))
    y, _ = m(x)
    mb = make(kind, 3, 4, batch_first=True)
    yb, hb = mb(x.transpose(1, 0, 2))
    assert yb.shape == (2, 5, 4)
    np.testing.assert_allclose(yb.data, y.data.transpose(1, 0, 2), rtol=1e-12)
    yu, hu = m(x[:, 1])
    assert yu.shape == (5, 4)
    np.testing.assert_allclose(yu.data, y.data[:, 1], rtol=1e-12, atol=1e-14)
    hu = hu[0] if kind == "LSTM" else hu
    assert hu.shape == (1, 4)
    np.testing.assert_allclose(hu.data[0], y.data[-1, 1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_cells_equal_numpy(kind):
    cell = make(kind + "Cell", 3, 4)
    p = {k: getattr(cell, k).data for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    rng = np.random.default_rng(4)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    want_h, want_c = np_step(kind, p, x, h, c)
    if kind == "LSTM":
        h1, c1 = cell(x, (h, c))
        np.testing.assert_allclose(c1.data, want_c, rtol=1e-12)
        h0, _ = cell(x)
        np.testing.assert_allclose(h0.data, np_step(kind, p, x, 0 * h, 0 * c)[0], rtol=1e-12)
        hu, cu = cell(x[0], (h[0], c[0]))
        assert hu.shape == cu.shape == (4,)
        np.testing.assert_allclose(hu.data, want_h[0], rtol=1e-12)
    else:
        h1 = cell(x, h)
        np.testing.assert_allclose(cell(x).data, np_step(kind, p, x, 0 * h, None)[0], rtol=1e-12)
        np.testing.assert_allclose(cell(x[1], h[1]).data, want_h[1], rtol=1e-12)
    np.testing.assert_allclose(h1.data, want_h, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind):
    m = getattr(nn, kind)(3, 4, num_layers=2)
    x = np.random.default_rng(5).standard_normal((4, 2, 3))  # float64 data is cast
    y, _ = m(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in m.parameters())
    m64 = make(kind, 3, 4, num_layers=2)
    m64.load_state_dict({k: v.astype(np.float64) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(y.data, m64(x)[0].data, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_gradcheck_inputs_state_and_parameters(kind, batch_first):
    m = make(kind, 2, 3, num_layers=2, batch_first=batch_first)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2, 2))
    N = 3 if batch_first else 2
    h0 = rng.standard_normal((2, N, 3))
    c0 = rng.standard_normal((2, N, 3))
    w = rng.standard_normal((3, 2, 3))
    params = dict(m.named_parameters())

    def f(x, h0, c0, *ps):
        with_params(m, dict(zip(params, ps)))
        hx = (h0, c0) if kind == "LSTM" else h0
        y, state = m(x, hx)
        h = state[0] if kind == "LSTM" else state
        extra = (state[1] * state[1]).sum() if kind == "LSTM" else 0.0
        return (y * w).sum() + (h * h).sum() + extra

    try:
        mg.gradcheck(f, x, h0, c0, *[p.data.copy() for p in params.values()], atol=1e-6)
    finally:
        with_params(m, params)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_cells(kind):
    cell = make(kind + "Cell", 2, 3)
    rng = np.random.default_rng(7)
    x, h, c = rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    w = rng.standard_normal((2, 3))

    params = dict(cell.named_parameters())

    def f(x, h, c, *ps):
        with_params(cell, dict(zip(params, ps)))
        if kind == "LSTM":
            h1, c1 = cell(x, (h, c))
            return (h1 * w).sum() + (c1 * c1).sum()
        return (cell(x, h) * w).sum()

    try:
        mg.gradcheck(f, x, h, c, *[p.data.copy() for p in params.values()], atol=1e-6)
    finally:
        with_params(cell, params)


def test_gradgradcheck_lstm():
    m = make("LSTM", 2, 2)
    x = np.random.default_rng(8).standard_normal((2, 1, 2))
    mg.gradgradcheck(lambda x: m(x)[0], x, atol=1e-5)


# ------------------------------------------------------------------ dropout between layers


def test_dropout_between_layers_only_when_training():
    m = make("LSTM", 3, 4, num_layers=2, dropout=0.5)
    x = np.random.default_rng(9).standard_normal((4, 2, 3))
    m.eval()
    plain = m(x)[0].data
    np.testing.assert_allclose(plain, np_layer("LSTM", m, x)[0], rtol=1e-12)
    m.train()
    np.random.seed(1)  # noqa: NPY002
    a = m(x)[0].data
    np.random.seed(1)  # noqa: NPY002
    b = m(x)[0].data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)
    # One layer: nothing to drop between.
    one = make("GRU", 3, 4, dropout=0.5)
    np.testing.assert_allclose(one(x)[0].data, np_layer("GRU", one, x)[0], rtol=1e-12)


# ------------------------------------------------------------------ PyTorch's hand-over


@pytest.mark.parametrize("kind", KINDS)
def test_torch_state_dict_round_trip(kind):
    m = nn.Sequential(make(kind, 3, 4, num_layers=2))
    sd = nn.to_torch_state_dict(m)
    assert list(sd) == [f"0.{n}" for n, _ in m[0].named_parameters()]
    other = nn.Sequential(getattr(nn, kind)(3, 4, num_layers=2, dtype=np.float64))
    nn.load_torch_state_dict(other, sd)
    for p, q in zip(m.parameters(), other.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match=r"'0.weight_ih_l0' has shape \(2, 3\), expected"):
        nn.load_torch_state_dict(other, {**sd, "0.weight_ih_l0": np.zeros((2, 3))})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("batch_first", "num_layers"), [(False, 1), (True, 2), (False, 3)])
def test_equals_pytorch_outputs_and_gradients(kind, batch_first, num_layers):
    torch = pytest.importorskip("torch")
    m = make(kind, 3, 5, num_layers=num_layers, batch_first=batch_first)
    t = getattr(torch.nn, kind)(3, 5, num_layers=num_layers, batch_first=batch_first).double()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(m).items()})
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 6, 3))
    N = 4 if batch_first else 6
    h0 = rng.standard_normal((num_layers, N, 5))
    c0 = rng.standard_normal((num_layers, N, 5))
    w = rng.standard_normal((4, 6, 5))

    xv, hv, cv = mg.Variable(x), mg.Variable(h0), mg.Variable(c0)
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if kind == "LSTM":
        y, (h, c) = m(xv, (hv, cv))
        yt, (htn, ctn) = t(xt, (ht, ct))
        loss = (y * w).sum() + (h * h).sum() + (c * c * c).sum()
        tl = (yt * torch.from_numpy(w)).sum() + (htn * htn).sum() + (ctn**3).sum()
    else:
        y, h = m(xv, hv)
        yt, htn = t(xt, ht)
        loss = (y * w).sum() + (h * h).sum()
        tl = (yt * torch.from_numpy(w)).sum() + (htn * htn).sum()
    loss.backward()
    tl.backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(h.data, htn.detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(xv.grad.data, xt.grad.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(hv.grad.data, ht.grad.numpy(), rtol=0, atol=1e-6)
    if kind == "LSTM":
        np.testing.assert_allclose(cv.grad.data, ct.grad.numpy(), rtol=0, atol=1e-6)
    tp = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.data, tp[name].grad.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_cells_equal_pytorch(kind):
    torch = pytest.importorskip("torch")
    cell = make(kind + "Cell", 3, 5)
    t = getattr(torch.nn, kind + "Cell")(3, 5).double()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(cell).items()})
    rng = np.random.default_rng(11)
    x, h, c = rng.standard_normal((4, 3)), rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    xv, hv = mg.Variable(x), mg.Variable(h)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)
    if kind == "LSTM":
        y = cell(xv, (hv, c))[1]
        yt = t(xt, (ht, torch.tensor(c)))[1]
    else:
        y, yt = cell(xv, hv), t(xt, ht)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(xv.grad.data, xt.grad.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(hv.grad.data, ht.grad.numpy(), atol=1e-6, rtol=0)
    tp = dict(t.named_parameters())
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad.data, tp[name].grad.numpy(), atol=1e-6, rtol=0)


# ------------------------------------------------------------------ bad input


def test_wrong_rank():
    m = nn.LSTM(3, 4, batch_first=True)
    with pytest.raises(
        ValueError,
        match=r"^LSTM: expected an input of shape \(N, T, 3\) \(batch_first=True\) "
        r"or \(T, 3\) unbatched, got \(2, 3, 4, 3\)",
    ):
        m(np.zeros((2, 3, 4, 3)))
    with pytest.raises(
        ValueError, match=r"got \(3,\) \(one time step of one sequence is \(1, 3\)\)"
    ):
        m(np.zeros(3))
    with pytest.raises(
        ValueError,
        match=r"^GRUCell: expected an input of shape \(N, 3\) or \(3,\), "
        r"got \(5, 2, 3\) \(a cell takes one time step; for a sequence use",
    ):
        nn.GRUCell(3, 4)(np.zeros((5, 2, 3)))


def test_input_size_mismatch():
    with pytest.raises(
        ValueError,
        match=r"^RNN: input_size is 3, but the input has shape \(5, 2, 4\) \(its last "
        r"dimension must be 3\)$",
    ):
        nn.RNN(3, 4)(np.zeros((5, 2, 4)))
    with pytest.raises(
        ValueError,
        match=r"one of its other dimensions is 3: the features must "
        r"come last, as in \(T, N, C\)",
    ):
        nn.RNN(3, 4)(np.zeros((5, 3, 2)))
    with pytest.raises(
        ValueError, match=r"^LSTMCell: input_size is 3, but the input has shape \(2, 4\)"
    ):
        nn.LSTMCell(3, 4)(np.zeros((2, 4)))


def test_initial_state_of_the_wrong_shape():
    m = nn.GRU(3, 4, num_layers=2)
    with pytest.raises(
        ValueError,
        match=r"^GRU: expected h_0 of shape \(num_layers, N, hidden_size\) = "
        r"\(2, 6, 4\), got \(1, 6, 4\)$",
    ):
        m(np.zeros((5, 6, 3)), np.zeros((1, 6, 4)))
    # An (N, T, C) batch given to a layer without batch_first: its N fits h_0's.
    with pytest.raises(
        ValueError,
        match=r"got \(2, 5, 4\); the input \(5, 6, 3\) is read as "
        r"\(T, N, C\) with N=6: if it is laid out the other way, pass batch_first=True",
    ):
        m(np.zeros((5, 6, 3)), np.zeros((2, 5, 4)))
    lstm = nn.LSTM(3, 4)
    with pytest.raises(
        ValueError, match=r"^LSTM: expected c_0 of shape .* = \(1, 6, 4\), got \(1, 6, 5\)"
    ):
        lstm(np.zeros((5, 6, 3)), (np.zeros((1, 6, 4)), np.zeros((1, 6, 5))))
    with pytest.raises(TypeError, match=r"^LSTM: the initial state must be a pair \(h_0, c_0\)"):
        lstm(np.zeros((5, 6, 3)), np.zeros((1, 6, 4)))
    with pytest.raises(
        ValueError,
        match=r"^LSTM: expected h_0 of shape \(num_layers, hidden_size\) "
        r"= \(1, 4\), got \(1, 1, 4\)",
    ):
        lstm(np.zeros((5, 3)), (np.zeros((1, 1, 4)), np.zeros((1, 1, 4))))
    with pytest.raises(ValueError, match=r"^RNNCell: expected hx of shape \(2, 4\), got \(4,\)"):
        nn.RNNCell(3, 4)(np.zeros((2, 3)), np.zeros(4))


def test_sequence_of_length_zero():
    with pytest.raises(
        ValueError,
        match=r"^LSTM: the input \(0, 2, 3\) holds a sequence of length 0 \(layout "
        r"\(T, N, C\)\); give at least one time step$",
    ):
        nn.LSTM(3, 4)(np.zeros((0, 2, 3)))
    with pytest.raises(
        ValueError,
        match=r"the input \(2, 0, 3\) holds a sequence of length 0 "
        r"\(layout \(N, T, C\)\)",
    ):
        nn.GRU(3, 4, batch_first=True)(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match=r"the input \(0, 3\) holds a sequence of length 0"):
        nn.RNN(3, 4)(np.zeros((0, 3)))


def test_bad_settings():
    with pytest.raises(
        ValueError, match=r"^RNN: nonlinearity must be 'tanh' or 'relu', got 'gelu'"
    ):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"^LSTM: dropout must be in \[0, 1\), got 1.5"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match=r"^GRU: hidden_size must be positive, got 0"):
        nn.GRU(3, 0)
