"""The transformer ops through ONNX (layer_norm, erf, gelu, silu, attention, and the modules
made of them): exported at one batch size, run by onnxruntime and by `load` at another, both
equal to minigrad's result; attention's subgraph also at another sequence length."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import pytest
from onnx_helpers import assert_close, need, run_ort

import minigrad as mg
from minigrad import F, nn

RNG = np.random.default_rng(0)
LN_W = mg.Parameter(RNG.uniform(0.5, 2, size=(3,)).astype(np.float32), name="ln_w")
LN_B = mg.Parameter(RNG.normal(size=(3,)).astype(np.float32), name="ln_b")
LN_W2 = mg.Parameter(RNG.uniform(0.5, 2, size=(2, 3)).astype(np.float32), name="ln_w2")
WQ = mg.Parameter(RNG.normal(size=(3, 4)).astype(np.float32), name="Wq")
WK = mg.Parameter(RNG.normal(size=(3, 4)).astype(np.float32), name="Wk")
WV = mg.Parameter(RNG.normal(size=(3, 5)).astype(np.float32), name="Wv")
BOOL_MASK = RNG.random((2, 2)) > 0.5
BOOL_MASK[:, 0] = True
HOLE_MASK = np.array([[True, True], [False, False]])  # query 1 sees no key
FLOAT_MASK = RNG.normal(size=(2, 2)).astype(np.float32)


def x23(n: int) -> np.ndarray:
    return np.random.default_rng(n + 1).normal(size=(n, 2, 3)).astype(np.float32)


def qkv(x: Any) -> tuple[Any, Any, Any]:
    return x @ WQ, x @ WK, x @ WV


CASES: list[tuple[str, Callable[..., Any]]] = [
    ("layer-norm", lambda x: F.layer_norm(x * 2, 3, LN_W, LN_B)),
    ("layer-norm-2-axes-no-affine", lambda x: F.layer_norm(x, (2, 3), eps=1e-3)),
    ("layer-norm-2-axes-weight", lambda x: F.layer_norm(x, (2, 3), LN_W2)),
    ("erf", lambda x: F.erf(x * 2)),
    ("gelu", lambda x: F.gelu(x * 3)),
    ("gelu-tanh", lambda x: F.gelu(x * 3, approximate="tanh")),
    ("silu", lambda x: F.silu(x * 3)),
    ("attention", lambda x: F.scaled_dot_product_attention(*qkv(x))),
    ("attention-causal", lambda x: F.scaled_dot_product_attention(*qkv(x), is_causal=True)),
    ("attention-scale", lambda x: F.scaled_dot_product_attention(*qkv(x), scale=0.1)),
    ("attention-bool-mask", lambda x: F.scaled_dot_product_attention(*qkv(x), BOOL_MASK)),
    ("attention-float-mask", lambda x: F.scaled_dot_product_attention(*qkv(x), FLOAT_MASK)),
    ("attention-masked-row", lambda x: F.scaled_dot_product_attention(*qkv(x), HOLE_MASK)),
]


def _export(tmp_path, fn, n=3, **options):
    path = tmp_path / "op.onnx"
    mg.onnx.export(fn, x23(n), path, **options)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_through_onnxruntime_and_load(case, tmp_path):
    need("onnx")
    name, fn = case
    # A fully masked row: a loaded graph's Softmax makes NaN there (as ONNX's does), which the
    # IsNaN/Where after it turns into zeros.
    quiet = np.errstate(invalid="ignore") if name.endswith("masked-row") else nullcontext()
    with quiet:
        path = _export(tmp_path, fn)
        x = x23(5)
        want = fn(mg.Variable(x)).data
        assert np.isfinite(want).all()
        (got,) = run_ort(path, x)
        assert_close(got, want)
        assert_close(mg.onnx.load(path)(x).data, want)


def test_layer_norm_is_one_node_from_opset_17(tmp_path):
    onnx = need("onnx")
    fn = CASES[0][1]
    ops = [n.op_type for n in onnx.load(str(_export(tmp_path, fn))).graph.node]
    assert ops.count("LayerNormalization") == 1 and "ReduceMean" not in ops
    path = _export(tmp_path, fn, opset=16)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "LayerNormalization" not in ops and "ReduceMean" in ops
    x = x23(4)
    assert_close(run_ort(path, x)[0], fn(mg.Variable(x)).data)
    assert_close(mg.onnx.load(path)(x).data, fn(mg.Variable(x)).data)


def test_gelu_second_derivative_graph_exports(tmp_path):
    """gelu's recorded backward runs gelu_slope, which exports too."""
    need("onnx")

    def penalty(x):
        (g,) = mg.grad(F.gelu(x * 2).sum(), [x], create_graph=True)
        return g * g

    path = _export(tmp_path, penalty, dynamic_batch=False)
    x = x23(3)
    want = penalty(mg.Variable(x)).data
    assert_close(run_ort(path, x)[0], want)
    assert_close(mg.onnx.load(path)(x).data, want)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_at_another_length(causal, tmp_path):
    """The attention subgraph holds no length: with the file's length made symbolic, it runs
    at lengths other than the example's (the causal mask is built when the graph runs)."""
    onnx = need("onnx")
    rng = np.random.default_rng(1)

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    path = tmp_path / "a.onnx"
    mg.onnx.export(fn, tuple(rng.normal(size=(2, 4, 3)).astype(np.float32) for _ in "qkv"), path)
    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[1].dim_param = "T"
    onnx.save(model, str(path))
    for t in (1, 7):
        ins = [rng.normal(size=(3, t, 3)).astype(np.float32) for _ in "qkv"]
        assert_close(run_ort(path, *ins)[0], fn(*map(mg.Variable, ins)).data)


def test_modules_through_onnxruntime_and_load(tmp_path):
    need("onnx")
    mg.set_default_dtype(np.float32)
    np.random.seed(0)  # noqa: NPY002 - the layers' weights come from np.random
    blk = nn.TransformerBlock(8, 2).eval()
    mha = nn.MultiheadAttention(8, 4).eval()
    x = np.random.default_rng(2).normal(size=(2, 5, 8)).astype(np.float32)
    x2 = np.random.default_rng(3).normal(size=(4, 5, 8)).astype(np.float32)
    cases = [
        blk,
        lambda a: mha(a, a, a, need_weights=False, is_causal=True)[0],
        lambda a: mha(a, a, a)[1],  # the averaged weights, through attention_probs
    ]
    for i, fn in enumerate(cases):
        path = tmp_path / f"m{i}.onnx"
        mg.onnx.export(fn, x, path)
        want = fn(mg.Variable(x2)).data
        assert_close(run_ort(path, x2)[0], want)
        assert_close(mg.onnx.load(path)(x2).data, want)
