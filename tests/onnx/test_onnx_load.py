"""minigrad.onnx.load: an exported model comes back as a Module with its initializers as
Parameters, runs to the same values, trains, and exports again; files with other ops, other
opsets or no ONNX at all are clear errors; inputs are checked."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_helpers import assert_close, need, run_ort

import minigrad as mg
from minigrad import nn, optim


def batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + n).random((n, 784), dtype=np.float32)


def labels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + n).integers(0, 10, size=n)


def make_model(onnx, nodes, inputs, outputs, initializers=(), opset=17):
    helper = onnx.helper
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    ops = [helper.make_opsetid("", opset)]
    return helper.make_model(
        graph, opset_imports=ops, ir_version=helper.find_min_ir_version_for(ops)
    )


def test_load_fine_tune_and_export_again(tmp_path):
    need("onnx")
    np.random.seed(0)  # noqa: NPY002
    net = nn.TwoLayerNet(784, 30, 10, weight_init_std="he_normal", dtype=np.float32)
    first = tmp_path / "first.onnx"
    mg.onnx.export(net, (batch(4), labels(4)), first)

    loaded = mg.onnx.load(first)
    assert isinstance(loaded, nn.Module) and isinstance(loaded, mg.onnx.OnnxModule)
    assert loaded.input_names == ["x", "t"] and loaded.output_names == ["y"]
    # Named by the layers that used them (TwoLayerNet holds W1 as layers.Affine1.W too).
    names = ["layers.Affine1.W", "layers.Affine1.b", "layers.Affine2.W", "layers.Affine2.b"]
    assert [n for n, _ in loaded.named_parameters()] == names
    assert loaded.layers.Affine1.W.shape == (784, 30)
    assert all(
        isinstance(p, mg.Parameter) and p.data.dtype == np.float32 for p in loaded.parameters()
    )
    x, t = batch(64), labels(64)
    assert_close(loaded(x, t).data, net.loss(x, t).data)
    assert_close(loaded(x=x, t=t).data, net.loss(x, t).data)

    opt = optim.SGD(loaded.parameters(), lr=0.5)
    before = float(loaded(x, t))
    for _ in range(5):
        loss = loaded(x, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loaded(x, t)) < before - 0.05
    assert all(p.grad is not None for p in loaded.parameters())

    second = tmp_path / "second.onnx"
    mg.onnx.export(loaded, (batch(4), labels(4)), second)
    x2, t2 = batch(33), labels(33)
    assert_close(run_ort(second, x2, t2)[0], loaded(x2, t2).data)
    # The fine-tuned weights go back into the original model under its own names.
    tuned = loaded.state_dict()
    net.load_state_dict({k: tuned[f"layers.Affine{k[1]}.{k[0]}"] for k in net.state_dict()})
    assert_close(net.loss(x2, t2).data, loaded(x2, t2).data)


def test_parameter_tree_keeps_dotted_names(tmp_path):
    onnx = need("onnx")
    model = nn.MLP([784, 16, 10])
    path = tmp_path / "mlp.onnx"
    mg.onnx.export(model, batch(3), path)
    loaded = mg.onnx.load(path)
    assert loaded.fc1.W.shape == (784, 16) and isinstance(loaded.fc2.b, mg.Parameter)
    assert list(loaded.state_dict()) == list(model.state_dict())
    assert loaded.op_types == ["Gemm", "Relu", "Gemm", "Identity"]
    assert "OnnxModule(" in repr(loaded) and "inputs=['x']" in repr(loaded)
    # An initializer name that cannot be a path stays flat.
    helper, T = onnx.helper, onnx.TensorProto
    inits = [onnx.numpy_helper.from_array(np.ones(3, np.float32), "_w.a"),
             onnx.numpy_helper.from_array(np.zeros(3, np.float32), "training"),
             onnx.numpy_helper.from_array(np.ones(3, np.float32), "v")]  # fmt: skip
    m = make_model(
        onnx,
        [
            helper.make_node("Mul", ["x", "_w.a"], ["h"]),
            helper.make_node("Add", ["h", "v"], ["g"]),
            helper.make_node("Add", ["g", "training"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", T.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", T.FLOAT, [None, 3])],
        inits,
    )
    onnx.save(m, str(tmp_path / "flat.onnx"))
    loaded = mg.onnx.load(tmp_path / "flat.onnx")
    assert sorted(n for n, _ in loaded.named_parameters()) == ["p_training", "p_w_a", "v"]
    assert loaded.training is True
    assert_close(loaded(np.ones((2, 3), np.float32)).data, np.full((2, 3), 2, np.float32))


def test_a_pytorch_style_gemm_runs(tmp_path):
    """PyTorch writes Linear as Gemm with transB=1 on (out, in) weights."""
    onnx = need("onnx")
    helper, T = onnx.helper, onnx.TensorProto
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    bias = np.array([1, 2, 3], np.float32)
    m = make_model(
        onnx,
        [helper.make_node("Gemm", ["x", "weight", "bias"], ["y"], transB=1)],
        [helper.make_tensor_value_info("x", T.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["N", 3])],
        [onnx.numpy_helper.from_array(w, "weight"), onnx.numpy_helper.from_array(bias, "bias")],
    )
    path = tmp_path / "torch_style.onnx"
    onnx.save(m, str(path))
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    y = mg.onnx.load(path)(x)
    assert_close(y.data, x @ w.T + bias)
    assert_close(run_ort(path, x)[0], y.data)


def test_other_ops_are_named(tmp_path):
    onnx = need("onnx")
    helper, T = onnx.helper, onnx.TensorProto
    m = make_model(
        onnx,
        [
            helper.make_node("Celu", ["x"], ["a"]),
            helper.make_node("Celu", ["a"], ["b"]),
            helper.make_node("FusedGemm", ["b", "b"], ["y"], domain="com.microsoft"),
        ],
        [helper.make_tensor_value_info("x", T.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", T.FLOAT, [2, 2])],
    )
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    path = tmp_path / "other.onnx"
    onnx.save(m, str(path))
    with pytest.raises(mg.onnx.UnsupportedOpError) as e:
        mg.onnx.load(path)
    msg = str(e.value)
    assert (
        "uses ONNX op(s) minigrad cannot run: Celu (2 nodes), com.microsoft.FusedGemm (1 node)"
        in msg
    )
    assert "Gemm" in msg.split("minigrad runs:")[1]


def test_bad_files(tmp_path):
    onnx = need("onnx")
    with pytest.raises(FileNotFoundError, match="no file"):
        mg.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        mg.onnx.load(tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf at all\x13\x37" * 10)
    with pytest.raises(ValueError, match="is not an ONNX model"):
        mg.onnx.load(junk)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is not an ONNX model"):
        mg.onnx.load(empty)
    helper, T = onnx.helper, onnx.TensorProto
    old = make_model(
        onnx,
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", T.FLOAT, [2])],
        [helper.make_tensor_value_info("y", T.FLOAT, [2])],
        opset=11,
    )
    onnx.save(old, str(tmp_path / "old.onnx"))
    with pytest.raises(ValueError, match="uses opset 11; minigrad reads opset 13 and newer"):
        mg.onnx.load(tmp_path / "old.onnx")


def test_inputs_are_checked_and_converted(tmp_path):
    need("onnx")
    net = nn.TwoLayerNet(784, 8, 10, dtype=np.float32)
    path = tmp_path / "n.onnx"
    mg.onnx.export(net, (batch(2), labels(2)), path)
    loaded = mg.onnx.load(path)
    x, t = batch(5), labels(5)
    # float64 data and int32 labels are converted to the file's float32 and int64.
    y = loaded(x.astype(np.float64), t.astype(np.int32))
    assert y.dtype == np.float32
    assert_close(y.data, net.loss(x, t).data)
    with pytest.raises(TypeError, match=r"missing input\(s\) \['t'\]"):
        loaded(x)
    with pytest.raises(TypeError, match="takes 2 inputs"):
        loaded(x, t, t)
    with pytest.raises(TypeError, match="no input named 'labels'"):
        loaded(x, labels=t)
    with pytest.raises(TypeError, match="input 'x' given twice"):
        loaded(x, t, x=x)
    with pytest.raises(ValueError, match=r"input 'x' must have shape \(\?, 784\), got \(5, 10\)"):
        loaded(np.zeros((5, 10), np.float32), t)
    with pytest.raises(ValueError, match="label 12 is out of range"):
        loaded(x, np.full(5, 12))


def small_bn_net() -> nn.Sequential:
    np.random.seed(7)  # noqa: NPY002
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 5 * 5, 6), nn.BatchNorm1d(6),
    )  # fmt: skip
    rng = np.random.default_rng(7)
    for bn in (model[1], model[5]):
        bn.running_mean[:] = rng.normal(size=bn.num_features)
        bn.running_var[:] = rng.uniform(0.5, 2, bn.num_features)
    return model


def images(n: int) -> np.ndarray:
    return np.random.default_rng(n).normal(size=(n, 2, 5, 5)).astype(np.float32)


def test_batch_norm_statistics_come_back_as_buffers(tmp_path):
    onnx = need("onnx")
    model = small_bn_net()
    path = tmp_path / "bn.onnx"
    mg.onnx.export(model, images(3), path)
    graph = onnx.load(str(path)).graph
    assert [n.op_type for n in graph.node].count("BatchNormalization") == 2
    loaded = mg.onnx.load(path)
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert [n for n, _ in loaded.named_buffers()] == [
        "1.running_mean", "1.running_var", "5.running_mean", "5.running_var",
    ]  # fmt: skip
    stats = getattr(loaded, "1").running_var
    assert isinstance(stats, np.ndarray) and not isinstance(stats, mg.Variable)
    np.testing.assert_array_equal(stats, model[1].running_var)
    assert sorted(loaded.state_dict()) == sorted(model.state_dict())
    x = images(8)
    assert_close(loaded.eval()(x).data, model.eval()(x).data)

    # In training mode both normalize by the batch and update their statistics alike
    # (PyTorch's momentum 0.1, written as ONNX's 0.9).
    y_model, y_loaded = model.train()(x), loaded.train()(x)
    assert_close(y_loaded.data, y_model.data)
    for (name, a), (_, b) in zip(loaded.named_buffers(), model.named_buffers()):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)
    # An optimizer sees the parameters only, and the loaded model trains.
    opt = optim.SGD(loaded.parameters(), lr=0.1)
    loss = (loaded(x) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert float((loaded(x) ** 2).mean()) < float(loss)
    # The same names: the state goes back into a fresh model, buffers included.
    fresh = small_bn_net()
    fresh.load_state_dict(loaded.state_dict())
    assert_close(fresh.eval()(x).data, loaded.eval()(x).data)


def test_a_pytorch_style_conv_net_runs(tmp_path):
    """What PyTorch's exporter writes for Conv2d - BatchNorm2d - ReLU - MaxPool2d -
    AvgPool2d - Flatten - Linear (with its own attribute sets and names)."""
    onnx = need("onnx")
    helper, T = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(0)
    arrays = {
        "0.weight": rng.normal(size=(4, 1, 3, 3)),
        "0.bias": rng.normal(size=4),
        "1.weight": rng.uniform(0.5, 2, size=4),
        "1.bias": rng.normal(size=4),
        "1.running_mean": rng.normal(size=4),
        "1.running_var": rng.uniform(0.5, 2, size=4),
        "6.weight": rng.normal(size=(3, 64)),
        "6.bias": rng.normal(size=3),
    }
    inits = [onnx.numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    pool = {"ceil_mode": 0, "kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("Conv", ["x", "0.weight", "0.bias"], ["c"], dilations=[1, 1], group=1,
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization",
                         ["c", "1.weight", "1.bias", "1.running_mean", "1.running_var"], ["b"],
                         epsilon=1e-5, momentum=0.9, training_mode=0),
        helper.make_node("Relu", ["b"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["m"], dilations=[1, 1], pads=[0, 0, 0, 0], **pool),
        helper.make_node("AveragePool", ["m"], ["a"], count_include_pad=1, pads=[1, 1, 1, 1],
                         **pool),
        helper.make_node("Flatten", ["a"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "6.weight", "6.bias"], ["y"], alpha=1.0, beta=1.0,
                         transB=1),
    ]  # fmt: skip
    m = make_model(
        onnx,
        nodes,
        [helper.make_tensor_value_info("x", T.FLOAT, ["N", 1, 12, 12])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["N", 3])],
        inits,
        opset=20,
    )
    onnx.checker.check_model(m, full_check=True)
    path = tmp_path / "torch_conv.onnx"
    onnx.save(m, str(path))
    loaded = mg.onnx.load(path).eval()
    assert [n for n, _ in loaded.named_buffers()] == ["1.running_mean", "1.running_var"]
    x = np.random.default_rng(1).normal(size=(5, 1, 12, 12)).astype(np.float32)
    assert_close(loaded(x).data, run_ort(path, x)[0])


def test_settings_minigrad_lacks_are_named_when_loading(tmp_path):
    onnx = need("onnx")
    helper, T = onnx.helper, onnx.TensorProto
    w = onnx.numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    stats = [onnx.numpy_helper.from_array(np.ones(2, np.float32), k) for k in "gbmv"]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], group=2, name="grouped"),
        helper.make_node("Conv", ["a", "w"], ["b"], dilations=[2, 2], pads=[1, 1, 0, 0],
                         name="dilated"),
        helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], ceil_mode=1, name="ceil"),
        helper.make_node("AveragePool", ["c"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         name="exclusive"),
        helper.make_node("BatchNormalization", ["d", "g", "b", "m", "v"], ["y", "rm", "rv"],
                         training_mode=1, name="bn"),
    ]  # fmt: skip
    m = make_model(
        onnx,
        nodes,
        [helper.make_tensor_value_info("x", T.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", T.FLOAT, None)],
        [w, *stats],
    )
    path = tmp_path / "settings.onnx"
    onnx.save(m, str(path))
    with pytest.raises(mg.onnx.UnsupportedOpError) as e:
        mg.onnx.load(path)
    msg = str(e.value)
    assert "has settings minigrad's ops do not have: node 'grouped' (Conv) with group 2" in msg
    assert "node 'dilated' (Conv) with dilations [2, 2], pads [1, 1, 0, 0]" in msg
    assert "node 'ceil' (MaxPool) with ceil_mode 1" in msg
    assert "node 'exclusive' (AveragePool) with count_include_pad 0 with padding" in msg
    assert "node 'bn' (BatchNormalization) with training_mode 1" in msg
