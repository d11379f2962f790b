"""The recording half of `explain_backward`: the engine's observer, which turns each
Function's backward into a `Step`, and the names and DOT node ids the steps refer to."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.core import Function, ModuleCall, Parameter, Variable
from minigrad.viz import explain_steps as S
from minigrad.viz.graph import Names, chain, is_folded


def leaf_candidates(plan: Any) -> list[Variable]:
    """The leaf Variables that require grad, in the order the forward pass first used them."""
    out = []
    data = plan.walk.data
    for i in plan.data_order:
        x = data[i]
        if isinstance(x, Variable) and x.creator is None and x.requires_grad:
            out.append(x)
    return out


class NodeIds:
    """The DOT node id (and cluster name) of each Function and data node, as `to_dot` names
    them for the same plan: `f<id>` for an op, `m<id>` for a collapsed module call, `d<id>`
    for data; `cluster_<k>` for the k-th box of `plan.boxes`."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan
        self.box_numbers = {id(c): k for k, c in enumerate(plan.boxes)}

    def op(self, f: Function) -> tuple[str, str | None]:
        plan = self.plan
        if id(f) in plan.func_box:
            return f"f{id(f)}", self._cluster(plan.func_box[id(f)])
        for c in chain(getattr(f, "scope", None)):
            if id(c) in plan.collapsed:
                return f"m{id(c)}", self._cluster(plan.collapsed_box[id(c)])
        return f"f{id(f)}", None  # not drawn (cannot happen for a walked graph)

    def data(self, x: Any) -> str | None:
        return f"d{id(x)}" if id(x) in self.plan.data_box else None

    def _cluster(self, box: ModuleCall | None) -> str | None:
        if box is None:
            return None
        k = self.box_numbers.get(id(box))
        return None if k is None else f"cluster_{k}"


class Namer:
    """Names for the text: a Variable's name (a parameter's path in its model, as the picture
    shows it), else `<op> output` for an intermediate, `input` for a leaf (numbered when
    there are several unnamed ones)."""

    def __init__(self, plan: Any, names: Names) -> None:
        self.plan = plan
        self.names = names
        self._cache: dict[int, str] = {}
        self._unnamed_leaves = 0

    def data(self, x: Any) -> str:
        key = id(x)
        got = self._cache.get(key)
        if got is not None:
            return got
        name: str | None = "constant"
        if isinstance(x, Variable):
            name = None
            if isinstance(x, Parameter):
                users = self.plan.walk.consumers.get(key, [])
                name = self.names.parameter_name(x, (getattr(f, "scope", None) for f in users))
            name = name or x.name
            if not name:
                f = x.creator
                if f is not None:
                    outs = [r() for r in f.outputs]
                    k = next((i for i, y in enumerate(outs) if y is x), 0)
                    name = f"{S.op_label(f)} output" + (f" {k}" if len(outs) > 1 else "")
                else:
                    self._unnamed_leaves += 1
                    name = "input" if self._unnamed_leaves == 1 else f"input {self._unnamed_leaves}"
        assert name is not None
        self._cache[key] = name
        return name

    def module(self, f: Function) -> str | None:
        calls = chain(getattr(f, "scope", None))
        if not calls:
            return None
        parts = []
        for c in calls:
            name, cls = self.names.call_name(c)
            parts.append(name or cls)
        return " / ".join(parts)


class Recorder:
    """The engine's observer: turns each Function's backward into a `Step`, mirroring the
    engine's sums (the first contribution as it came, a later one added to a new buffer that
    then takes the rest in place) so that each sum and each running leaf gradient is the
    engine's own, bit for bit."""

    def __init__(self, ids: NodeIds, namer: Namer, plan: Any) -> None:
        self.ids = ids
        self.namer = namer
        self.steps: list[S.Step] = []
        # Variable -> (gradient so far, whether that buffer is ours to add into).
        self.acc: dict[Variable, tuple[np.ndarray, bool]] = {}
        self.leaf_grads: dict[str, S.ArrayInfo] = {}
        self.leaf_names: dict[int, str] = {}
        self.last_step: dict[int, int] = {}
        for x in leaf_candidates(plan):
            self.leaf_names[id(x)] = self._unique_leaf_name(namer.data(x))

    def _unique_leaf_name(self, name: str) -> str:
        taken = set(self.leaf_names.values())
        if name not in taken:
            return name
        k = 2
        while f"{name} ({k})" in taken:
            k += 1
        return f"{name} ({k})"

    def seed(self, output: Variable, seed: np.ndarray) -> None:
        self.acc[output] = (seed, False)

    def __call__(self, f: Function, gys: Any, gxs: Any) -> None:
        number = len(self.steps) + 1
        namer, ids = self.namer, self.ids
        outputs = []
        for ref, gy in zip(f.outputs, gys):
            y = ref()
            if y is not None:
                self.acc.pop(y, None)  # complete now: its creator consumed it
            outputs.append(
                S.Received(
                    name="output" if y is None else namer.data(y),
                    node=None if y is None else ids.data(y),
                    grad=None if gy is None else S.info(gy),
                )
            )
        inputs = []
        for i, (x, need, gx) in enumerate(zip(f.inputs, f.needs_input_grad, gxs)):
            if is_folded(x):
                inputs.append(S.Sent(i, S.scalar_text(x), None, False, None, None, False))
                continue
            name = namer.data(x)
            node = ids.data(x)
            if not (need and gx is not None and isinstance(x, Variable)):
                inputs.append(S.Sent(i, name, node, False, None, None, False))
                continue
            gx = gx.data if isinstance(gx, Variable) else np.asarray(gx)
            added = S.info(gx)
            total = self._add(x, gx)
            acc_info = None
            if total is not None:
                prev, new = total
                acc_info = S.Accumulation(name, prev, added, new)
            leaf = x.creator is None
            if leaf and id(x) in self.leaf_names:
                self.last_step[id(x)] = number
                self.leaf_grads = dict(self.leaf_grads)
                self.leaf_grads[self.leaf_names[id(x)]] = (
                    acc_info.total if acc_info is not None else added
                )
            inputs.append(S.Sent(i, name, node, True, added, acc_info, leaf))
        node, box = ids.op(f)
        self.steps.append(
            S.Step(
                number=number,
                function=f,
                op=f.name,
                label=S.op_label(f),
                node=node,
                module=namer.module(f),
                box=box,
                rule=getattr(f, "rule", None),
                outputs=outputs,
                inputs=inputs,
                leaf_grads=self.leaf_grads,
            )
        )

    def _add(self, x: Variable, gx: np.ndarray) -> tuple[S.ArrayInfo, S.ArrayInfo] | None:
        """Mirror `_engine._add`; return (previous, total) infos when a sum was formed."""
        prev = self.acc.get(x)
        if prev is None:
            self.acc[x] = (gx, False)
            return None
        g, mutable = prev
        before = S.info(g)
        if mutable:
            np.add(g, gx, out=g)
        else:
            g = np.asarray(g + gx)
            self.acc[x] = (g, True)
        return before, S.info(g)

    def finish(
        self, before: dict[int, Variable | None], numeric: dict[int, Any] | None
    ) -> list[S.Leaf]:
        leaves = []
        plan_leaves = {id(x): x for x in self.acc if x.creator is None}
        for key, name in self.leaf_names.items():
            x = plan_leaves.get(key)
            if x is None or x.grad is None:
                continue
            g = x.grad.data
            leaf = S.Leaf(
                name=name,
                node=self.ids.data(x),
                variable=x,
                grad=S.info(g),
                had_grad=before.get(key) is not None,
                last_step=self.last_step.get(key, 0),
            )
            if numeric is not None and key in numeric:
                est, checked = numeric[key]
                leaf.numeric = S.info(est)
                leaf.checked = checked
                mask = ~np.isnan(est)
                # The check is of this pass's gradient: a .grad held before is left out.
                mine = g.astype(np.float64)
                if leaf.had_grad:
                    old = before[key]
                    assert old is not None
                    mine = mine - old.data.astype(np.float64)
                diff = np.abs(mine - est)[mask]
                leaf.max_abs_diff = float(diff.max()) if diff.size else 0.0
                rtol, atol = (1e-5, 1e-7) if g.dtype == np.float64 else (1e-3, 1e-5)
                leaf.agrees = bool(
                    np.all(diff <= atol + rtol * np.abs(est[mask])) if diff.size else True
                )
            leaves.append(leaf)
        return leaves
