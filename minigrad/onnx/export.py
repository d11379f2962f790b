"""`export`: run a model once, read back the graph it recorded, write it as an ONNX model."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from minigrad._files import check_target, write_atomically
from minigrad.core import Function, Variable
from minigrad.onnx import _io, _trace
from minigrad.onnx import recurrent as _recurrent
from minigrad.onnx._builder import Batch, Builder, Dim, UnsupportedOpError, Value, constant
from minigrad.onnx.exporters import EXPORTERS

#: The opset written when none is given: ONNX 1.12's, read by ONNX Runtime 1.12 and newer.
DEFAULT_OPSET = 17
#: The oldest opset the exporters are written for (Softmax on one axis, ReduceSum's axes input).
MIN_OPSET = 13


def export(
    model: Callable[..., Any],
    example_inputs: Any,
    path: str | os.PathLike[str],
    opset: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
) -> str:
    """Write `model` to `path` as an ONNX model; returns the path.

    `model` is a Module or any callable of Variables; it runs once on `example_inputs` (an
    ndarray or a tuple of them: floating data, and integer labels as an int64 input) under
    recording, in eval mode (its modules get their modes back afterwards), and the recorded
    graph is written: one or a few ONNX nodes per op (the table in `minigrad.onnx.exporters`),
    Parameters as initializers named by the module path of the layer that used them plus
    their name there (`fc1.W`; `layers.Affine1.W` for TwoLayerNet's W1), or by their
    `state_dict()` key when used outside the model's modules; buffers (batch norm's running
    statistics) as initializers named by their path (`bn1.running_mean`); other constants as
    Constant nodes. With `dynamic_batch` the first dimension of every input and of what
    follows from it is the symbol `N`, so the file runs on any batch size (give an example
    batch of at least 2 rows). `opset`: 13 or newer, 17 by default. Names default to the
    model's argument names (`x`, `t`) and `y` (`y0`, `y1`, ... for several outputs).
    `dynamic_axes` names more symbolic dimensions of inputs and outputs, as PyTorch's
    exporter does: `{"x": {1: "T"}, "y0": {1: "T"}}` lets a recurrent layer's file take
    sequences of any length (only where every op between them is free of that size).

    The file passes `onnx.checker.check_model(..., full_check=True)` before it is written,
    atomically. An op without an ONNX mapping (e.g. a user `Function`) raises
    UnsupportedOpError naming it and the module it was called in; nothing is written then.
    Needs the `onnx` package: `pip install "minigrad[onnx]"`.
    """
    onnx = _io.require("onnx", "export")
    opset = _check_opset(opset, onnx)
    if not callable(model):
        raise TypeError(f"export: model must be a Module or a callable, got {type(model).__name__}")
    inputs = _example_inputs(example_inputs)
    target = check_target(path, "export")
    batch = _batch_size(inputs) if dynamic_batch else None
    in_names = _names(
        input_names, len(inputs), _trace.argument_names(model, len(inputs)), "x", "input_names"
    )

    trace = _trace.run(model, inputs)
    _check_supported(trace)
    out_names = _names(output_names, len(trace.outputs), None, "y", "output_names")
    clash = set(in_names) & set(out_names)
    if clash:
        raise ValueError(f"export: {sorted(clash)} named both an input and an output")

    graph = _build(onnx, trace, opset, batch, in_names, out_names, _graph_name(model))
    if dynamic_axes:
        _name_axes(graph, dynamic_axes)
    ops = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(
        graph,
        opset_imports=ops,
        # The oldest IR version that can hold this opset, for the widest range of runtimes.
        ir_version=onnx.helper.find_min_ir_version_for(ops),
        producer_name="minigrad",
        producer_version=_version(),
    )
    onnx.checker.check_model(proto, full_check=True)
    if batch is not None:
        _check_other_batch(proto, inputs, batch + 1)
    write_atomically(target, lambda f: f.write(proto.SerializeToString()), "export")
    return target


def _name_axes(graph: Any, dynamic_axes: Mapping[str, Mapping[int, str]]) -> None:
    """Make the given dimensions of the graph's inputs and outputs symbolic."""
    infos = {vi.name: vi for vi in [*graph.input, *graph.output]}
    for name, axes in dynamic_axes.items():
        if name not in infos:
            raise ValueError(
                f"export: dynamic_axes names {name!r}, which is not an input or output of the "
                f"graph ({sorted(infos)})"
            )
        dims = infos[name].type.tensor_type.shape.dim
        for axis, symbol in axes.items():
            if not -len(dims) <= axis < len(dims):
                raise ValueError(
                    f"export: dynamic_axes: {name!r} has {len(dims)} dimensions, no axis {axis}"
                )
            dims[axis].dim_param = str(symbol)


def _check_other_batch(proto: Any, inputs: list[np.ndarray], n: int) -> None:
    """Run the graph (with minigrad, through `load`'s importers) on a batch of `n` rows
    made from the example's, and check that it runs and that every output dimension
    declared as the batch has that size: a size or an array the model made from the batch
    size outside recorded ops (`np.ones((len(x), 1))`) would be fixed in the file."""
    from minigrad.core import no_grad
    from minigrad.onnx.load import OnnxModule

    rows = [np.concatenate([a, a[: n - len(a)]]) for a in inputs]
    problem = None
    try:
        with no_grad():
            out = OnnxModule(proto, source="the exported graph").eval()(*rows)
        for y, vi in zip(out if isinstance(out, tuple) else (out,), proto.graph.output):
            dims = [d.dim_param for d in vi.type.tensor_type.shape.dim]
            bad = [i for i, d in enumerate(dims) if d == "N" and y.shape[i] != n]
            if len(dims) != y.ndim or bad:
                problem = f"output {vi.name!r} has shape {y.shape}"
    except (ValueError, IndexError, TypeError) as e:
        problem = str(e)
    if problem is not None:
        raise ValueError(
            f"export: the graph does not hold for a batch of {n} rows ({problem}): the model "
            "made a size or an array from the batch size outside minigrad's ops (e.g. "
            "np.ones((len(x), 1)) or a shape of the example), so the file would only run on a "
            f"batch of {n - 1}; export with dynamic_batch=False, or build that value with ops"
        )


# --------------------------------------------------------------------------- arguments


def _check_opset(opset: int | None, onnx: Any) -> int:
    newest = int(onnx.defs.onnx_opset_version())
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer):
        raise TypeError(f"export: opset must be an int, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"export: opset {opset} is not supported; give {MIN_OPSET} to {newest} (the newest "
            f"this onnx package knows)"
        )
    return int(opset)


def _example_inputs(example_inputs: Any) -> list[np.ndarray]:
    items = list(example_inputs) if isinstance(example_inputs, tuple | list) else [example_inputs]
    if not items:
        raise ValueError("export: example_inputs is empty; give an ndarray or a tuple of them")
    out = []
    for i, a in enumerate(items):
        if isinstance(a, Variable):
            a = a.data
        if not isinstance(a, np.ndarray):
            raise TypeError(f"export: example input {i} is a {type(a).__name__}; give ndarrays")
        if a.dtype.kind in "iu":
            # Labels: ONNX's losses and indexing take int64.
            a = a.astype(np.int64)
        elif a.dtype.kind not in "fb":
            raise TypeError(f"export: example input {i} has dtype {a.dtype}; give numbers")
        out.append(a)
    return out


def _batch_size(inputs: list[np.ndarray]) -> int:
    sizes = [a.shape[0] if a.ndim else None for a in inputs]
    if None in sizes:
        raise ValueError(
            "export: dynamic_batch needs every input to have a batch dimension first; input "
            f"{sizes.index(None)} is a scalar (pass dynamic_batch=False)"
        )
    if len(set(sizes)) != 1:
        raise ValueError(
            f"export: dynamic_batch needs one batch size for all inputs, got first dimensions "
            f"{sizes} (pass dynamic_batch=False for a fixed shape)"
        )
    n = int(sizes[0])  # type: ignore[arg-type]
    if n < 2:
        raise ValueError(
            f"export: dynamic_batch needs an example batch of at least 2 rows, got {n}: in a "
            "batch of 1 the batch dimension cannot be told from a broadcast one"
        )
    return n


def _names(
    given: Sequence[str] | None, n: int, default: list[str] | None, stem: str, what: str
) -> list[str]:
    if given is None:
        if default is not None and len(set(default)) == n:
            return default
        return [stem] if n == 1 else [f"{stem}{i}" for i in range(n)]
    names = [given] if isinstance(given, str) else list(given)
    if len(names) != n or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"export: {what} must be {n} non-empty strings, got {given!r}")
    if len(set(names)) != n:
        raise ValueError(f"export: {what} repeats a name: {names}")
    return names


def _graph_name(model: Any) -> str:
    if _trace.owning_module(model) is model:
        return type(model).__name__
    return getattr(model, "__qualname__", None) or type(model).__name__


def _version() -> str:
    from minigrad import __version__

    return __version__


# --------------------------------------------------------------------------- the graph


def _check_supported(trace: _trace.Trace) -> None:
    """Raise UnsupportedOpError naming every recorded op with no exporter, before anything is
    built or written."""
    missing: dict[tuple[type[Function], str], None] = {}
    grouped = _recurrent.group(trace)
    for f in trace.functions:
        if type(f) not in EXPORTERS and id(f) not in grouped:
            missing.setdefault((type(f), _trace.where_called(f, trace)))
    if not missing:
        return
    lines = []
    for cls, where in missing:
        kind = "an op" if cls.__module__.startswith("minigrad.") else "a user Function"
        lines.append(f"op '{cls.name}' ({cls.__name__}, {kind}) called in {where}")
    known = sorted({cls.name for cls in EXPORTERS})
    raise UnsupportedOpError(
        "export: cannot export " + "; ".join(lines) + ": it has no ONNX mapping, and no "
        "file was written. minigrad.onnx exports: " + ", ".join(known)
    )


def _build(
    onnx: Any,
    trace: _trace.Trace,
    opset: int,
    batch: int | None,
    in_names: list[str],
    out_names: list[str],
    graph_name: str,
) -> Any:
    helper = onnx.helper
    b = Builder(onnx, opset, batch)
    for name in [*in_names, *out_names]:
        b.reserve(name)

    values: dict[int, Value] = {}
    graph_inputs = []
    for name, feed in zip(in_names, trace.feeds):
        data = feed.data if isinstance(feed, Variable) else feed
        sym: tuple[Dim, ...] = tuple(data.shape)
        if batch is not None:
            sym = (Batch(),) + sym[1:]
        v = Value(name, data.dtype, tuple(data.shape), sym)
        values[id(feed)] = values[id(data)] = v
        graph_inputs.append(
            helper.make_tensor_value_info(name, b.tensor_type(data.dtype), _dims(sym))
        )

    def lookup(a: Any) -> Value:
        return values.get(id(a)) or constant(a)

    b.lookup = lookup

    users: dict[int, list[Function]] = {}
    for f in trace.functions:
        for x in f.inputs:
            users.setdefault(id(x), []).append(f)
    initializers = []

    def resolve(x: Any) -> Value:
        v = values.get(id(x))
        if v is not None:
            return v
        if isinstance(x, Variable) and x.creator is None and x.requires_grad:
            # A Parameter, or a leaf Variable a plain function trains: an initializer.
            base = _trace.parameter_name(x, users.get(id(x), []), trace) or "param"
            name = b.reserve(base)
            initializers.append(onnx.numpy_helper.from_array(x.data.copy(order="C"), name))
            v = values[id(x)] = Value(name, x.dtype, x.shape, x.shape)
            return v
        if isinstance(x, Variable):
            if x.creator is not None:
                raise RuntimeError(
                    f"export: the input of an op was made by {x.creator.name}, "
                    "which did not run before it"
                )
            return constant(x.data)
        buffer = trace.buffer_names.get(id(x)) if isinstance(x, np.ndarray) else None
        if buffer is not None:
            # A buffer of the model (batch norm's running statistics): an initializer named
            # by its module path, so that `load` gives it back as a buffer of that name.
            name = b.reserve(buffer)
            initializers.append(onnx.numpy_helper.from_array(x.copy(order="C"), name))
            v = values[id(x)] = Value(name, x.dtype, x.shape, x.shape)
            return v
        return constant(x)

    # Recurrent layer calls: one ONNX node per layer, written as soon as their inputs are;
    # their own ops are skipped.
    grouped = _recurrent.group(trace)
    pending = dict(enumerate(trace.layer_calls)) if grouped else {}

    def write_ready_calls() -> None:
        for k, call in list(pending.items()):
            if _recurrent.ready(call, values):
                del pending[k]
                b.scope = trace.module_paths.get(id(call[0].module), "")
                b.op = type(call[0].module).__name__
                for var, value in _recurrent.export_call(b, call, resolve):
                    values[id(var)] = value

    for f in trace.functions:
        if pending:
            write_ready_calls()
        if id(f) in grouped:
            continue
        xs = [resolve(x) for x in f.inputs]
        outs = [ref() for ref in f.outputs]
        b.scope = _trace.scope_path(f, trace)
        b.op = f.name
        b.outs = [(tuple(y.shape), y.dtype) for y in outs if y is not None]
        try:
            result = EXPORTERS[type(f)](b, f, xs)
        except UnsupportedOpError as e:
            raise UnsupportedOpError(
                f"export: {e} (called in {_trace.where_called(f, trace)})"
            ) from None
        # An op of several outputs (chunk, unbind, lstm_cell) gives a list, one per output.
        for y, (name, sym) in zip(outs, result if isinstance(result, list) else [result]):
            if y is not None:
                shape = tuple(y.shape)
                b.batch_dims(shape, sym)
                values[id(y)] = Value(name, y.dtype, shape, sym)

    if pending:
        write_ready_calls()
    graph_outputs = []
    b.scope, b.op = "", ""
    for name, y in zip(out_names, trace.outputs):
        v = resolve(y)
        b.nodes.append(
            helper.make_node("Identity", [b.name(v)], [name], name=b.reserve(f"{name}/Identity"))
        )
        graph_outputs.append(
            helper.make_tensor_value_info(name, b.tensor_type(v.dtype), _dims(v.sym))
        )

    used = {i for node in b.nodes for i in node.input}
    unused = [name for name in in_names if name not in used]
    if unused:
        raise ValueError(
            f"export: the input(s) {unused} do not reach the outputs through recorded ops: "
            "the model used their values outside minigrad's ops (NumPy on .data, a copy, "
            "a dtype conversion), so the file would ignore them; nothing was written"
        )
    return helper.make_graph(b.nodes, graph_name, graph_inputs, graph_outputs, initializers)


def _dims(sym: tuple[Dim, ...]) -> list[Any]:
    """A Value's dims as ONNX shape entries: `N` for the batch, None where a dimension is
    some other multiple of it, the size otherwise."""
    out: list[Any] = []
    for d in sym:
        if isinstance(d, Batch):
            out.append("N" if d.k == 1 else None)
        else:
            out.append(int(d))
    return out
