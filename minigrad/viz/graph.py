"""Reading a recorded graph: the walk from the outputs, module names, and the drawing plan.

This module knows the engine's structures (`Function.inputs`, `.outputs`, `.scope`) and
nothing of DOT: it decides which nodes exist, what role each plays, which box (module call)
each sits in and which edges join them. `minigrad.viz.dot` turns that plan into DOT text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.core import Function, ModuleCall, Parameter, Variable

#: The roles a data node can play; each is drawn in its own style.
ROLES = ("parameter", "input", "constant", "intermediate", "output")


def is_folded(x: Any) -> bool:
    """True for an op input that is a scalar constant, shown in the op's label, not as a node."""
    if isinstance(x, Variable):
        return False
    if isinstance(x, np.ndarray):
        return x.ndim == 0
    return isinstance(x, bool | int | float | complex | np.generic)


@dataclass
class Walk:
    """Everything reachable from the outputs, in the order found (outputs first)."""

    functions: list[Function] = field(default_factory=list)
    #: id -> a Variable or an ndarray constant; both are "data nodes".
    data: dict[int, Any] = field(default_factory=dict)
    #: id of a data node -> the functions that take it as an input (once per input slot).
    consumers: dict[int, list[Function]] = field(default_factory=dict)
    outputs: set[int] = field(default_factory=set)


def walk(outputs: Sequence[Variable]) -> Walk:
    """Collect the functions and data nodes that `outputs` depend on, without recursion."""
    w = Walk()
    seen_f: set[int] = set()
    for v in outputs:
        w.data.setdefault(id(v), v)
        w.outputs.add(id(v))
    stack = list(reversed(outputs))
    while stack:
        f = stack.pop().creator
        if f is None or id(f) in seen_f:
            continue
        seen_f.add(id(f))
        w.functions.append(f)
        for ref in f.outputs:
            y = ref()
            if y is not None:
                w.data.setdefault(id(y), y)
        for x in f.inputs:
            if is_folded(x):
                continue
            w.data.setdefault(id(x), x)
            w.consumers.setdefault(id(x), []).append(f)
            if isinstance(x, Variable):
                stack.append(x)
    return w


def forward_order(w: Walk) -> tuple[list[Function], list[int]]:
    """The functions in the order they ran (by generation) and the data nodes in order of
    first use: a function's inputs, then its outputs; leftover outputs (leaves) last."""
    functions = sorted(w.functions, key=lambda f: f.generation)
    seen: dict[int, None] = {}
    for f in functions:
        for x in f.inputs:
            if not is_folded(x):
                seen.setdefault(id(x))
        for ref in f.outputs:
            y = ref()
            if y is not None:
                seen.setdefault(id(y))
    for i in w.data:
        seen.setdefault(i)
    return functions, list(seen)


def role_of(x: Any, outputs: set[int]) -> str:
    """One of ROLES for a data node."""
    if id(x) in outputs:
        return "output"
    if not isinstance(x, Variable):
        return "constant"
    if x.creator is not None:
        return "intermediate"
    return "parameter" if isinstance(x, Parameter) else "input"


# --------------------------------------------------------------------------- module names


def chain(call: ModuleCall | None) -> list[ModuleCall]:
    """The calls from the outermost one down to `call`, each module call once.

    A call of a module inside a call of the same module (a model's `loss` that records its
    own call and then calls `self(...)`) is merged into the outer one: one box, not two.
    """
    out: list[ModuleCall] = []
    while call is not None:
        if not out or out[-1].module is not call.module:
            out.append(call)
        else:
            out[-1] = call  # keep the outermost of the repeated calls
        call = call.parent
    out.reverse()
    return out


def parent(call: ModuleCall) -> ModuleCall | None:
    """The enclosing call of another module (None at the top); see `chain`."""
    calls = chain(call)
    return calls[-2] if len(calls) > 1 else None


class Names:
    """Names of module calls (`layers.0`, their path in the calling module) and of parameters
    (`fc1.W`, their path in the outermost module), looked up once per module.

    Modules are duck-typed: `named_children()` and `named_parameters()` are used when present.
    """

    def __init__(self) -> None:
        self._children: dict[int, dict[int, str]] = {}
        self._params: dict[int, dict[int, str]] = {}

    def call_name(self, call: ModuleCall) -> tuple[str | None, str]:
        """(the module's attribute path in its parent call's module or None, its class name).

        A module that is no attribute of its caller may name its own box with a string
        attribute `box_label` (a recurrent layer's time steps: `t=0`, `t=1`, ...)."""
        cls = type(call.module).__name__
        label = getattr(call.module, "box_label", None)
        if isinstance(label, str):
            return label, cls
        up = parent(call)
        if up is not None:
            name = self._child_names(up.module).get(id(call.module))
            if name:
                return name, cls
        return None, cls

    def parameter_name(self, p: Variable, calls: Iterable[ModuleCall | None]) -> str | None:
        """The dotted path of `p` in the outermost module that used it, or else `p.name`.

        A path with a dot (`fc1.W`) says more than the bare name; a one-part path (the
        outer module owns `p` directly) gives way to the name the model chose (`W1`).
        """
        path = None
        for call in calls:
            if call is None:
                continue
            root = chain(call)[0].module
            path = self._param_paths(root).get(id(p))
            if path:
                break
        if path and ("." in path or not p.name):
            return path
        return p.name or path

    def _child_names(self, module: Any) -> dict[int, str]:
        key = id(module)
        if key not in self._children:
            names: dict[int, str] = {}
            # Breadth first, so a direct child keeps its short name; deeper ones get a path.
            queue: deque[tuple[str, Any]] = deque([("", module)])
            seen = {id(module)}
            while queue:
                prefix, m = queue.popleft()
                for name, child in _items(m, "named_children"):
                    if id(child) in seen:
                        continue
                    seen.add(id(child))
                    names[id(child)] = prefix + name
                    queue.append((prefix + name + ".", child))
            self._children[key] = names
        return self._children[key]

    def _param_paths(self, module: Any) -> dict[int, str]:
        key = id(module)
        if key not in self._params:
            paths: dict[int, str] = {}
            for n, p in _items(module, "named_parameters"):
                paths.setdefault(id(p), n)  # a shared parameter keeps its first path
            self._params[key] = paths
        return self._params[key]


def _items(module: Any, method: str) -> list[tuple[str, Any]]:
    fn = getattr(module, method, None)
    if fn is None:
        return []
    return list(fn())


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    """What to draw: the nodes, the box (module call) each sits in, and the edges.

    Node names are `d<id>` for a data node (Variable or array constant), `f<id>` for an op
    drawn as itself, `m<id>` for a module call collapsed into one node: unique per object
    and role, so a Variable used twice is still one node.
    """

    walk: Walk
    #: the functions in the order they ran, and the data node ids in order of first use.
    functions: list[Function] = field(default_factory=list)
    data_order: list[int] = field(default_factory=list)
    #: data node id -> its box (None: the top level); only the data nodes that are drawn.
    data_box: dict[int, ModuleCall | None] = field(default_factory=dict)
    #: function id -> its box; only the functions drawn as themselves.
    func_box: dict[int, ModuleCall | None] = field(default_factory=dict)
    #: collapsed module call id -> the call, its box, its op count and the parameters it hides.
    collapsed: dict[int, ModuleCall] = field(default_factory=dict)
    collapsed_box: dict[int, ModuleCall | None] = field(default_factory=dict)
    collapsed_ops: dict[int, int] = field(default_factory=dict)
    collapsed_params: dict[int, list[Variable]] = field(default_factory=dict)
    #: every module call with something drawn inside it (directly or in a nested box).
    boxes: list[ModuleCall] = field(default_factory=list)
    #: (tail, head) node names, each pair once.
    edges: list[tuple[str, str]] = field(default_factory=list)
    #: edges of an op that takes the same input several times (x * x) -> how many times.
    repeats: dict[tuple[str, str], int] = field(default_factory=dict)


def make_plan(w: Walk, cluster_modules: bool, collapse_depth: int) -> Plan:
    """Decide boxes, collapsed module nodes, hidden data nodes and edges.

    `collapse_depth` 0 draws every op; n >= 1 draws each module call at nesting depth n (1 =
    the outermost calls) as one node, hiding the data that stays inside it.
    """
    plan = Plan(walk=w)
    plan.functions, plan.data_order = forward_order(w)
    rep: dict[int, str] = {}  # function id -> the name of the node that stands for it
    rep_box: dict[str, ModuleCall | None] = {}
    chains: dict[int, list[ModuleCall]] = {}
    for f in plan.functions:
        scope = getattr(f, "scope", None)
        if scope is None:
            name = rep[id(f)] = f"f{id(f)}"
            rep_box[name] = plan.func_box[id(f)] = None
            continue
        calls = chains.get(id(scope)) or chains.setdefault(id(scope), chain(scope))
        if collapse_depth and len(calls) >= collapse_depth:
            c = calls[collapse_depth - 1]
            name = rep[id(f)] = f"m{id(c)}"
            if id(c) not in plan.collapsed:
                plan.collapsed[id(c)] = c
                plan.collapsed_ops[id(c)] = 0
                plan.collapsed_params[id(c)] = []
                box = parent(c) if cluster_modules else None
                rep_box[name] = plan.collapsed_box[id(c)] = box
            plan.collapsed_ops[id(c)] += 1
        else:
            name = rep[id(f)] = f"f{id(f)}"
            rep_box[name] = plan.func_box[id(f)] = calls[-1] if cluster_modules else None

    for i in plan.data_order:
        x = w.data[i]
        users = w.consumers.get(i, ())
        hideable = bool(users) and i not in w.outputs
        creator = x.creator if isinstance(x, Variable) else None
        if creator is not None:
            own = rep[id(creator)]
            if own[0] == "m" and hideable and all(rep[id(f)] == own for f in users):
                continue  # stays inside a collapsed module call
            plan.data_box[i] = rep_box[own]
        elif isinstance(x, Parameter):
            user_nodes = [rep[id(f)] for f in users]
            if hideable and all(u[0] == "m" for u in user_nodes):
                for u in dict.fromkeys(user_nodes):
                    plan.collapsed_params[int(u[1:])].append(x)
                continue
            boxes = [rep_box[u] for u in user_nodes]
            plan.data_box[i] = _common_box(boxes) if cluster_modules else None
        else:
            plan.data_box[i] = None  # inputs and constants come from outside every module

    data_box = plan.data_box
    edges = plan.edges
    seen_in: set[tuple[int, str]] = set()
    for f in plan.functions:
        head = rep[id(f)]
        if head[0] == "f":
            ins = [id(x) for x in f.inputs if id(x) in data_box]
            for i in dict.fromkeys(ins):
                edges.append((f"d{i}", head))
                # x * x: one edge marked x2 (graphviz-pure draws parallel edges through
                # the tail node's label).
                n = ins.count(i) if len(ins) > 1 else 1
                if n > 1:
                    plan.repeats[(f"d{i}", head)] = n
        else:
            # A collapsed call takes each input once, however many of its ops use it.
            for x in f.inputs:
                i = id(x)
                if i in data_box and (i, head) not in seen_in:
                    seen_in.add((i, head))
                    edges.append((f"d{i}", head))
        for ref in f.outputs:
            y = ref()
            if y is not None and id(y) in data_box:
                edges.append((head, f"d{id(y)}"))

    # Boxes in the order their first content ran, so the DOT text reads top-down.
    boxes_seen: dict[int, ModuleCall] = {}
    for box in [*rep_box.values(), *data_box.values()]:
        if box is not None and id(box) not in boxes_seen:
            for c in chain(box):
                boxes_seen.setdefault(id(c), c)
    plan.boxes = list(boxes_seen.values())
    return plan


def _common_box(boxes: list[ModuleCall | None]) -> ModuleCall | None:
    """The innermost module call that encloses all of `boxes` (None: the top level)."""
    if not boxes:
        return None
    common = chain(boxes[0])
    for b in boxes[1:]:
        other = chain(b)
        n = 0
        while n < len(common) and n < len(other) and common[n] is other[n]:
            n += 1
        common = common[:n]
    return common[-1] if common else None
