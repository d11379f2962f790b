"""`load`: an ONNX model as a minigrad Module, its initializers as Parameters, so that an
exported model can be run, fine-tuned and exported again."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from minigrad.core import Parameter, Variable
from minigrad.nn.module import Module
from minigrad.onnx import _io
from minigrad.onnx._builder import UnsupportedOpError
from minigrad.onnx.importers import CHECKS, IMPORTERS, Context

#: The oldest opset `load` reads (the ops' semantics changed at 13: Softmax's axis, the axes
#: of Squeeze and ReduceSum as inputs).
MIN_LOAD_OPSET = 13


class _Group(Module):
    """A node of the loaded model's parameter tree: `fc1` holds `fc1.W` and `fc1.b`, so the
    Parameters keep the dotted names of the file."""

    def forward(self, *args: Any) -> Any:
        raise TypeError(f"{type(self).__name__} only holds Parameters; call the loaded model")


class OnnxModule(Module):
    """An ONNX model run by minigrad's ops; made by `minigrad.onnx.load`.

    Call it like the model it came from: `loaded(x)` or `loaded(x, t)` (positionally in the
    order of the file's inputs, or by their names), with ndarrays or Variables; it returns a
    Variable, or a tuple for several outputs. ndarray inputs are converted to the dtype the
    file declares. The file's floating initializers are Parameters named as in the file
    (`fc1.W`: `loaded.fc1.W`), so `parameters()` feeds an optimizer and `state_dict()` keys
    match the exported model's where its Parameters have one name (`MLP`, `Sequential`;
    TwoLayerNet's `W1` comes back as `layers.Affine1.W`, the name of the layer that used it).
    The running statistics of BatchNormalization nodes are buffers, not Parameters
    (`loaded.bn1.running_mean`).

    Like any Module it starts in training mode, where Dropout nodes drop and
    BatchNormalization normalizes by the batch (updating its buffers); call `eval()` to run it
    as ONNX runtimes do (no dropout, the running statistics). Attributes: `input_names`,
    `output_names`, `op_types`.
    """

    def __init__(self, proto: Any, source: str = "<model>") -> None:
        super().__init__()
        from onnx import helper, numpy_helper

        graph = proto.graph
        _check_opsets(proto, source)
        self._nodes = [
            (n.op_type, list(n.input), list(n.output), _attributes(n, helper, numpy_helper), n.name)
            for n in graph.node
        ]
        _check_ops(graph, self._nodes, source)
        self._source = source
        self._constants: dict[str, Any] = {}
        self._params: dict[str, Parameter] = {}
        #: initializer name -> (the module holding it as a buffer, its attribute name there).
        self._buffers: dict[str, tuple[Module, str]] = {}
        statistics = {
            name for op, ins, *_ in self._nodes if op == "BatchNormalization" for name in ins[3:5]
        }
        for init in graph.initializer:
            a = np.array(numpy_helper.to_array(init))  # a writable copy
            if a.dtype.kind == "f" and init.name in statistics:
                self._buffers[init.name] = _place(self, init.name, a)
            elif a.dtype.kind == "f":
                p = Parameter(a)
                self._params[init.name] = p
                _place(self, init.name, p)
            else:
                self._constants[init.name] = a
        known = {i.name for i in graph.initializer}
        self._inputs = [
            (vi.name, _elem_dtype(vi, helper), _dims(vi))
            for vi in graph.input
            if vi.name not in known
        ]
        self._outputs = [vi.name for vi in graph.output]

    @property
    def input_names(self) -> list[str]:
        """The names of the model's inputs, in call order."""
        return [name for name, _, _ in self._inputs]

    @property
    def output_names(self) -> list[str]:
        """The names of the model's outputs, in return order."""
        return list(self._outputs)

    @property
    def op_types(self) -> list[str]:
        """The ONNX op types of the graph, in node order (with repeats)."""
        return [op for op, *_ in self._nodes]

    def forward(self, *inputs: Any, **named: Any) -> Any:
        """Run the graph: inputs in the file's order (or by name) -> output(s)."""
        feeds = self._feeds(inputs, named)
        # Buffers are read where they live now (`load_state_dict` fills them in place, but an
        # assignment may replace one).
        buffers = {name: getattr(m, attr) for name, (m, attr) in self._buffers.items()}
        env: dict[str, Any] = {**self._constants, **self._params, **buffers, **feeds}
        ctx = Context(self.training)
        for op, ins, outs, attrs, node_name in self._nodes:
            xs = [env[i] if i else None for i in ins]
            ctx.op = op
            try:
                y = IMPORTERS[op](xs, attrs, ctx)
            except (ValueError, TypeError, IndexError) as e:
                if str(e).startswith("load:"):
                    raise
                raise type(e)(f"load: node {node_name or op!r} ({op}): {e}") from e
            if len(outs) == 1:
                env[outs[0]] = y
            else:
                for name, v in zip(outs, y if isinstance(y, tuple) else (y,)):
                    if name:
                        env[name] = v
        results = [env[name] for name in self._outputs]
        results = [
            y if isinstance(y, Variable) else Variable(np.asarray(y), requires_grad=False)
            for y in results
        ]
        return results[0] if len(results) == 1 else tuple(results)

    def _feeds(self, inputs: tuple[Any, ...], named: dict[str, Any]) -> dict[str, Any]:
        names = self.input_names
        if len(inputs) > len(names):
            raise TypeError(f"OnnxModule: takes {len(names)} inputs {names}, got {len(inputs)}")
        given = dict(zip(names, inputs))
        for key, value in named.items():
            if key not in names:
                raise TypeError(f"OnnxModule: no input named {key!r}; the inputs are {names}")
            if key in given:
                raise TypeError(f"OnnxModule: input {key!r} given twice")
            given[key] = value
        missing = [n for n in names if n not in given]
        if missing:
            raise TypeError(f"OnnxModule: missing input(s) {missing}; the inputs are {names}")
        feeds = {}
        for name, dtype, dims in self._inputs:
            x = given[name]
            if not isinstance(x, Variable):
                x = np.asarray(x)
                if dtype is not None and x.dtype != dtype:
                    x = x.astype(dtype)
            shape = tuple(np.shape(x.data if isinstance(x, Variable) else x))
            if dims is not None and (
                len(dims) != len(shape)
                or any(d is not None and d != s for d, s in zip(dims, shape))
            ):
                want = "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"
                raise ValueError(f"OnnxModule: input {name!r} must have shape {want}, got {shape}")
            feeds[name] = x
        return feeds

    def extra_repr(self) -> str:
        return f"{self._source!r}, inputs={self.input_names}, outputs={self.output_names}, nodes={len(self._nodes)}"


def load(path: str | os.PathLike[str]) -> OnnxModule:
    """Read an ONNX model as a minigrad Module that runs it with minigrad's ops.

    The model must be made of the ops `export` writes (opset 13 or newer); any other op
    raises UnsupportedOpError naming it, before anything runs, as does a setting minigrad's ops
    do not have (a grouped or dilated convolution, uneven padding, ceil_mode). Its floating
    initializers become Parameters with the file's names (batch norm's running statistics,
    buffers), so the model can be trained further and exported again; it starts in training
    mode: `load(path).eval()` runs it as ONNX runtimes do. Needs the `onnx` package:
    `pip install "minigrad[onnx]"`.
    """
    onnx = _io.require("onnx", "load")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path!r} is a folder, not an ONNX file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no file {path!r}")
    try:
        proto = onnx.load(path)
    except Exception as e:  # the protobuf decoder's errors have no common public type
        raise ValueError(f"load: {path!r} is not an ONNX model ({type(e).__name__}: {e})") from None
    if not proto.graph.output:
        raise ValueError(f"load: {path!r} is not an ONNX model (it has no graph outputs)")
    return OnnxModule(proto, source=path)


# --------------------------------------------------------------------------- reading the file


def _check_opsets(proto: Any, source: str) -> None:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version < MIN_LOAD_OPSET:
            raise ValueError(
                f"load: {source!r} uses opset {imp.version}; minigrad reads opset "
                f"{MIN_LOAD_OPSET} and newer (convert it with onnx.version_converter)"
            )


def _check_ops(graph: Any, nodes: list[Any], source: str) -> None:
    bad: dict[str, int] = {}
    for n in graph.node:
        if n.domain not in ("", "ai.onnx"):
            key = f"{n.domain}.{n.op_type}"
        elif n.op_type not in IMPORTERS:
            key = n.op_type
        else:
            continue
        bad[key] = bad.get(key, 0) + 1
    if bad:
        found = ", ".join(f"{op} ({k} node{'s' if k > 1 else ''})" for op, k in bad.items())
        raise UnsupportedOpError(
            f"load: {source!r} uses ONNX op(s) minigrad cannot run: {found}. minigrad runs: "
            + ", ".join(sorted(IMPORTERS))
        )
    settings = []
    for op, _, outs, attrs, name in nodes:
        check = CHECKS.get(op)
        problem = check(attrs, len([o for o in outs if o])) if check is not None else None
        if problem:
            settings.append(f"node {name or op!r} ({op}) with {problem}")
    if settings:
        raise UnsupportedOpError(
            f"load: {source!r} has settings minigrad's ops do not have: " + "; ".join(settings)
        )


def _attributes(node: Any, helper: Any, numpy_helper: Any) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif hasattr(v, "data_type") and hasattr(v, "dims"):
            v = np.array(numpy_helper.to_array(v))
        out[a.name] = v
    return out


def _elem_dtype(vi: Any, helper: Any) -> np.dtype | None:
    t = vi.type.tensor_type
    if not t.elem_type:
        return None
    return np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type))


def _dims(vi: Any) -> list[int | None] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _place(root: Module, dotted: str, p: Parameter | np.ndarray) -> tuple[Module, str]:
    """Put `p` (a Parameter, or an ndarray as a buffer) at `dotted` in root's tree of groups
    (`fc1.W` -> root.fc1.W); returns the module that holds it and its attribute name there.
    A name that cannot be a path there (`_x` would be private, `training` or `forward` would
    hide the Module's own, `a` and `a.b` clash) stays flat, with `_` for the dots and `p_` in
    front."""
    parts = dotted.split(".")
    node: Module = root
    ok = all(part and not part.startswith("_") for part in parts)
    if isinstance(p, np.ndarray):
        ok = ok and parts[-1].isidentifier()  # what register_buffer takes
    if ok:
        for part in parts[:-1]:
            child = node.__dict__.get(part)
            if child is None and _free(node, part):
                child = _Group()
                setattr(node, part, child)
            if not isinstance(child, _Group):
                ok = False
                break
            node = child
    if not (ok and _free(node, parts[-1])):
        node = root
        flat = "p_" + dotted.replace(".", "_").lstrip("_")
        if isinstance(p, np.ndarray):
            flat = "".join(c if c.isalnum() else "_" for c in flat)
        while not _free(root, flat):
            flat += "_"
        parts = [flat]
    if isinstance(p, Parameter):
        setattr(node, parts[-1], p)
    else:
        node.register_buffer(parts[-1], p)
    return node, parts[-1]


def _free(node: Module, name: str) -> bool:
    """True if `name` is neither an attribute of `node` nor of its class."""
    return name not in node.__dict__ and not hasattr(type(node), name)
