"""nn.Embedding: PyTorch's interface (weight, padding_idx, from_pretrained), initialization,
training, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim


def test_embedding_shapes_names_and_init():
    np.random.seed(0)  # noqa: NPY002 - the layers draw from the global generator
    emb = nn.Embedding(1000, 16)
    assert [n for n, _ in emb.named_parameters()] == ["weight"]
    assert emb.weight.shape == (1000, 16) and emb.weight.dtype == np.float32
    # N(0, 1), as PyTorch's.
    assert abs(float(emb.weight.data.mean())) < 0.02
    assert abs(float(emb.weight.data.std()) - 1.0) < 0.02
    y = emb(np.array([[3, 999], [0, 3]]))
    assert y.shape == (2, 2, 16) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data[0, 0], emb.weight.data[3])
    np.testing.assert_array_equal(y.data[1, 1], emb.weight.data[3])
    assert repr(emb) == "Embedding(1000, 16)"


def test_embedding_same_seed_same_weights():
    np.random.seed(3)  # noqa: NPY002 - the layers draw from the global generator
    a = nn.Embedding(7, 3, dtype=np.float64).weight.data.copy()
    np.random.seed(3)  # noqa: NPY002 - the layers draw from the global generator
    b = nn.Embedding(7, 3, dtype=np.float64).weight.data
    np.testing.assert_array_equal(a, b)


def test_padding_row_starts_at_zero_and_stays_there_in_training():
    emb = nn.Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4 and repr(emb) == "Embedding(5, 3, padding_idx=4)"
    np.testing.assert_array_equal(emb.weight.data[4], 0.0)
    opt = optim.SGD(emb.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (emb(np.array([[4, 1, 4], [2, 4, 4]])) ** 2).sum().backward()
        opt.step()
    np.testing.assert_array_equal(emb.weight.data[4], 0.0)
    assert np.all(emb.weight.grad.data[1] != 0)


def test_gradient_adds_up_per_id():
    emb = nn.Embedding(4, 2, dtype=np.float64)
    (emb(np.array([1, 1, 3])) * np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data, [[0, 0], [4, 6], [0, 0], [5, 6]])


def test_from_pretrained_copies_and_freezes():
    table = np.arange(6, dtype=np.float64).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(table)
    assert emb.weight.dtype == np.float64 and not emb.weight.requires_grad
    table[0, 0] = 100.0
    np.testing.assert_array_equal(emb(np.array([0, 2])).data, [[0.0, 1.0], [4.0, 5.0]])
    trainable = nn.Embedding.from_pretrained(mg.Variable(np.ones((2, 2))), freeze=False)
    assert trainable.weight.requires_grad


def test_state_dict_round_trip():
    a, b = nn.Embedding(6, 3), nn.Embedding(6, 3)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_errors_name_the_layer_and_values():
    emb = nn.Embedding(10, 4)
    with pytest.raises(IndexError, match=r"Embedding\(10, 4\): id 12 is out of range .* 10 rows"):
        emb(np.array([[1, 12]]))
    with pytest.raises(
        TypeError, match=r"Embedding\(10, 4\): ids must be integers, got dtype float32"
    ):
        emb(np.array([1.0], dtype=np.float32))
    with pytest.raises(ValueError, match=r"Embedding: num_embeddings must be positive, got 0"):
        nn.Embedding(0, 4)
    with pytest.raises(TypeError, match=r"Embedding: embedding_dim must be an int, got float"):
        nn.Embedding(3, 4.0)
    with pytest.raises(ValueError, match=r"padding_idx 3 is out of range for 3 embeddings"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(ValueError, match=r"from_pretrained: expected a 2-D table"):
        nn.Embedding.from_pretrained(np.ones(3))


def test_torch_state_dict_hands_over_the_table():
    emb = nn.Embedding(6, 3, dtype=np.float64)
    sd = nn.to_torch_state_dict(emb)
    assert list(sd) == ["weight"]
    np.testing.assert_array_equal(sd["weight"], emb.weight.data)
    other = nn.Embedding(6, 3, dtype=np.float64)
    nn.load_torch_state_dict(other, {"weight": sd["weight"] * 2})
    np.testing.assert_array_equal(other.weight.data, emb.weight.data * 2)
    with pytest.raises(ValueError, match=r"'weight' has shape \(5, 3\), expected \(6, 3\)"):
        nn.load_torch_state_dict(other, {"weight": np.ones((5, 3))})


def test_matches_torch_embedding():
    torch = pytest.importorskip("torch")
    t = torch.nn.Embedding(7, 4, padding_idx=2, dtype=torch.float64)
    emb = nn.Embedding(7, 4, padding_idx=2, dtype=np.float64)
    nn.load_torch_state_dict(emb, t.state_dict())
    ids = np.array([[2, 1, 6], [1, 1, 2]])
    gy = np.random.default_rng(0).standard_normal((2, 3, 4))
    out = t(torch.from_numpy(ids))
    out.backward(torch.from_numpy(gy))
    y = emb(ids)
    y.backward(gy)
    np.testing.assert_allclose(y.data, out.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(emb.weight.grad.data, t.weight.grad.numpy(), atol=1e-12)
