"""Every minigrad op through ONNX: exported from a small function at one batch size, run by
onnxruntime and by `load` at another, both equal to minigrad's own result. The table has a
row per op and setting (broadcasting, axes, indexing forms, dtypes)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from onnx_helpers import assert_close, need, run_ort

import minigrad as mg
import minigrad.functions as functions_pkg
from minigrad import F
from minigrad.core import Function, _apply1
from minigrad.functions import conv as conv_ops
from minigrad.functions.shape import ScatterAdd

RNG = np.random.default_rng(0)
W = mg.Parameter(RNG.normal(size=(4,)).astype(np.float32), name="W")
B2 = mg.Parameter(RNG.normal(size=(1, 4)).astype(np.float32), name="b")
M = mg.Parameter(RNG.normal(size=(4, 3)).astype(np.float32), name="M")
M3 = mg.Parameter(RNG.normal(size=(3, 4)).astype(np.float32), name="M3")
MASK = np.array([True, False, True, True])
K = mg.Parameter(RNG.normal(size=(3, 2, 3, 3)).astype(np.float32), name="K")
KB = mg.Parameter(RNG.normal(size=(3,)).astype(np.float32), name="kb")
GAMMA = mg.Parameter(RNG.uniform(0.5, 2, size=(2,)).astype(np.float32), name="gamma")
BETA = mg.Parameter(RNG.normal(size=(2,)).astype(np.float32), name="beta")
RUNNING_MEAN = RNG.normal(size=(4,)).astype(np.float32)
RUNNING_VAR = RNG.uniform(0.5, 2, size=(4,)).astype(np.float32)
# The book's layer normalizes each element of the flattened (2, 7, 6) image.
BOOK_BN = mg.nn.BatchNormalization(
    RNG.uniform(0.5, 2, size=84).astype(np.float32), RNG.normal(size=84).astype(np.float32)
)
BOOK_BN.running_mean[:] = RNG.normal(size=84)
BOOK_BN.running_var[:] = RNG.uniform(0.5, 2, size=84)
BOOK_BN.eval()


def x4(n: int) -> np.ndarray:
    return np.random.default_rng(n).normal(size=(n, 4)).astype(np.float32)


def x23(n: int) -> np.ndarray:
    return np.random.default_rng(n + 1).normal(size=(n, 2, 3)).astype(np.float32)


def img(n: int) -> np.ndarray:
    """(N, 2, 7, 6) images: odd and even sides, so that windows miss the last row or not."""
    return np.random.default_rng(n + 4).normal(size=(n, 2, 7, 6)).astype(np.float32)


def labels(n: int) -> np.ndarray:
    return np.random.default_rng(n + 2).integers(0, 4, size=n)


def id_rows(n: int) -> np.ndarray:
    """(N, 5) ids into a table of 4 rows (an embedding's input)."""
    return np.random.default_rng(n + 5).integers(0, 4, size=(n, 5))


def onehot(n: int) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[labels(n)]


def unit(n: int) -> np.ndarray:
    return np.random.default_rng(n + 3).uniform(size=(n, 4)).astype(np.float32)


# (id, function of the inputs, input makers)
CASES: list[tuple[str, Callable[..., Any], tuple[Callable[[int], np.ndarray], ...]]] = [
    ("add-sub-mul-div", lambda x: (x + 1.5) * W - B2 / 2.0, (x4,)),
    ("reflected", lambda x: 2.0 - x + 1 / (F.abs(x) + 3), (x4,)),
    ("pow", lambda x: x**2 + x**3.0 + 2.0**x + (F.abs(x) + 1) ** W, (x4,)),
    ("neg-exp-log-sqrt", lambda x: F.exp(-x) + F.log(F.abs(x) + 1) + F.sqrt(x * x + 1), (x4,)),
    ("tanh-abs", lambda x: F.tanh(x) * F.abs(x), (x4,)),
    (
        "clip",
        lambda x: F.clip(x, -0.5, 0.5) + F.clip(x, None, 0.2) + F.clip(x * W, 0.0, None),
        (x4,),
    ),
    ("where", lambda x: F.where(MASK, x, 0.0) + F.where(MASK, 1.0, x * W), (x4,)),
    ("maximum-minimum", lambda x: F.maximum(x, W) + F.minimum(x, 0.1), (x4,)),
    ("sigmoid-relu-leaky", lambda x: F.sigmoid(x) + F.relu(x * W) + F.leaky_relu(x, 0.2), (x4,)),
    ("softmax", lambda x: F.softmax(x * W) + F.softmax(x, axis=0), (x4,)),
    ("log-softmax", lambda x: F.log_softmax(x * W, axis=1), (x4,)),
    ("sum", lambda x: F.sum(x * W, axis=1) + F.sum(x, axis=(1,), keepdims=True).sum(axis=1), (x4,)),
    ("sum-all", lambda x: F.sum(x * W) + F.sum(x, axis=0).sum(), (x4,)),
    ("mean", lambda x: F.mean(x * W, axis=1, keepdims=True) + F.mean(x), (x4,)),
    ("max-min", lambda x: F.max(x * W, axis=1) + F.min(x, axis=-1) + F.max(x), (x4,)),
    ("logsumexp", lambda x: F.logsumexp(x * W * 300, axis=1), (x4,)),
    ("reshape-flatten", lambda x: F.reshape(x * 2, (x.shape[0], 6)) + 1, (x23,)),
    ("reshape-rows", lambda x: F.reshape(x * 2, (-1, 3)) @ M3, (x23,)),
    ("reshape-split", lambda x: F.reshape(x * W, (x.shape[0], 2, 2)).sum(axis=2), (x4,)),
    ("reshape-all", lambda x: F.reshape(x * W, (-1,)), (x4,)),
    ("flatten-all", lambda x: F.flatten(x * 2), (x23,)),
    ("reshape-batch-last", lambda x: F.reshape(F.transpose(x * 2), (6, -1)), (x23,)),
    ("transpose", lambda x: F.transpose(x * 2, 0, 2, 1) + 0, (x23,)),
    ("transpose-T", lambda x: (x * W).T, (x4,)),
    (
        "broadcast-to",
        lambda x: F.broadcast_to(F.reshape(x * W, (x.shape[0], 1, 4)), (x.shape[0], 3, 4)),
        (x4,),
    ),
    ("broadcast-to-param", lambda x: x + F.broadcast_to(W, (2, 4))[1], (x4,)),
    ("sum-to", lambda x: F.sum_to(x * W, (1, 4)) + F.sum_to(x * W, (4,)), (x4,)),
    ("sum-to-lead", lambda x: F.sum_to(x * 2, (2, 1)), (x23,)),
    ("getitem-int", lambda x: (x * W)[:, 1] + (x * W)[:, -1], (x4,)),
    ("getitem-slices", lambda x: (x * W)[:, 1:3] + (x * W)[:, ::-2] + (x * W)[:, -2:], (x4,)),
    ("getitem-batch-slice", lambda x: (x * W)[:2] + (x * W)[-2:][::-1], (x4,)),
    ("getitem-newaxis", lambda x: (x * W)[:, None, 1:] + (x * W)[None, :, 0, None], (x4,)),
    ("getitem-ellipsis", lambda x: (x * 2)[..., 0] + (x * 2)[0, ...][None, :, 1], (x23,)),
    ("getitem-row", lambda x: (x * W)[1] + (x * W)[-1], (x4,)),
    ("getitem-array", lambda x: (x * W)[:, [0, 2, 2]], (x4,)),
    ("getitem-array-2d", lambda x: (x * W)[:, np.array([[0, 1], [3, -1]])], (x4,)),
    ("getitem-arrays-adjacent", lambda x: (x * 2)[:, [0, 1, 1], [2, 0, -1]], (x23,)),
    ("getitem-int-and-array", lambda x: (x * 2)[:, 1, [2, 0]], (x23,)),
    ("getitem-arrays-apart", lambda x: (x * 2)[[0, 1], :, [2, 1]], (x23,)),
    ("getitem-mask", lambda x: (x * W)[:, MASK], (x4,)),
    (
        "getitem-labels",
        lambda x, t: -F.log(F.softmax(x * W))[np.arange(len(t)), t].mean(),
        (x4, labels),
    ),
    ("getitem-label-column", lambda x, t: (x * W)[:, t], (x4, labels)),
    ("embedding", lambda t: F.embedding(t, M), (labels,)),
    (
        "embedding-2d",
        lambda x, t: F.embedding(t, M * 2) + x[:, None, :3],
        (x4, id_rows),
    ),
    ("concatenate", lambda x: F.concatenate([x * W, x, x[:, :1]], axis=1), (x4,)),
    (
        "concatenate-batch",
        lambda x: F.reshape(F.concatenate([x * W, x], axis=0), (2, -1, 4)).sum(axis=0),
        (x4,),
    ),
    (
        "stack",
        lambda x: (
            F.stack([x * W, x + 1], axis=1) + F.stack([x, x * W], axis=-1).sum(axis=2)[:, None, :]
        ),
        (x4,),
    ),
    ("matmul", lambda x: (x @ M) @ M3 + ((x * W) @ W)[:, None] + W @ (M @ M3), (x4,)),
    ("matmul-batched", lambda x: (x * 2) @ M3 @ M, (x23,)),
    ("matmul-batched-both", lambda x: (x * 2) @ F.transpose(x * 3, 0, 2, 1), (x23,)),
    ("linear", lambda x: F.linear(x, M, M3[0, :3]) + F.linear(x * 2, M), (x4,)),
    ("cross-entropy", lambda x, t: F.softmax_cross_entropy(x @ M3.T @ M3, t), (x4, labels)),
    ("cross-entropy-onehot", lambda x, t: F.softmax_cross_entropy(x * W, t), (x4, onehot)),
    ("mse", lambda x, t: F.mean_squared_error(x * W, t), (x4, unit)),
    ("bce", lambda x, t: F.binary_cross_entropy_with_logits(x * W * 30, t), (x4, unit)),
    ("int-input-arithmetic", lambda x: x * W + np.arange(4), (x4,)),
    ("conv2d", lambda x: F.conv2d(x, K, KB), (img,)),
    ("conv2d-stride-pad", lambda x: F.conv2d(x, K, KB, stride=2, padding=1), (img,)),
    ("conv2d-pairs-no-bias", lambda x: F.conv2d(x, K, None, stride=(1, 2), padding=(2, 0)), (img,)),
    ("max-pool", lambda x: F.max_pool2d(x, 2), (img,)),
    # Padding with negative inputs around: -inf padding is never taken.
    ("max-pool-stride-pad", lambda x: F.max_pool2d(x - 3, 3, stride=2, padding=1), (img,)),
    ("avg-pool", lambda x: F.avg_pool2d(x, 2), (img,)),
    # Padding counts as zeros in the mean (count_include_pad).
    ("avg-pool-pad", lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1)), (img,)),
    (
        "batch-norm-eval",
        lambda x: F.batch_norm(x, GAMMA, BETA, RUNNING_MEAN[:2], RUNNING_VAR[:2], training=False),
        (img,),
    ),
    (
        "batch-norm-eval-2d",
        lambda x: F.batch_norm(x * W, W + 2, W, RUNNING_MEAN, RUNNING_VAR, False, eps=1e-3),
        (x4,),
    ),
    ("batch-norm-book", lambda x: BOOK_BN(x * 2), (img,)),
    ("batch-norm-train", lambda x: F.batch_norm(x, GAMMA, BETA, None, None, training=True), (img,)),
    ("batch-norm-train-2d", lambda x: F.batch_norm(x, W, W, None, None, training=True), (x4,)),
    ("im2col", lambda x: F.im2col(x, (3, 2), stride=2, padding=1), (img,)),
    ("col2im", lambda x: F.col2im(F.im2col(x, 3, 2, 1) * 2, x.shape, 3, 2, 1), (img,)),
    (
        "conv-from-im2col",
        lambda x: F.transpose(
            F.reshape(F.im2col(x, 3) @ F.reshape(K, (3, -1)).T, (x.shape[0], 5, 4, 3)), 0, 3, 1, 2
        ),
        (img,),
    ),
]


def _export(tmp_path, fn, makers, n=3, **options):
    path = tmp_path / "op.onnx"
    mg.onnx.export(fn, tuple(m(n) for m in makers), path, **options)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_through_onnxruntime_and_load(case, tmp_path):
    need("onnx")
    _, fn, makers = case
    path = _export(tmp_path, fn, makers)
    inputs = tuple(m(5) for m in makers)  # another batch size than the example's
    want = fn(*[mg.Variable(a) if a.dtype.kind == "f" else a for a in inputs]).data
    (got,) = run_ort(path, *inputs)
    assert_close(got, want)
    # eval(): a loaded BatchNormalization normalizes by its running statistics, as ONNX runs it.
    loaded = mg.onnx.load(path).eval()
    assert_close(loaded(*inputs).data, want)


@pytest.mark.parametrize("opset", [13, 16, 18, 21])
def test_opsets(opset, tmp_path):
    """The exporters that differ by opset (reductions' axes, Shape's start/end) on the rows
    that use them."""
    onnx = need("onnx")
    for name in ["sum", "max-min", "logsumexp", "getitem-labels", "cross-entropy", "mean"]:
        _, fn, makers = next(c for c in CASES if c[0] == name)
        path = _export(tmp_path, fn, makers, opset=opset)
        assert onnx.load(str(path)).opset_import[0].version == opset
        inputs = tuple(m(4) for m in makers)
        want = fn(*[mg.Variable(a) if a.dtype.kind == "f" else a for a in inputs]).data
        assert_close(run_ort(path, *inputs)[0], want)
        assert_close(mg.onnx.load(path)(*inputs).data, want)


def test_float64_stays_float64(tmp_path):
    need("onnx")
    W64 = mg.Parameter(np.arange(4.0), dtype=np.float64)
    fn = lambda x: F.softmax(x * W64 + 1.0)  # noqa: E731
    x = np.random.default_rng(0).normal(size=(3, 4))
    path = tmp_path / "f64.onnx"
    mg.onnx.export(fn, x, path)
    x2 = np.random.default_rng(1).normal(size=(6, 4))
    (got,) = run_ort(path, x2)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, fn(mg.Variable(x2)).data, rtol=1e-12)


def test_dropout_recorded_in_training_is_identity_for_inference(tmp_path):
    onnx = need("onnx")
    fn = lambda x: F.dropout(x * W, 0.5, training=True)  # noqa: E731
    path = _export(tmp_path, fn, (x4,))
    assert "Dropout" in [n.op_type for n in onnx.load(str(path)).graph.node]
    x = x4(6)
    assert_close(run_ort(path, x)[0], (x * W.data).astype(np.float32))
    loaded = mg.onnx.load(path)
    assert_close(loaded.eval()(x).data, x * W.data)
    y = loaded.train()(x).data
    assert np.all((y == 0) | np.isclose(y, 2 * x * W.data))
    assert np.any(y == 0)


def test_scatter_add_with_a_fixed_shape(tmp_path):
    """getitem's adjoint, recorded by create_graph backward passes."""
    need("onnx")
    index = (slice(None), np.array([0, 2, 2]))
    fn = lambda x: _apply1(ScatterAdd(index, (3, 4)), x * 2)  # noqa: E731
    x = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    path = tmp_path / "s.onnx"
    mg.onnx.export(fn, x, path, opset=16, dynamic_batch=False)
    want = fn(mg.Variable(x)).data
    assert_close(run_ort(path, x)[0], want)
    assert_close(mg.onnx.load(path)(x).data, want)
    with pytest.raises(mg.onnx.UnsupportedOpError, match="opset 16"):
        mg.onnx.export(fn, x, tmp_path / "s13.onnx", opset=13, dynamic_batch=False)
    with pytest.raises(mg.onnx.UnsupportedOpError, match="dynamic_batch=False"):
        mg.onnx.export(fn, x, tmp_path / "s16.onnx", opset=16)


def _pool_geometry_and_argmax(x):
    g = conv_ops._geometry("max_pool2d", x.shape, 3, 2, 1)
    return g, conv_ops._max_windows(x, g)[1]


def test_pooling_backward_ops_with_a_fixed_shape(tmp_path):
    """max_pool2d's and avg_pool2d's backward ops, recorded by create_graph passes: the
    argmax of each window is the example's, so the batch is fixed."""
    need("onnx")

    def penalty(x):
        y = (F.max_pool2d(x * 2, 3, 2, 1) ** 2).sum() + (F.avg_pool2d(x, 3, 2, 1) ** 2).sum()
        (g,) = mg.grad(y, [x], create_graph=True)
        return g * g

    x = img(3)
    path = _export(tmp_path, penalty, (img,), dynamic_batch=False)
    ops = {n.op_type for n in need("onnx").load(str(path)).graph.node}
    assert {"ScatterND", "ConvTranspose"} <= ops
    want = penalty(mg.Variable(x)).data
    assert_close(run_ort(path, x)[0], want)
    assert_close(mg.onnx.load(path)(x).data, want)
    with pytest.raises(
        mg.onnx.UnsupportedOpError,
        match=r"pool_scatter: the window each element goes to is fixed at export .* "
        r"dynamic_batch=False \(called in outside any module\)",
    ):
        _export(tmp_path, penalty, (img,))
    with pytest.raises(mg.onnx.UnsupportedOpError, match="pool_scatter: needs opset 16"):
        _export(tmp_path, penalty, (img,), dynamic_batch=False, opset=15)

    class Penalty(mg.nn.Module):
        def forward(self, x):
            return penalty(x)

    # The error names the module the op was recorded in.
    with pytest.raises(mg.onnx.UnsupportedOpError, match=r"\(called in the model \(Penalty\)\)"):
        mg.onnx.export(Penalty(), x, tmp_path / "m.onnx")

    # A window wholly of -inf takes its padding (argmax 0 at (-1, -1)): its gradient goes
    # nowhere, and gathering there reads the padding's zero.
    x[0, 0, :2, :2] = -np.inf
    g, idx = _pool_geometry_and_argmax(x)
    assert idx[0, 0, 0, 0] == 0
    gy = np.random.default_rng(0).normal(size=idx.shape).astype(np.float32)
    cases = [
        (lambda v: _apply1(conv_ops.PoolScatter(g, idx, x.shape), v * 2), gy),
        (lambda v: _apply1(conv_ops.PoolGather(g, idx), v * 2), np.nan_to_num(x, neginf=-5)),
    ]
    for fn, a in cases:
        path = tmp_path / "p.onnx"
        mg.onnx.export(fn, a, path, dynamic_batch=False)
        want = fn(mg.Variable(a)).data
        assert_close(run_ort(path, a)[0], want)
        assert_close(mg.onnx.load(path)(a).data, want)


def test_second_derivative_graph_exports(tmp_path):
    """A graph recorded by a create_graph backward (a gradient penalty) exports too."""
    need("onnx")

    def penalty(x):
        y = (F.tanh(x * W) ** 2).sum()
        (g,) = mg.grad(y, [x], create_graph=True)
        return (g * g).sum(axis=1)

    # Its backward broadcasts to the example's shape: a fixed batch, which export finds.
    with pytest.raises(ValueError, match="does not hold for a batch of 4 rows"):
        _export(tmp_path, penalty, (x4,))
    assert not (tmp_path / "op.onnx").exists()
    path = _export(tmp_path, penalty, (x4,), n=5, dynamic_batch=False)
    x = x4(5)
    want = penalty(mg.Variable(x)).data
    assert_close(run_ort(path, x)[0], want)
    assert_close(mg.onnx.load(path)(x).data, want)


def _function_classes() -> list[type]:
    out = []
    for _, module in inspect.getmembers(functions_pkg, inspect.ismodule):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Function)
                and cls.__module__ == module.__name__
                and not cls.__name__.startswith("_")
                and cls.forward is not Function.forward
            ):
                out.append(cls)
    return out


def test_every_op_has_an_exporter():
    # (Every ONNX op type export writes has an importer: each row above loads its file.)
    from minigrad.onnx.exporters import EXPORTERS

    classes = _function_classes()
    assert len(classes) >= 50
    assert [c.__name__ for c in classes if c not in EXPORTERS] == []
