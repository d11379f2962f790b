"""nn.GPT: shapes and dtypes, the context-length error, tied weights (one Parameter, its
gradient the sum of both uses), gradients by central differences in float64, the loss
against a hand-written NumPy forward and against PyTorch, generation, and learning."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn, optim
from minigrad.gradcheck import gradcheck

V, L, D, LAYERS, HEADS = 11, 8, 8, 2, 2


def tiny(dtype=np.float64, tie_weights=True, seed=0, **kw) -> nn.GPT:
    np.random.seed(seed)  # noqa: NPY002 - minigrad's initializers draw from np.random
    net = nn.GPT(V, L, D, LAYERS, HEADS, d_ff=16, tie_weights=tie_weights, dtype=dtype, **kw)
    # Non-trivial layer norms and biases, so that every parameter's gradient is exercised.
    rng = np.random.default_rng(seed + 1)
    for _, p in net.named_parameters():
        p.data[...] += 0.2 * rng.standard_normal(p.shape)
    return net


def ids_of(n: int, t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, (n, t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_shape_and_dtype(dtype):
    net = tiny(dtype)
    y = net(ids_of(3, 5))
    assert y.shape == (3, 5, V) and y.dtype == dtype
    assert net(ids_of(2, L)).shape == (2, L, V)  # the whole table


def test_default_dtype_and_sizes():
    net = nn.GPT(V, L, D, 1, HEADS)
    assert net.tok_emb.weight.dtype == np.float32 and net.d_ff == 4 * D
    shapes = dict((k, p.shape) for k, p in net.named_parameters())
    assert shapes["tok_emb.weight"] == (V, D) and shapes["pos_emb.weight"] == (L, D)
    assert shapes["ln_f.weight"] == (D,)


def test_context_longer_than_the_position_table():
    net = tiny()
    with pytest.raises(ValueError, match=r"context of 9 tokens .* context_length 8"):
        net(ids_of(2, L + 1))
    with pytest.raises(ValueError, match=r"context of 9 tokens .* context_length 8"):
        net.loss(ids_of(2, L + 1), ids_of(2, L + 1))


def test_bad_ids_and_settings():
    net = tiny()
    with pytest.raises(
        ValueError, match=r"GPT: expected token ids of shape \(N, T\), got shape \(5,\)"
    ):
        net(np.arange(5))
    with pytest.raises(TypeError, match="GPT: token ids must be integers, got dtype float64"):
        net(np.zeros((1, 3)))
    with pytest.raises(
        ValueError, match=r"GPT.loss: targets of shape \(2, 4\) for ids of shape \(2, 5\)"
    ):
        net.loss(ids_of(2, 5), ids_of(2, 4))
    with pytest.raises(ValueError, match="GPT: context_length must be a positive integer, got 0"):
        nn.GPT(V, 0, D, 1, HEADS)


def test_tied_head_is_the_token_embedding():
    net = tiny(tie_weights=True)
    names = [k for k, _ in net.named_parameters()]
    assert not any(k.startswith("head") for k in names)
    assert sum(p is net.tok_emb.weight for p in net.parameters()) == 1
    untied = tiny(tie_weights=False)
    assert untied.head is not None and untied.head.W.shape == (D, V)
    assert "head.W" in [k for k, _ in untied.named_parameters()]


def test_tied_gradient_is_the_sum_of_both_uses():
    """The tied model against an untied one whose head holds a copy of the embedding: the
    same loss, and the tied gradient is the embedding's plus the head's."""
    tied = tiny(tie_weights=True)
    untied = tiny(tie_weights=False)
    untied.load_state_dict(
        {**tied.state_dict(), "head.W": tied.tok_emb.weight.data.T.copy()}, strict=True
    )
    x, t = ids_of(3, 6, 1), ids_of(3, 6, 2)
    a, b = tied.loss(x, t), untied.loss(x, t)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    a.backward()
    b.backward()
    want = untied.tok_emb.weight.grad.data + untied.head.W.grad.data.T
    np.testing.assert_allclose(tied.tok_emb.weight.grad.data, want, rtol=1e-10, atol=1e-14)


def test_gradcheck_tiny_gpt():
    net = tiny(np.float64)
    x, t = ids_of(2, 4, 3), ids_of(2, 4, 4)
    params = dict(net.named_parameters())
    names = [
        "tok_emb.weight",
        "pos_emb.weight",
        "blocks.0.attn.in_proj_weight",
        "blocks.0.ln1.bias",
        "blocks.1.mlp.2.W",
        "ln_f.weight",
    ]
    picked = [params[k] for k in names]
    assert gradcheck(lambda *ps: net.loss(x, t), *picked)


def test_every_parameter_gets_a_gradient():
    net = tiny(np.float64)
    net.loss(ids_of(2, 5), ids_of(2, 5, 1)).backward()
    for k, p in net.named_parameters():
        assert p.grad is not None and np.any(p.grad.data != 0), k


def test_causal_a_later_token_does_not_change_earlier_logits():
    net = tiny()
    x = ids_of(1, 6)
    y = x.copy()
    y[0, 4] = (y[0, 4] + 1) % V
    a, b = net(x).data, net(y).data
    np.testing.assert_allclose(a[0, :4], b[0, :4], rtol=1e-12)
    assert not np.allclose(a[0, 4:], b[0, 4:])


def test_loss_equals_pytorch():
    """The same weights in PyTorch's modules, named as TransformerBlock's docstring says."""
    torch = pytest.importorskip("torch")
    tnn, F = torch.nn, torch.nn.functional
    net = tiny(np.float64)
    x, t = ids_of(3, 7, 5), ids_of(3, 7, 6)
    state = {k: torch.from_numpy(v) for k, v in nn.to_torch_state_dict(net).items()}
    blocks = []
    for i in range(LAYERS):
        blk = tnn.Module()
        blk.ln1, blk.ln2 = (
            tnn.LayerNorm(D, dtype=torch.float64),
            tnn.LayerNorm(D, dtype=torch.float64),
        )
        blk.attn = tnn.MultiheadAttention(D, HEADS, batch_first=True, dtype=torch.float64)
        blk.mlp = tnn.Sequential(
            tnn.Linear(D, 16, dtype=torch.float64),
            tnn.GELU(),
            tnn.Linear(16, D, dtype=torch.float64),
        )
        blk.load_state_dict(
            {
                k.removeprefix(f"blocks.{i}."): v
                for k, v in state.items()
                if k.startswith(f"blocks.{i}.")
            }
        )
        blocks.append(blk)
    mask = tnn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64)
    with torch.no_grad():
        h = F.embedding(torch.tensor(x), state["tok_emb.weight"]) + state["pos_emb.weight"][:7]
        for blk in blocks:
            a = blk.ln1(h)
            h = h + blk.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
            h = h + blk.mlp(blk.ln2(h))
        h = F.layer_norm(h, (D,), state["ln_f.weight"], state["ln_f.bias"])
        logits = h @ state["tok_emb.weight"].T
        want = F.cross_entropy(logits.reshape(-1, V), torch.tensor(t).reshape(-1)).item()
    np.testing.assert_allclose(net(x).data, logits.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.loss(x, t).data, want, rtol=1e-10)


def test_generate_shapes_determinism_and_greedy():
    net = tiny()
    x = ids_of(2, 3)
    out = net.generate(x, 10, rng=np.random.default_rng(0))
    assert out.shape == (2, 13) and out.dtype.kind == "i"
    np.testing.assert_array_equal(out[:, :3], x)
    assert out.min() >= 0 and out.max() < V
    np.testing.assert_array_equal(out, net.generate(x, 10, rng=np.random.default_rng(0)))
    # temperature 0: each new token is the argmax of the logits at the last position, with
    # the context cropped to the last L tokens once it is longer than the table.
    greedy = net.generate(x, 12, temperature=0)
    for i in range(3, 15):
        ctx = greedy[:, max(0, i - L) : i]
        np.testing.assert_array_equal(greedy[:, i], net(ctx).data[:, -1].argmax(axis=1))
    # top_k=1 is greedy too.
    np.testing.assert_array_equal(net.generate(x, 12, top_k=1, rng=1), greedy)


def test_generate_restores_training_mode_and_records_nothing():
    net = tiny(dropout=0.5)
    assert net.training
    net.generate(ids_of(1, 2), 3, rng=0)
    assert net.training and all(p.grad is None for p in net.parameters())


def test_generate_bad_arguments():
    net = tiny()
    with pytest.raises(ValueError, match="temperature must be >= 0, got -1"):
        net.generate(ids_of(1, 2), 3, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be at least 1, got 0"):
        net.generate(ids_of(1, 2), 3, top_k=0)
    with pytest.raises(TypeError, match="max_new_tokens must be an int"):
        net.generate(ids_of(1, 2), 2.5)


def test_loss_decreases_on_a_tiny_corpus():
    text = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 20)
    np.random.seed(0)  # noqa: NPY002
    net = nn.GPT(V, L, 16, 1, 2, dtype=np.float32)
    opt = optim.Adam(net.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(60):
        starts = rng.integers(0, len(text) - L - 1, 8)
        x = np.stack([text[s : s + L] for s in starts])
        y = np.stack([text[s + 1 : s + L + 1] for s in starts])
        loss = net.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert losses[0] > 2.0  # about log(11) at the start
    assert np.mean(losses[-5:]) < 0.3 * losses[0]
