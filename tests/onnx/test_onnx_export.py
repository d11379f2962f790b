"""minigrad.onnx.export on the models users export: the file passes the ONNX checker, and
onnxruntime's outputs on another batch size equal minigrad's (1e-5 relative, float32);
parameter names, the dynamic batch, eval mode, the loss with labels; and every bad input:
an op without a mapping, bad paths, bad options, values made outside the graph."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from onnx_helpers import assert_close, need, rel_error, run_ort

import minigrad as mg
from minigrad import F, nn
from minigrad.core import Function


def batch(n: int, shape: tuple[int, ...] = (784,), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + n).random((n, *shape), dtype=np.float32)


def labels(n: int, classes: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + n).integers(0, classes, size=n)


def two_layer_net() -> nn.TwoLayerNet:
    np.random.seed(0)  # noqa: NPY002 - TwoLayerNet draws from np.random, as in the book
    net = nn.TwoLayerNet(784, 50, 10, weight_init_std="he_normal", dtype=np.float32)
    net.b1.data[:] = np.linspace(-0.5, 0.5, 50)  # non-zero biases, so they are tested too
    return net


def mlp(activation: str = "relu") -> nn.MLP:
    np.random.seed(1)  # noqa: NPY002
    return nn.MLP([784, 64, 32, 10], activation=activation)


def sequential() -> nn.Sequential:
    np.random.seed(2)  # noqa: NPY002
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 40), nn.Tanh(), nn.Dropout(0.3), nn.Affine(40, 20), nn.ReLU(),
        nn.Linear(20, 10), nn.Sigmoid(),
    )  # fmt: skip


def simple_conv_net() -> nn.SimpleConvNet:
    np.random.seed(4)  # noqa: NPY002
    net = nn.SimpleConvNet(weight_init_std=0.1, dtype=np.float32)
    net.b1.data[:] = np.linspace(-0.2, 0.2, 30)
    return net


def deep_conv_net() -> nn.DeepConvNet:
    np.random.seed(5)  # noqa: NPY002
    return nn.DeepConvNet(dtype=np.float32)


def conv_sequential() -> nn.Sequential:
    """Every conv layer with its settings, batch norm with running statistics of its own."""
    np.random.seed(6)  # noqa: NPY002
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(8, 6, (3, 2), padding=(1, 0), bias=False),
        nn.AvgPool2d(2, stride=1, padding=1), nn.Flatten(), nn.Linear(6 * 3 * 2, 16),
        nn.BatchNorm1d(16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 5),
    )  # fmt: skip
    rng = np.random.default_rng(6)
    for bn in (model[1], model[8]):
        bn.gamma.data[:] = rng.uniform(0.5, 2, bn.num_features)
        bn.beta.data[:] = rng.normal(size=bn.num_features)
        bn.running_mean[:] = rng.normal(size=bn.num_features)
        bn.running_var[:] = rng.uniform(0.5, 2, bn.num_features)
    return model


def decoder() -> nn.Sequential:
    """An upsampling decoder: transposed convolutions with stride, padding, output_padding."""
    np.random.seed(7)  # noqa: NPY002
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), nn.Tanh(),
        nn.ConvTranspose2d(3, 1, (2, 3), bias=False), nn.Sigmoid(),
    )  # fmt: skip


_rng = np.random.default_rng(3)
W1 = mg.Parameter(_rng.normal(0, 0.05, (784, 30)).astype(np.float32), name="W1")
b1 = mg.Parameter(_rng.normal(0, 0.1, 30).astype(np.float32), name="b1")
W2 = mg.Variable(_rng.normal(0, 0.2, (30, 10)).astype(np.float32), name="W2")  # a plain leaf


def from_primitives(x):
    """A network written with ops only: reshape, matmul, add, leaky_relu, log_softmax."""
    h = F.leaky_relu(x.reshape(len(x), -1) @ W1 + b1, 0.1)
    return F.log_softmax(h @ W2 - h.mean(axis=1, keepdims=True))


MODELS = {
    "TwoLayerNet": (two_layer_net, (784,)),
    "MLP-relu": (mlp, (784,)),
    "MLP-sigmoid": (lambda: mlp("sigmoid"), (784,)),
    "MLP-tanh": (lambda: mlp("tanh"), (784,)),
    "Sequential": (sequential, (1, 28, 28)),
    "primitives": (lambda: from_primitives, (28, 28)),
    "SimpleConvNet": (simple_conv_net, (1, 28, 28)),
    "DeepConvNet": (deep_conv_net, (1, 28, 28)),
    "conv-Sequential": (conv_sequential, (3, 7, 6)),
    "decoder": (decoder, (1, 10, 12)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_parity_with_onnxruntime(name, tmp_path):
    onnx = need("onnx")
    make, shape = MODELS[name]
    model = make()
    path = tmp_path / "model.onnx"
    assert mg.onnx.export(model, batch(4, shape), path) == str(path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = batch(37, shape)  # another batch size than the example's
    if isinstance(model, nn.Module):
        model.eval()
    want = model(x).data
    (got,) = run_ort(path, x)
    assert_close(got, want)
    # The loaded file runs with minigrad too, to the same values (in eval mode, as ONNX runs
    # batch norm).
    assert_close(mg.onnx.load(path).eval()(x).data, want)


def test_loss_with_labels_as_an_int64_input(tmp_path):
    onnx = need("onnx")
    net = two_layer_net()
    path = tmp_path / "loss.onnx"
    mg.onnx.export(net, (batch(4), labels(4).astype(np.uint8)), path)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["x", "t"]
    assert graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [n.op_type for n in graph.node][-2] == "SoftmaxCrossEntropyLoss"
    x, t = batch(50), labels(50)
    (got,) = run_ort(path, x, t)
    assert got.shape == () and got.dtype == np.float32
    assert_close(got, net.loss(x, t).data)
    # MLP's loss through its SoftmaxWithLoss layer, and the one-hot form.
    m = mlp()
    mg.onnx.export(m, (batch(4), labels(4)), path)
    assert_close(run_ort(path, x, t)[0], m.loss(x, t).data)
    onehot = np.eye(10, dtype=np.float32)[t]
    mg.onnx.export(m, (batch(4), np.eye(10, dtype=np.float32)[labels(4)]), path)
    assert_close(run_ort(path, x, onehot)[0], m.loss(x, onehot).data)


def test_parameters_are_initializers_named_by_module_path(tmp_path):
    onnx = need("onnx")
    path = tmp_path / "m.onnx"

    def names(model, shape=(784,)):
        mg.onnx.export(model, batch(3, shape), path)
        return [i.name for i in onnx.load(str(path)).graph.initializer]

    # By the layer that used them: TwoLayerNet's W1 is also layers.Affine1.W.
    assert names(two_layer_net()) == [
        "layers.Affine1.W",
        "layers.Affine1.b",
        "layers.Affine2.W",
        "layers.Affine2.b",
    ]
    assert names(simple_conv_net(), (1, 28, 28))[:3] == [
        "layers.Conv1.W",
        "layers.Conv1.b",
        "layers.Affine1.W",
    ]
    assert names(deep_conv_net(), (1, 28, 28))[::4] == [
        "layers.0.W",
        "layers.5.W",
        "layers.10.W",
        "layers.15.W",
    ]
    # Buffers (batch norm's running statistics) too, beside the parameters of their layer.
    assert names(conv_sequential(), (3, 7, 6)) == [
        "0.W", "0.b", "1.gamma", "1.beta", "1.running_mean", "1.running_var", "4.W", "7.W",
        "7.b", "8.gamma", "8.beta", "8.running_mean", "8.running_var", "11.W", "11.b",
    ]  # fmt: skip
    assert names(mlp()) == ["fc1.W", "fc1.b", "fc2.W", "fc2.b", "fc3.W", "fc3.b"]
    assert names(sequential(), (1, 28, 28)) == ["1.W", "1.b", "4.W", "4.b", "6.W", "6.b"]
    nested = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Linear(784, 5)), head=nn.Linear(5, 2)))
    assert names(nested) == ["body.0.W", "body.0.b", "head.W", "head.b"]
    assert names(from_primitives, (28, 28)) == ["W1", "b1", "W2"]
    # Module calls name the nodes too (a model viewer groups them).
    graph = onnx.load(str(path)).graph
    mg.onnx.export(mlp(), batch(3), path)
    graph = onnx.load(str(path)).graph
    assert [n.name for n in graph.node][:2] == ["fc1/Gemm", "act1/Relu"]


def test_the_batch_dimension_is_symbolic_or_fixed(tmp_path):
    onnx = need("onnx")
    ort = need("onnxruntime")
    net = two_layer_net()
    path = tmp_path / "net.onnx"
    mg.onnx.export(net, batch(4), path)
    graph = onnx.load(str(path)).graph
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(graph.input[0]) == ["N", 784] and dims(graph.output[0]) == ["N", 10]
    mg.onnx.export(
        net, batch(4), path, dynamic_batch=False, input_names=["images"], output_names="logits"
    )
    graph = onnx.load(str(path)).graph
    assert dims(graph.input[0]) == [4, 784] and dims(graph.output[0]) == [4, 10]
    assert graph.input[0].name == "images" and graph.output[0].name == "logits"
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        run_ort(path, batch(5))
    assert_close(run_ort(path, batch(4))[0], net.predict(batch(4)).data)
    # Through Conv, MaxPool, Flatten and Gemm, every value keeps the symbolic batch.
    mg.onnx.export(simple_conv_net(), batch(3, (1, 28, 28)), path)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    values = [*model.graph.input, *model.graph.value_info, *model.graph.output]
    assert len(values) == 9
    assert {dims(vi)[0] for vi in values} == {"N"}
    assert dims(model.graph.output[0]) == ["N", 10]


def test_eval_mode_for_the_export_then_each_module_gets_its_mode_back(tmp_path):
    need("onnx")
    model = sequential()
    model.train()
    model[3].eval()  # mixed modes come back as they were
    mg.onnx.export(model, batch(4, (1, 28, 28)), tmp_path / "s.onnx")
    assert [m.training for m in model] == [True, True, True, False, True, True, True, True]
    assert model.training
    x = batch(9, (1, 28, 28))
    # No Dropout node: eval mode passes the input through, so nothing was recorded.
    assert_close(run_ort(tmp_path / "s.onnx", x)[0], model.eval()(x).data)


def test_a_bound_method_exports_its_module_in_eval_mode(tmp_path):
    need("onnx")
    net = two_layer_net()
    mg.onnx.export(net.predict, batch(3), tmp_path / "p.onnx")
    assert net.training
    assert_close(run_ort(tmp_path / "p.onnx", batch(8))[0], net.predict(batch(8)).data)


def test_export_inside_no_grad_still_records(tmp_path):
    need("onnx")
    net = two_layer_net()
    with mg.no_grad():
        mg.onnx.export(net, batch(3), tmp_path / "n.onnx")
    assert_close(run_ort(tmp_path / "n.onnx", batch(6))[0], net.predict(batch(6)).data)


def test_parity_figures_for_the_models():
    """The largest relative error of onnxruntime against minigrad over the models, measured
    on a batch of 256: what the docs and the issue quote."""
    need("onnx")
    import tempfile

    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, shape) in MODELS.items():
            model = make()
            path = os.path.join(tmp, "m.onnx")
            mg.onnx.export(model, batch(2, shape), path)
            x = batch(256, shape, seed=7)
            if isinstance(model, nn.Module):
                model.eval()
            worst[name] = rel_error(run_ort(path, x)[0], model(x).data)
    assert max(worst.values()) < 1e-5, worst


# --------------------------------------------------------------------------- errors


class Cube(Function):
    """A user op without an ONNX mapping."""

    def forward(self, x):
        return x**3

    def backward(self, gy):
        return 3 * self.saved_inputs[0] ** 2 * gy


class CubeLayer(nn.Module):
    def forward(self, x):
        return Cube()(x)


def test_an_op_without_mapping_names_op_and_module_and_writes_nothing(tmp_path):
    need("onnx")
    model = nn.Sequential(nn.Linear(4, 3), CubeLayer())
    path = tmp_path / "m.onnx"
    path.write_bytes(b"an earlier file")
    with pytest.raises(mg.onnx.UnsupportedOpError) as e:
        mg.onnx.export(model, batch(3, (4,)), path)
    msg = str(e.value)
    assert "op 'cube' (Cube, a user Function) called in module '1' (CubeLayer)" in msg
    assert "no file was written" in msg and "linear" in msg  # and what does export
    # ... and how to give the op an exporter.
    assert "Give it one with @minigrad.onnx.register_exporter(Cube) on a function" in msg
    assert path.read_bytes() == b"an earlier file"
    assert os.listdir(tmp_path) == ["m.onnx"]
    with pytest.raises(
        mg.onnx.UnsupportedOpError,
        match=r"op 'cube' \(Cube, a user Function\) called outside "
        r"any module: it has no ONNX mapping",
    ):
        mg.onnx.export(lambda x: Cube()(x), batch(3, (4,)), tmp_path / "f.onnx")
    assert not (tmp_path / "f.onnx").exists()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return Cube()(self.fc(x))


def test_the_place_of_an_unmapped_op_reads_as_english(tmp_path):
    need("onnx")
    with pytest.raises(mg.onnx.UnsupportedOpError) as e:
        mg.onnx.export(Net(), batch(3, (4,)), tmp_path / "n.onnx")
    assert "op 'cube' (Cube, a user Function) called in the model (Net): it has" in str(e.value)
    assert "called in outside" not in str(e.value)


# --------------------------------------------------------------------------- your own ops


class ScaledSquare(Function):
    """A user op with a setting: y = scale * x**2."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        return self.scale * x * x

    def backward(self, gy):
        (x,) = self.saved_inputs
        return gy * 2 * self.scale * x


@pytest.fixture
def exporters():
    """The exporter table, restored after the test (registrations are global)."""
    from minigrad.onnx.exporters import EXPORTERS

    saved = dict(EXPORTERS)
    yield EXPORTERS
    EXPORTERS.clear()
    EXPORTERS.update(saved)


def test_a_registered_exporter_exports_a_user_function(tmp_path, exporters):
    onnx = need("onnx")

    @mg.onnx.register_exporter(ScaledSquare)
    def export_scaled_square(b, f, xs):
        shape, dtype = b.outs[0]
        x = b.name(xs[0], dtype)
        y = b.node("Mul", [b.node("Mul", [x, x]), b.const(f.scale, dtype)])
        return y, xs[0].sym

    assert exporters[ScaledSquare] is export_scaled_square
    np.random.seed(0)  # noqa: NPY002
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    fn = lambda x: ScaledSquare(0.75)(model(x)) + 1.0  # noqa: E731
    path = tmp_path / "custom.onnx"
    mg.onnx.export(fn, batch(3, (4,)), path)
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("Mul") >= 2
    x = batch(9, (4,))
    want = fn(mg.Variable(x)).data
    assert_close(run_ort(path, x)[0], want)
    # Written with standard ONNX ops, it loads back with nothing more to register.
    assert_close(mg.onnx.load(path)(x).data, want)


def test_register_exporter_errors(tmp_path, exporters):
    need("onnx")
    with pytest.raises(TypeError, match=r"^register_exporter: give the Function class"):
        mg.onnx.register_exporter()
    with pytest.raises(TypeError, match=r"^register_exporter: expected Function subclasses, got"):
        mg.onnx.register_exporter(lambda b, f, xs: None)
    with pytest.raises(TypeError, match=r"^register_exporter: the exporter must be callable"):
        mg.onnx.register_exporter(ScaledSquare)(3)

    @mg.onnx.register_exporter(ScaledSquare)
    def wrong(b, f, xs):
        return b.node("Identity", [b.name(xs[0])])  # the dims are missing

    with pytest.raises(
        TypeError,
        match=r"^export: the exporter of 'scaled_square' \(ScaledSquare\) returned "
        r"'.*'; an exporter returns \(output name, dims\)",
    ):
        mg.onnx.export(lambda x: ScaledSquare(2.0)(x * 1.0), batch(3, (4,)), tmp_path / "w.onnx")
    assert not (tmp_path / "w.onnx").exists()


def test_unsupported_settings_are_clear_errors(tmp_path):
    need("onnx")
    W = mg.Parameter(np.ones((4, 4), np.float32))
    cases = [
        (lambda x: (x @ W)[:, None, [0, 1]], "None .np.newaxis. with integer arrays"),
        (lambda x, m: (x @ W)[m], "boolean mask that is a model input"),
    ]
    for fn, message in cases:
        ins = (
            (batch(3, (4,)),)
            if fn.__code__.co_argcount == 1
            else (batch(3, (4,)), np.ones(3, bool))
        )
        with pytest.raises(mg.onnx.UnsupportedOpError, match=message):
            mg.onnx.export(fn, ins, tmp_path / "u.onnx")
    assert os.listdir(tmp_path) == []


def test_bad_paths(tmp_path):
    need("onnx")
    net = two_layer_net()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mg.onnx.export(net, batch(2), tmp_path / "missing" / "m.onnx")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        mg.onnx.export(net, batch(2), tmp_path)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        probe = read_only / "probe"
        try:
            probe.write_bytes(b"")  # root may write anyway: then use a place even root cannot
            probe.unlink()
            target = "/sys/kernel/m.onnx"
        except PermissionError:
            target = str(read_only / "m.onnx")
        with pytest.raises(PermissionError, match="not writable|cannot write"):
            mg.onnx.export(net, batch(2), target)
        assert not os.path.exists(target)
    finally:
        read_only.chmod(0o700)


def test_the_write_is_atomic(tmp_path, monkeypatch):
    need("onnx")
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        mg.onnx.export(two_layer_net(), batch(2), path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_bad_arguments(tmp_path):
    need("onnx")
    net = two_layer_net()
    p = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="opset 12 is not supported; give 13 to"):
        mg.onnx.export(net, batch(2), p, opset=12)
    with pytest.raises(TypeError, match="opset must be an int"):
        mg.onnx.export(net, batch(2), p, opset="17")
    with pytest.raises(ValueError, match="input_names must be 1 non-empty strings"):
        mg.onnx.export(net, batch(2), p, input_names=["a", "b"])
    with pytest.raises(ValueError, match="repeats a name"):
        mg.onnx.export(net, (batch(2), labels(2)), p, input_names=["a", "a"])
    with pytest.raises(ValueError, match="named both an input and an output"):
        mg.onnx.export(net, batch(2), p, input_names=["x"], output_names=["x"])
    with pytest.raises(ValueError, match="at least 2 rows, got 1"):
        mg.onnx.export(net, batch(1), p)
    with pytest.raises(
        ValueError, match=r"one batch size for all inputs, got first dimensions \[3, 2\]"
    ):
        mg.onnx.export(net, (batch(3), labels(2)), p)
    with pytest.raises(TypeError, match="example input 0 is a list"):
        mg.onnx.export(net, [[1.0, 2.0]], p)
    with pytest.raises(ValueError, match="example_inputs is empty"):
        mg.onnx.export(net, (), p)
    with pytest.raises(TypeError, match="model must be a Module or a callable"):
        mg.onnx.export("net", batch(2), p)
    with pytest.raises(TypeError, match="the model's output is a ndarray"):
        mg.onnx.export(lambda x: x.data, batch(2), p)
    with pytest.raises(ValueError, match=r"the input\(s\) \['t'\] do not reach the outputs"):
        mg.onnx.export(lambda x, t: net.predict(x), (batch(2), labels(2)), p)
    with pytest.raises(ValueError, match="does not hold for a batch of 4 rows"):
        mg.onnx.export(lambda x: net.predict(x) * np.ones((len(x), 1), np.float32), batch(3), p)
    assert os.listdir(tmp_path) == []


def test_without_the_onnx_package_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "minigrad\[onnx\]"'):
        mg.onnx.export(two_layer_net(), batch(2), tmp_path / "m.onnx")
    with pytest.raises(ImportError, match="load: needs the onnx package"):
        mg.onnx.load(tmp_path / "m.onnx")


def test_import_minigrad_imports_no_onnx():
    code = (
        "import sys, minigrad, minigrad.onnx; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'onnx', 'onnxruntime', 'google'}); "
        "assert not bad, bad; "
        "import minigrad as mg; assert mg.onnx.export"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, minigrad; assert 'minigrad.onnx' not in sys.modules"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
