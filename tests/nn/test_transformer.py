"""nn.MultiheadAttention and nn.TransformerBlock: PyTorch's parameter names and layouts,
values against hand-written NumPy forwards, gradients against central differences (float64,
every parameter included), masks and their errors, dropout, layouts (batch_first, unbatched),
and the hand-over to PyTorch by state dict (values and gradients to 1e-6 in float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import Variable, nn

_erfc = np.vectorize(math.erfc)


def np_softmax(s):
    m = s.max(-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(s - m)
    z = e.sum(-1, keepdims=True)
    return e / np.where(z == 0, 1, z)


def np_mha(m, query, key, value, add_mask=None):
    """PyTorch's multi-head attention by hand, from the module's arrays; `add_mask`
    broadcasts to (N, H, L, S) and is added to the scores. Returns (output, probs)."""
    e, h = m.embed_dim, m.num_heads
    w = m.in_proj_weight.data
    b = np.zeros(3 * e) if m.in_proj_bias is None else m.in_proj_bias.data

    def heads(x, i):
        y = x @ w[i * e : (i + 1) * e].T + b[i * e : (i + 1) * e]
        n, length, _ = y.shape
        return y.reshape(n, length, h, e // h).transpose(0, 2, 1, 3)

    q, k, v = heads(query, 0), heads(key, 1), heads(value, 2)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(e // h)
    if add_mask is not None:
        s = s + add_mask
    p = np_softmax(s)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(query.shape[0], query.shape[1], e)
    out = y @ m.out_proj.W.data
    if m.out_proj.b is not None:
        out = out + m.out_proj.b.data
    return out, p


def np_ln(x, w, b, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def np_block(blk, x):
    t = x.shape[1]
    causal = np.where(np.tril(np.ones((t, t), bool)), 0.0, -np.inf) if blk.causal else None
    h = np_ln(x, blk.ln1.weight.data, blk.ln1.bias.data)
    x = x + np_mha(blk.attn, h, h, h, causal)[0]
    h = np_ln(x, blk.ln2.weight.data, blk.ln2.bias.data)
    fc1, fc2 = blk.mlp[0], blk.mlp[2]
    u = h @ fc1.W.data + fc1.b.data
    u = u * _erfc(-u / math.sqrt(2)) / 2
    return x + u @ fc2.W.data + fc2.b.data


def randomize(module, seed=0):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5


# --------------------------------------------------------------------------- MultiheadAttention


def test_mha_parameters_are_pytorchs():
    m = nn.MultiheadAttention(8, 2)
    names = [(n, p.shape, p.dtype) for n, p in m.named_parameters()]
    assert names == [
        ("in_proj_weight", (24, 8), np.float32),
        ("in_proj_bias", (24,), np.float32),
        ("out_proj.W", (8, 8), np.float32),
        ("out_proj.b", (8,), np.float32),
    ]
    sd = nn.to_torch_state_dict(m)
    assert {k: v.shape for k, v in sd.items()} == {
        "in_proj_weight": (24, 8),
        "in_proj_bias": (24,),
        "out_proj.weight": (8, 8),
        "out_proj.bias": (8,),
    }
    np.testing.assert_array_equal(sd["out_proj.weight"], m.out_proj.W.data.T)
    np.testing.assert_array_equal(m.in_proj_bias.data, 0)
    np.testing.assert_array_equal(m.out_proj.b.data, 0)
    # PyTorch's initial ranges: Xavier-uniform in_proj, U(+-1/sqrt(E)) out_proj.
    assert np.abs(m.in_proj_weight.data).max() <= math.sqrt(6 / 32)
    assert np.abs(m.out_proj.W.data).max() <= 1 / math.sqrt(8)
    nb = nn.MultiheadAttention(8, 4, bias=False, dtype=np.float64)
    assert [n for n, _ in nb.named_parameters()] == ["in_proj_weight", "out_proj.W"]
    assert nb.head_dim == 2 and nb.in_proj_weight.dtype == np.float64


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_matches_a_numpy_forward(need_weights):
    m = nn.MultiheadAttention(6, 3, dtype=np.float64)
    randomize(m)
    rng = np.random.default_rng(1)
    q, kv = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
    y, w = m(q, kv, kv, need_weights=need_weights)
    out, p = np_mha(m, q, kv, kv)
    np.testing.assert_allclose(y.data, out, atol=1e-12)
    if need_weights:
        np.testing.assert_allclose(w.data, p.mean(axis=1), atol=1e-12)
        np.testing.assert_allclose(w.data.sum(-1), 1)
        _, w2 = m(q, kv, kv, average_attn_weights=False)
        np.testing.assert_allclose(w2.data, p, atol=1e-12)
    else:
        assert w is None


def test_mha_masks_as_pytorch():
    m = nn.MultiheadAttention(4, 2, dtype=np.float64)
    randomize(m)
    rng = np.random.default_rng(2)
    x, kv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    kpm = np.array([[False, False, True, False, True], [False] * 4 + [True]])
    am = rng.random((3, 5)) > 0.7
    am[:, 0] = False
    inf = np.where(am, -np.inf, 0)[None, None] + np.where(kpm, -np.inf, 0)[:, None, None, :]
    y, w = m(x, kv, kv, key_padding_mask=kpm, attn_mask=am)
    out, p = np_mha(m, x, kv, kv, inf)
    np.testing.assert_allclose(y.data, out, atol=1e-12)
    np.testing.assert_allclose(w.data, p.mean(1), atol=1e-12)
    # A float mask (added) with a boolean padding mask; per-head masks (N * H, L, S).
    fm = rng.standard_normal((4, 3, 5))
    y, _ = m(x, kv, kv, key_padding_mask=kpm, attn_mask=fm, need_weights=False)
    add = fm.reshape(2, 2, 3, 5) + np.where(kpm, -np.inf, 0)[:, None, None, :]
    np.testing.assert_allclose(y.data, np_mha(m, x, kv, kv, add)[0], atol=1e-12)
    # is_causal without a mask applies the causal mask.
    y, _ = m(x, x, x, is_causal=True, need_weights=False)
    causal = np.where(np.tril(np.ones((3, 3), bool)), 0.0, -np.inf)
    np.testing.assert_allclose(y.data, np_mha(m, x, x, x, causal)[0], atol=1e-12)
    # Every key masked out: zeros before out_proj (the bias alone), and no NaN.
    y, w = m(x, kv, kv, key_padding_mask=np.ones((2, 5), bool))
    np.testing.assert_allclose(y.data, np.broadcast_to(m.out_proj.b.data, (2, 3, 4)))
    np.testing.assert_array_equal(w.data, 0)


def test_mha_gradients_by_central_differences():
    m = nn.MultiheadAttention(4, 2, dtype=np.float64)
    randomize(m, 3)
    rng = np.random.default_rng(4)
    x, kv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    w = rng.standard_normal((2, 3, 4))
    kpm = np.zeros((2, 5), bool)
    kpm[0, 1] = True
    params = list(m.parameters())
    for need in (True, False):

        def f(x, kv, *ps, need=need):
            return m(x, kv, kv, key_padding_mask=kpm, need_weights=need)[0] * w

        assert mg.gradcheck(f, x, kv, *params)
    assert mg.gradgradcheck(lambda x, kv: m(x, kv, kv, need_weights=False)[0] * w, x, kv)


def _ops(y):
    """The ops of y's graph."""
    seen, todo, out = set(), [y.creator], []
    while todo:
        f = todo.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        out.append(f)
        todo.extend(getattr(a, "creator", None) for a in f.inputs)
    return out


def test_mha_projects_self_attention_once_and_names_q_k_v():
    # query is key is value: one input projection (a linear with the whole in_proj_weight);
    # key is value: two (q, then k and v together); three tensors: three. All agree.
    m = nn.MultiheadAttention(4, 2, dtype=np.float64)
    randomize(m, 6)
    rng = np.random.default_rng(7)
    x, gy = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    want, _ = np_mha(m, x, x, x)
    results = []
    for n_inputs, n_linear in ((1, 2), (2, 3), (3, 4)):
        xs = [Variable(x) for _ in range(n_inputs)]
        args = [xs[0], xs[min(1, n_inputs - 1)], xs[n_inputs - 1]]
        for p in m.parameters():
            p.grad = None
        y, _ = m(*args, need_weights=False)
        np.testing.assert_allclose(y.data, want, atol=1e-12)
        ops = _ops(y)
        assert sum(f.name == "linear" for f in ops) == n_linear
        (sdpa,) = [f for f in ops if f.name == "scaled_dot_product_attention"]
        assert [a.name for a in sdpa.inputs[:3]] == ["q", "k", "v"]
        y.backward(gy)
        results.append([sum(v.grad.data for v in xs)] + [p.grad.data for p in m.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, atol=1e-12)
    assert mg.gradcheck(lambda x, *ps: m(x, x, x, need_weights=False)[0] * gy, x, *m.parameters())


def test_mha_layouts_agree():
    m = nn.MultiheadAttention(4, 2, dtype=np.float64)
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    y = m(x, x, x)[0].data
    m.batch_first = False
    y_seq = m(x.transpose(1, 0, 2), x.transpose(1, 0, 2), x.transpose(1, 0, 2))[0].data
    np.testing.assert_allclose(y_seq.transpose(1, 0, 2), y, atol=1e-14)
    y1, w1 = m(x[0], x[0], x[0])
    assert y1.shape == (3, 4) and w1.shape == (3, 3)
    np.testing.assert_allclose(y1.data, y[0], atol=1e-14)


def test_mha_dropout_in_training_only():
    m = nn.MultiheadAttention(4, 2, dropout=0.5, dtype=np.float64)
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    a, b = m(x, x, x, need_weights=False)[0].data, m(x, x, x, need_weights=False)[0].data
    assert not np.allclose(a, b)
    m.eval()
    y, w = m(x, x, x)
    np.testing.assert_allclose(y.data, np_mha(m, x, x, x)[0], atol=1e-12)


def test_mha_float32_and_other_input_dtypes():
    m = nn.MultiheadAttention(4, 2)
    x = np.random.default_rng(7).standard_normal((2, 3, 4))  # float64 data into a float32 layer
    y, w = m(x, x, x)
    assert y.dtype == w.dtype == np.float32
    y.sum().backward()
    assert m.in_proj_weight.grad.dtype == np.float32


def test_mha_bad_input():
    with pytest.raises(
        ValueError,
        match=r"^MultiheadAttention: embed_dim \(10\) must be divisible by num_heads \(4\)",
    ):
        nn.MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        nn.MultiheadAttention(8, 2, dropout=1.0)
    m = nn.MultiheadAttention(4, 2)
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"with E = 4, got query \(2, 3, 5\), key \(2, 3, 4\)"):
        m(np.ones((2, 3, 5)), x, x)
    with pytest.raises(ValueError, match=r"key and value must have the same batch size and length"):
        m(x, x, np.ones((2, 6, 4)))
    with pytest.raises(
        ValueError, match=r"query's batch size; got query \(2, 3, 4\), key \(3, 3, 4\)"
    ):
        m(x, np.ones((3, 3, 4)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match=r"attn_mask has shape \(3, 4\), expected \(L, S\) or "):
        m(x, x, x, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(
        ValueError, match=r"key_padding_mask has shape \(3,\), expected \(N, S\) = \(2, 3\)"
    ):
        m(x, x, x, key_padding_mask=np.ones(3, bool))
    with pytest.raises(TypeError, match=r"attn_mask must be boolean .* got int64"):
        m(x, x, x, attn_mask=np.ones((3, 3), np.int64))


def test_mha_matches_pytorch():
    torch = pytest.importorskip("torch")
    m = nn.MultiheadAttention(8, 2, dtype=np.float64)
    randomize(m, 8)
    t = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(m).items()})
    rng = np.random.default_rng(9)
    x, kv = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 7, 8))
    kpm = rng.random((3, 7)) > 0.7
    kpm[:, 0] = False  # PyTorch gives NaN for a fully masked row
    am = rng.standard_normal((5, 7))
    gy = rng.standard_normal((3, 5, 8))
    for need in (True, False):
        m.zero_grad()
        t.zero_grad()
        xs = [Variable(a) for a in (x, kv)]
        y, w = m(xs[0], xs[1], xs[1], key_padding_mask=kpm, attn_mask=am, need_weights=need)
        y.backward(gy)
        ts = [torch.tensor(a, requires_grad=True) for a in (x, kv)]
        # (PyTorch deprecates a boolean padding mask beside a float attn_mask.)
        yt, wt = t(
            ts[0],
            ts[1],
            ts[1],
            key_padding_mask=torch.from_numpy(np.where(kpm, -np.inf, 0.0)),
            attn_mask=torch.from_numpy(am),
            need_weights=need,
        )
        yt.backward(torch.from_numpy(gy))
        np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6)
        if need:
            np.testing.assert_allclose(w.data, wt.detach().numpy(), atol=1e-6)
        for a, b in zip(xs, ts):
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-6)
        tg = {k: p.grad.numpy() for k, p in t.named_parameters()}
        np.testing.assert_allclose(m.in_proj_weight.grad.data, tg["in_proj_weight"], atol=1e-6)
        np.testing.assert_allclose(m.in_proj_bias.grad.data, tg["in_proj_bias"], atol=1e-6)
        np.testing.assert_allclose(m.out_proj.W.grad.data.T, tg["out_proj.weight"], atol=1e-6)


# --------------------------------------------------------------------------- TransformerBlock


def test_block_structure_and_state_dict_names():
    blk = nn.TransformerBlock(8, 2)
    assert blk.d_ff == 32 and blk.causal and blk.ln1.weight.dtype == np.float32
    assert list(nn.to_torch_state_dict(blk)) == [
        "ln1.weight", "ln1.bias",
        "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
        "ln2.weight", "ln2.bias",
        "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias",
    ]  # fmt: skip
    assert nn.TransformerBlock(8, 2, d_ff=12, causal=False).mlp[0].W.shape == (8, 12)


@pytest.mark.parametrize("causal", [True, False])
def test_block_matches_a_numpy_forward_and_gradchecks(causal):
    blk = nn.TransformerBlock(4, 2, d_ff=6, causal=causal, dtype=np.float64)
    randomize(blk, 10)
    x = np.random.default_rng(11).standard_normal((2, 3, 4))
    np.testing.assert_allclose(blk(x).data, np_block(blk, x), atol=1e-12)
    w = np.random.default_rng(12).standard_normal((2, 3, 4))
    assert mg.gradcheck(lambda x, *ps: blk(x) * w, x, *blk.parameters())


def test_block_is_causal():
    blk = nn.TransformerBlock(4, 2, dtype=np.float64)
    x = np.random.default_rng(13).standard_normal((1, 5, 4))
    later = x.copy()
    later[0, 3:] += np.random.default_rng(14).standard_normal((2, 4))  # the last two positions
    a, b = blk(x).data, blk(later).data
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-14)
    assert not np.allclose(a[0, 3:], b[0, 3:])
    blk2 = nn.TransformerBlock(4, 2, causal=False, dtype=np.float64)
    assert not np.allclose(blk2(x).data[0, 0], blk2(later).data[0, 0])


def test_block_bad_input():
    blk = nn.TransformerBlock(8, 2)
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, T, 8\), got \(2, 8\)"):
        blk(np.ones((2, 8), np.float32))
    with pytest.raises(ValueError, match=r"embed_dim \(8\) must be divisible by num_heads \(3\)"):
        nn.TransformerBlock(8, 3)


def test_block_matches_pytorch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    f64 = torch.float64

    class TorchBlock(tnn.Module):
        def __init__(self, d, h, ff):
            super().__init__()
            self.ln1 = tnn.LayerNorm(d, dtype=f64)
            self.attn = tnn.MultiheadAttention(d, h, batch_first=True, dtype=f64)
            self.drop = tnn.Dropout(0.0)
            self.ln2 = tnn.LayerNorm(d, dtype=f64)
            self.mlp = tnn.Sequential(
                tnn.Linear(d, ff, dtype=f64),
                tnn.GELU(),
                tnn.Linear(ff, d, dtype=f64),
                tnn.Dropout(0.0),
            )

        def forward(self, x):
            t = x.shape[1]
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
            h = self.ln1(x)
            a = self.attn(h, h, h, attn_mask=mask, is_causal=True, need_weights=False)[0]
            x = x + self.drop(a)
            return x + self.mlp(self.ln2(x))

    blk = nn.TransformerBlock(8, 2, dtype=np.float64)
    randomize(blk, 14)
    t = TorchBlock(8, 2, 32)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(blk).items()})
    rng = np.random.default_rng(15)
    x, gy = rng.standard_normal((3, 6, 8)), rng.standard_normal((3, 6, 8))
    xv = Variable(x)
    y = blk(xv)
    y.backward(gy)
    xt = torch.tensor(x, requires_grad=True)
    yt = t(xt)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(xv.grad.data, xt.grad.numpy(), atol=1e-6)
    tg = {k: p.grad.numpy() for k, p in t.named_parameters()}
    ours = dict(blk.named_parameters())
    for name, g in tg.items():
        mine = (
            name.replace(".weight", ".W").replace(".bias", ".b")
            if name.startswith("mlp") or "out_proj" in name
            else name
        )
        got = ours[mine].grad.data
        np.testing.assert_allclose(
            got.T if got.ndim == 2 and mine.endswith(".W") else got, g, atol=1e-6
        )


def test_mha_per_head_masks_and_layouts_match_pytorch():
    torch = pytest.importorskip("torch")
    m = nn.MultiheadAttention(8, 2, dtype=np.float64)
    randomize(m, 16)
    t = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(m).items()})
    rng = np.random.default_rng(17)
    x = rng.standard_normal((3, 5, 8))
    xt = torch.from_numpy(x)
    bool_mask = rng.random((6, 5, 5)) > 0.6
    bool_mask[..., 0] = False
    for mask in (rng.standard_normal((6, 5, 5)), bool_mask):  # (N * num_heads, L, S)
        y, w = m(x, x, x, attn_mask=mask, average_attn_weights=False)
        yt, wt = t(xt, xt, xt, attn_mask=torch.from_numpy(mask), average_attn_weights=False)
        np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6)
        np.testing.assert_allclose(w.data, wt.detach().numpy(), atol=1e-6)
    # PyTorch's default layout (L, N, E), and unbatched input with a padding mask.
    m.batch_first = False
    t2 = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64)
    t2.load_state_dict(t.state_dict())
    xs = np.ascontiguousarray(x.transpose(1, 0, 2))
    xst = torch.from_numpy(xs)
    np.testing.assert_allclose(
        m(xs, xs, xs)[0].data, t2(xst, xst, xst)[0].detach().numpy(), atol=1e-6
    )
    kpm = np.array([False, True, False, False, False])
    y, w = m(x[0], x[0], x[0], key_padding_mask=kpm)
    yt, wt = t2(xt[0], xt[0], xt[0], key_padding_mask=torch.from_numpy(kpm))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(w.data, wt.detach().numpy(), atol=1e-6)
