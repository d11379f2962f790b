"""`to_dot`: a recorded graph as a `graphviz.Digraph`, with HTML-like labels and module boxes.

Labels are plain or HTML-like, never records: graphviz-pure drops edges into nested record
fields. Node lines are written into the Digraph's body directly (its `node()` costs about
10 us a call, which a 100,000-op chain would feel).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.core import ModuleCall, Parameter, Variable
from minigrad.viz.graph import (
    Names,
    Plan,
    is_folded,
    make_plan,
    parent,
    role_of,
    walk,
)

if TYPE_CHECKING:
    import graphviz

__all__ = ["to_dot", "STYLES"]

_FONT = "Helvetica"
_SMALL = 10

#: Node attributes per role; the legend shows the same.
STYLES: dict[str, dict[str, str]] = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6", "color": "#4a78a8"},
    "parameter": {"shape": "ellipse", "style": "filled", "fillcolor": "#fde2b5"},
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#d5f0d0"},
    "constant": {"shape": "ellipse", "style": "filled,dashed", "fillcolor": "#eeeeee"},
    "intermediate": {"shape": "ellipse", "style": "solid"},
    "output": {"shape": "ellipse", "style": "filled", "fillcolor": "#f9d0d0", "peripheries": "2"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#e8e0f5"},
}
_ATTRS = {role: " ".join(f'{k}="{v}"' for k, v in a.items()) for role, a in STYLES.items()}
_BOX = {
    "style": "rounded,filled",
    "fillcolor": "#f6f6f6",
    "color": "#9a9a9a",
    "fontsize": "10",
    "labelloc": "t",
    "labeljust": "l",
}
_BOX_FILLS = ("#f6f6f6", "#ececec")  # nested boxes alternate, so each edge is visible
_RANKDIRS = ("TB", "LR", "BT", "RL")
_VALUE_MAX_ELEMENTS = 4
#: Ops whose scalar operand reads the same on either side (`mul 2.0` for 2.0 * x too).
_COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum"})


def to_dot(
    *outputs: Variable,
    show_shapes: bool = True,
    show_dtypes: bool = True,
    show_grads: bool = False,
    show_values: bool = False,
    cluster_modules: bool = True,
    collapse_modules: bool | int = False,
    rankdir: str = "TB",
    legend: bool = False,
    title: str | None = None,
) -> graphviz.Digraph:
    """The graph that computed `outputs`, as a `graphviz.Digraph` (`.source` is the DOT text).

    Data nodes (ellipses) show their name, shape and dtype; parameters, inputs, array
    constants, intermediates and the outputs each have their own colour. Op nodes (boxes)
    show the op's `label()`, with scalar constants folded in (`mul 2.0`).

    - `show_grads`: after a backward, each Variable with a `.grad` shows its shape and norm
      (its value when it has one element).
    - `show_values`: Variables and constants of at most 4 elements show their values.
    - `cluster_modules`: the ops run inside a Module call are boxed and labelled with the
      module's name (nested calls, nested boxes; one box per call).
    - `collapse_modules`: True draws each outermost module call as one node, hiding the ops
      and data inside it (for large models); an int n does so for the calls at nesting depth
      n (2: the layers of a model that was itself called as a module).
    - `rankdir`: "TB" (top to bottom), "LR", "BT" or "RL"; `legend` adds a key of the styles
      that the picture uses; `title` is written above the graph (a newline starts a line).

    The walk is iterative: a chain of 100,000 ops converts without recursion.
    """
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "to_dot needs the 'graphviz' package (DOT building): pip install graphviz"
        ) from None
    for i, v in enumerate(outputs):
        if not isinstance(v, Variable):
            raise TypeError(f"to_dot: outputs[{i}] is a {type(v).__name__}, not a Variable")
    if not outputs:
        raise ValueError("to_dot: give at least one output Variable")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"to_dot: rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    depth = _collapse_depth(collapse_modules)

    plan = make_plan(walk(outputs), cluster_modules, depth)
    names = Names()
    opts = _LabelOptions(show_shapes, show_dtypes, show_grads, show_values)
    lines: dict[int | None, list[str]] = {None: []}  # box id (None: top level) -> body lines
    w = plan.walk
    used: set[str] = set()  # the roles drawn, for the legend

    # Nodes in the order they were computed (dot keeps that order within a rank when it can).
    for i in plan.data_order:
        if i in plan.data_box:
            x = w.data[i]
            label = _data_label(x, _data_name(x, names, w.consumers.get(i, [])), opts)
            role = role_of(x, w.outputs)
            used.add(role)
            _add(lines, plan.data_box[i], _node(f"d{i}", label, role))
    for f in plan.functions:
        i = id(f)
        if i in plan.func_box:
            label = html.escape(_op_label(f))
            used.add("op")
            _add(lines, plan.func_box[i], _node(f"f{i}", label, "op"))
    for i, c in plan.collapsed.items():
        label = _collapsed_label(c, plan, names)
        used.add("module")
        _add(lines, plan.collapsed_box[i], _node(f"m{i}", label, "module"))
    if plan.boxes:
        used.add("box")
    edges = [
        f'\t{t} -> {h} [label="x{n}" fontsize="9"]\n'
        if (n := plan.repeats.get((t, h)))
        else f"\t{t} -> {h}\n"
        for t, h in plan.edges
    ]

    g = graphviz.Digraph(
        graph_attr={"rankdir": rankdir, "fontname": _FONT},
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"color": "#555555", "arrowsize": "0.7", "fontname": _FONT},
    )
    if title or legend:
        # The legend is part of the graph's label, not a node: a tall node would stretch
        # the rank it lands on.
        g.attr(label=f"<{_graph_label(title, used if legend else None)}>", labelloc="t")
        g.attr(fontsize="14")
    g.body.extend(_nest_boxes(plan, lines, names))
    g.body.extend(edges)
    return g


def _collapse_depth(collapse_modules: bool | int) -> int:
    if collapse_modules is True:
        return 1
    if collapse_modules is False:
        return 0
    if not isinstance(collapse_modules, int) or collapse_modules < 0:
        raise ValueError(
            "to_dot: collapse_modules must be True, False or a nesting depth >= 1, "
            f"got {collapse_modules!r}"
        )
    return collapse_modules


def _add(lines: dict[int | None, list[str]], box: ModuleCall | None, line: str) -> None:
    lines.setdefault(None if box is None else id(box), []).append(line)


def _node(node_id: str, label: str, role: str) -> str:
    return f"\t{node_id} [label=<{label}> {_ATTRS[role]}]\n"


def _nest_boxes(plan: Plan, lines: dict[int | None, list[str]], names: Names) -> list[str]:
    """The body: top-level lines, then one `subgraph cluster_k` per box, nested as called.
    Every box has its label in the same place, its top left corner."""
    children: dict[int | None, list[ModuleCall]] = {}
    for c in plan.boxes:
        up = parent(c)
        children.setdefault(None if up is None else id(up), []).append(c)
    out = list(lines[None])
    numbers = {id(c): k for k, c in enumerate(plan.boxes)}
    # An explicit stack of (call, depth, closing?) so deep nesting needs no recursion.
    stack: list[tuple[ModuleCall, int, bool]] = [
        (c, 1, False) for c in reversed(children.get(None, []))
    ]
    while stack:
        c, depth, closing = stack.pop()
        pad = "\t" * depth
        if closing:
            out.append(f"{pad}}}\n")
            continue
        label = _box_label(c, names)
        attrs = dict(_BOX, fillcolor=_BOX_FILLS[(depth - 1) % 2])
        out.append(f"{pad}subgraph cluster_{numbers[id(c)]} {{\n")
        out.append(f"{pad}\tlabel=<{label}>\n")
        out.extend(f'{pad}\t{k}="{v}"\n' for k, v in attrs.items())
        out.extend(pad + line for line in lines.get(id(c), []))
        stack.append((c, depth, True))
        stack.extend((k, depth + 1, False) for k in reversed(children.get(id(c), [])))
    return out


# --------------------------------------------------------------------------- labels


class _LabelOptions:
    __slots__ = ("shapes", "dtypes", "grads", "values")

    def __init__(self, shapes: bool, dtypes: bool, grads: bool, values: bool) -> None:
        self.shapes = shapes
        self.dtypes = dtypes
        self.grads = grads
        self.values = values


def shape_text(shape: tuple[int, ...]) -> str:
    """`(100, 784)`, `(3,)`, or `scalar` for a 0-d array."""
    return str(tuple(shape)) if shape else "scalar"


def _data_name(x: Any, names: Names, users: list[Any]) -> str | None:
    if not isinstance(x, Variable):
        return None
    if isinstance(x, Parameter):
        return names.parameter_name(x, (getattr(f, "scope", None) for f in users))
    return x.name


def _data_label(x: Any, name: str | None, opts: _LabelOptions) -> str:
    data = x.data if isinstance(x, Variable) else x
    rows = []
    if name:
        rows.append(f"<b>{html.escape(name)}</b>")
    desc = []
    if opts.shapes:
        desc.append(shape_text(data.shape))
    if opts.dtypes:
        desc.append(_dtype_text(data.dtype))
    if desc:
        rows.append(_small(" ".join(desc)) if name else " ".join(desc))
    if opts.values and data.size <= _VALUE_MAX_ELEMENTS:
        rows.append("= " + html.escape(_value_text(data)))
    if opts.grads and isinstance(x, Variable) and x.grad is not None:
        rows.append(_small(html.escape(_grad_text(x.grad.data)), color="#a02818"))
    return "<br/>".join(rows)


_DTYPE_TEXT: dict[np.dtype, str] = {}


def _dtype_text(dt: np.dtype) -> str:
    # str(dtype) costs ~5 us, felt on a 100,000-node graph.
    text = _DTYPE_TEXT.get(dt)
    if text is None:
        text = _DTYPE_TEXT[dt] = str(dt)
    return text


def _small(text: str, color: str | None = None) -> str:
    c = f' color="{color}"' if color else ""
    return f'<font point-size="{_SMALL}"{c}>{text}</font>'


def _value_text(a: np.ndarray) -> str:
    if a.size == 1:
        return _number(a.reshape(()).item())
    return np.array2string(a, precision=4, separator=", ")


def _grad_text(g: np.ndarray) -> str:
    if g.size == 1:
        return "grad = " + _number(g.reshape(()).item())
    norm = float(np.linalg.norm(g.astype(np.float64, copy=False)))
    return f"grad {shape_text(g.shape)} norm {norm:.4g}"


def _number(v: Any) -> str:
    """A short form of a scalar: `2.0`, `3`, `1.1` (float32's shortest form), `0.0001235`."""
    if isinstance(v, bool | int | np.integer | np.bool_):
        return str(v)
    text = repr(v) if type(v) is float else str(v)
    if len(text) > 8 and isinstance(v, float | np.floating):
        text = f"{float(v):.4g}"
        if text.lstrip("-").isdigit():
            text += ".0"  # 110.00000000000001 reads 110.0, still a float
    return text


def _op_label(f: Any) -> str:
    """The op's `label()` with its scalar constants: `mul 2.0`, or `sub (1, ·)` for 1 - x."""
    base = f.label()
    args: list[str | None] = []
    trailing = True  # all scalars come after the graph inputs
    seen_scalar = False
    for x in f.inputs:
        if is_folded(x):
            seen_scalar = True
            args.append(_number(x[()] if isinstance(x, np.ndarray) else x))
        else:
            if seen_scalar:
                trailing = False
            args.append(None)
    if not seen_scalar:
        return base
    if trailing or f.name in _COMMUTATIVE:
        return base + " " + ", ".join(a for a in args if a is not None)
    return base + " (" + ", ".join("·" if a is None else a for a in args) + ")"


def _box_label(c: ModuleCall, names: Names) -> str:
    """A box shows the module's attribute path (`fc1`), or its class at the top level.

    One short line, left-justified: edges enter a box at its top, mostly near the middle,
    and would cross a long centred label.
    """
    name, cls = names.call_name(c)
    return f"<b>{html.escape(name or cls)}</b>"


def _collapsed_label(c: ModuleCall, plan: Plan, names: Names) -> str:
    """`<b>fc1</b>` over `Linear, 1 op` and the parameters it hides (the first four)."""
    name, cls = names.call_name(c)
    n = plan.collapsed_ops[id(c)]
    ops = f"{n} op{'s' if n != 1 else ''}"
    rows = [f"<b>{html.escape(name or cls)}</b>", _small(f"{cls}, {ops}" if name else ops)]
    params = plan.collapsed_params[id(c)]
    if params:
        shown = [names.parameter_name(p, [c]) or shape_text(p.shape) for p in params[:4]]
        more = f" +{len(params) - 4}" if len(params) > 4 else ""
        rows.append(_small(html.escape(", ".join(shown)) + more))
    return "<br/>".join(rows)


def _graph_label(title: str | None, legend: set[str] | None) -> str:
    """The title over a one-row key of the node styles in `legend` (the roles drawn)."""
    rows = []
    entries = [(role, text) for role, text in _LEGEND if legend is not None and role in legend]
    table = '<table border="0" cellborder="0" cellspacing="2" cellpadding="3">'
    if title:
        lines = "<br/>".join(html.escape(line) for line in title.split("\n"))
        rows.append(f"<tr><td>{lines}</td></tr>")
    if entries:
        cells = []
        for role, text in entries:
            fill = _BOX_FILLS[0] if role == "box" else STYLES[role].get("fillcolor", "#ffffff")
            cells.append(
                f'<td border="1" bgcolor="{fill}"><font point-size="11">{text}</font></td>'
            )
        # A table of its own: the key keeps its width under a wide title.
        rows.append(f"<tr><td>{table}<tr>{''.join(cells)}</tr></table></td></tr>")
    return table + "".join(rows) + "</table>"


_LEGEND = (
    ("parameter", "parameter"),
    ("input", "input"),
    ("constant", "array constant"),
    ("intermediate", "intermediate"),
    ("output", "output"),
    ("op", "op"),
    ("module", "module call"),
    ("box", "module box"),
)
