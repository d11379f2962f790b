"""The backward pass, step by step: `explain_backward` runs the real backward of an output and
records what each Function did, in the engine's order, as plain data (`BackwardTrace`).

The trace is read by tests and users (`trace.steps[k].inputs[0].grad.values`), printed
(`print(trace)`), and shown: `trace.save_html(path)` writes a self-contained explorer page,
Jupyter shows the same page inline, `trace.save_frames(folder)` and `trace.save_gif(path)`
draw one picture per step. Recording goes through the engine's observer hook
(`minigrad._engine.run_backward(..., observer=...)`), so the order, the numbers and the effect
on `.grad` are those of `output.backward()`.
"""

from __future__ import annotations

import os
from typing import Any

from minigrad._engine import _released_error, _seed, run_backward, sort_functions
from minigrad.core import Variable
from minigrad.viz import _explain_frames, _explain_page, _explain_text
from minigrad.viz._explain_record import Namer, NodeIds, Recorder, leaf_candidates
from minigrad.viz.dot import to_dot
from minigrad.viz.explain_steps import (
    Accumulation,
    ArrayInfo,
    Leaf,
    Received,
    Sent,
    Step,
    info,
)
from minigrad.viz.graph import Names, chain, make_plan, walk
from minigrad.viz.render import _write_text

__all__ = [
    "explain_backward",
    "BackwardTrace",
    "Step",
    "Received",
    "Sent",
    "Accumulation",
    "Leaf",
    "ArrayInfo",
]

#: Past this many steps, each module call is drawn as one node (and the page says so).
COLLAPSE_STEPS = 500
#: Past this many nodes (after collapsing), no picture is drawn: the page lists the steps.
DRAW_MAX_NODES = 1500
#: When collapsing, the deepest module level whose picture has at most this many nodes.
COLLAPSED_MAX_NODES = 400

# --------------------------------------------------------------------------- the trace


class BackwardTrace:
    """The record of one backward pass (see `explain_backward`).

    Attributes: `output` (the Variable), `output_name`, `seed` (the gradient the pass started
    from), `steps` (a list of `Step`), `leaves` (a list of `Leaf`), `dot_source` (the DOT of
    the picture whose node ids the steps name), `collapsed` (True when module calls are drawn
    as one node each), `note` (why the picture is simplified or missing, else None),
    `checked` (True when `check=True` was given).
    """

    def __init__(
        self,
        output: Variable,
        output_name: str,
        seed: ArrayInfo,
        steps: list[Step],
        leaves: list[Leaf],
        dot_source: str | None,
        collapsed: bool,
        note: str | None,
        checked: bool,
    ) -> None:
        self.output = output
        self.output_name = output_name
        self.seed = seed
        self.steps = steps
        self.leaves = leaves
        self.dot_source = dot_source
        self.collapsed = collapsed
        self.note = note
        self.checked = checked
        self._svg: str | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return (
            f"<BackwardTrace of {self.output_name}: {len(self.steps)} steps, "
            f"{len(self.leaves)} leaves>"
        )

    def __str__(self) -> str:
        return _explain_text.trace_text(self)

    # -- the explorer page
    def to_html(self, title: str | None = None) -> str:
        """The explorer as one self-contained HTML page (a str); see `save_html`."""
        return _explain_page.page_html(self, title)

    def save_html(self, path: str | os.PathLike[str], title: str | None = None) -> str:
        """Write the explorer page to `path` (atomically) and return the path.

        One file, no network: the graph is drawn once as inline SVG and the steps are data.
        Previous/next/play buttons, the arrow keys, a slider; `page.html#step=3` opens step 3.
        """
        out = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        _write_text(out, self.to_html(title))
        return out

    def _repr_html_(self) -> str:
        return _explain_page.notebook_html(self)

    # -- pictures per step
    def save_frames(self, folder: str | os.PathLike[str]) -> list[str]:
        """Draw one PNG per step into `folder` (`step_001.png`, ...); return the paths.

        Each frame is the graph with the step's op highlighted, the edges its gradients
        flow back along in red, and every Variable's gradient so far under its node. All
        frames share one layout and one size. Needs a DOT renderer (graphviz-pure, installed
        with minigrad).
        """
        return _explain_frames.save_frames(self, os.fspath(folder))

    def save_gif(self, path: str | os.PathLike[str], seconds_per_step: float = 1.2) -> str:
        """Write the frames as an animation and return the path: a GIF for `.gif` (needs
        Pillow: `pip install "minigrad[examples]"`), an animated PNG (APNG, no extra
        package) for `.png` or `.apng`. The last frame is held three times as long."""
        return _explain_frames.save_animation(self, os.fspath(path), seconds_per_step)


# --------------------------------------------------------------------------- recording


def explain_backward(
    output: Variable,
    grad: Any = None,
    check: bool = False,
    *,
    retain_graph: bool = False,
    rankdir: str = "TB",
) -> BackwardTrace:
    """Run `output.backward(grad)` and record it, one `Step` per Function, in the engine's order.

    The pass is the real one (the engine, its order and its numbers), with the same effect on
    `.grad` as `output.backward(grad, retain_graph=retain_graph)`; the same bad input gives
    the same errors (an output that needs no grad, a non-scalar output without `grad`, a
    graph already released by a backward). The pass is first order (`create_graph=False`);
    the output of a graph recorded with `create_graph=True` (a gradient) is explained like
    any other.

    With `check=True`, each leaf's gradient is compared with a central-difference estimate
    in float64, made by replaying the recorded forward pass before the backward releases it:
    two replays of the ops downstream of a leaf per element (at most 1,000 elements per leaf,
    evenly spaced, for a larger leaf).

    `rankdir` ("TB", "LR", ...) sets the direction of the picture. Past 500 ops, module
    calls are drawn as one node each (at the deepest nesting level that keeps the picture
    to 400 nodes); past 1,500 nodes, the page shows no picture. `trace.note` says which.

    Returns a `BackwardTrace`: `print(trace)`, `trace.steps`, `trace.save_html(path)`.
    """
    if not isinstance(output, Variable):
        raise TypeError(f"explain_backward: output is a {type(output).__name__}, not a Variable")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"explain_backward: rankdir must be TB, LR, BT or RL, got {rankdir!r}")
    if not output.requires_grad:
        # The engine's own check and message (run_backward raises it first thing).
        run_backward([output], [grad], retain_graph, False)
    seed = _seed(output, grad, False)  # the engine's errors for a missing or mis-shaped grad
    order = sort_functions([output])
    for f in order:
        if f.released:
            raise _released_error(f)
    names = Names()
    w = walk([output])
    n_ops = len(w.functions)
    plan, collapse = _picture_plan(w, n_ops)
    ids = NodeIds(plan)
    namer = Namer(plan, names)

    numeric = None
    if check:
        from minigrad.viz._explain_check import numerical_grads

        to_check = [x for x in leaf_candidates(plan) if x.data.dtype.kind == "f"]
        numeric = numerical_grads(output, seed, to_check, w.functions)

    before = {id(x): x.grad for x in leaf_candidates(plan)}
    rec = Recorder(ids, namer, plan)
    rec.seed(output, seed)
    run_backward([output], [grad], retain_graph, False, observer=rec)

    leaves = rec.finish(before, numeric)
    note = None
    if collapse:
        level = (
            "each outermost module call"
            if collapse == 1
            else f"each module call at depth {collapse}"
        )
        note = (
            f"The graph has {n_ops} ops (over {COLLAPSE_STEPS}): {level} is drawn as one "
            "node, and the steps inside it highlight that node."
        )
    n_nodes = _count_nodes(plan)
    dot_source = None
    if n_nodes > DRAW_MAX_NODES:
        note = (
            f"The graph has {n_ops} ops and {n_nodes} nodes to draw (over {DRAW_MAX_NODES}), "
            "too many for a readable picture: the steps are listed without it."
        )
    else:
        g = to_dot(output, show_values=True, collapse_modules=collapse, rankdir=rankdir)
        # Bounds the layout's network simplex (2 x nodes iterations): a parameter shared by
        # 70 ops took graphviz-pure 100 s to place without it, 1 s with it; small graphs
        # converge before the bound and are drawn the same.
        g.attr(nslimit="2", nslimit1="2")
        dot_source = g.source
    return BackwardTrace(
        output=output,
        output_name=namer.data(output),
        seed=info(seed),
        steps=rec.steps,
        leaves=leaves,
        dot_source=dot_source,
        collapsed=bool(collapse),
        note=note,
        checked=check,
    )


def _count_nodes(plan: Any) -> int:
    return len(plan.data_box) + len(plan.func_box) + len(plan.collapsed)


def _picture_plan(w: Any, n_ops: int) -> tuple[Any, int]:
    """The drawing plan and its collapse depth (0: every op drawn).

    Past COLLAPSE_STEPS ops, module calls become nodes: at the deepest nesting level whose
    picture keeps to COLLAPSED_MAX_NODES nodes (the outermost calls if none does). A graph
    with no module calls has nothing to collapse.
    """
    if n_ops <= COLLAPSE_STEPS:
        return make_plan(w, True, 0), 0
    deepest = max((len(chain(getattr(f, "scope", None))) for f in w.functions), default=0)
    if deepest == 0:
        return make_plan(w, True, 0), 0
    best = make_plan(w, True, 1), 1
    for depth in range(2, deepest + 1):
        plan = make_plan(w, True, depth)
        if _count_nodes(plan) > COLLAPSED_MAX_NODES:
            break
        best = plan, depth
    return best
