"""The explorer page of a `BackwardTrace`: the template (package data in `explorer/`), the
graph drawn once as inline SVG, and the steps as JSON that the page's script walks through."""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from importlib import resources
from typing import TYPE_CHECKING, Any

from minigrad.viz.render import RendererNotFoundError, RenderError, find_renderer, render

if TYPE_CHECKING:
    from minigrad.viz.explain import ArrayInfo, BackwardTrace

#: Milliseconds per step when the page plays.
INTERVAL_MS = 1200
#: Seconds the renderer may take to lay out the page's graph. Layout time depends on the
#: shape: a 500-op chain takes 1 s, but a value shared by hundreds of ops (long edges
#: across every rank) can take minutes; the page then goes without the picture.
RENDER_TIMEOUT = 30.0


def _asset(name: str) -> str:
    return resources.files("minigrad.viz").joinpath("explorer", name).read_text(encoding="utf-8")


def svg_of(trace: BackwardTrace) -> tuple[str | None, str | None]:
    """(the graph as inline SVG, None), or (None, why there is no picture). Drawn once per
    trace."""
    if trace.dot_source is None:
        return None, None
    if trace._svg is not None:
        return trace._svg, None
    try:
        exe = find_renderer()
    except RendererNotFoundError as e:
        return None, str(e)
    if exe is None:
        return None, (
            "No DOT renderer was found to draw the graph (pip install graphviz-pure, or the "
            "system Graphviz package); the steps are listed without it."
        )
    with tempfile.TemporaryDirectory(prefix="minigrad-explain-") as td:
        out = os.path.join(td, "graph.svg")
        try:
            render(trace.dot_source, exe, "svg", out, RENDER_TIMEOUT)
        except RenderError as e:
            return None, f"The graph could not be drawn: {e}"
        with open(out, encoding="utf-8") as fh:
            text = fh.read()
    trace._svg = _inline(text)
    return trace._svg, None


def _inline(svg: str) -> str:
    """An SVG file as an element to put in HTML: no XML prolog, doctype or comments (the
    renderer's comments repeat every node id)."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return svg.strip()


def _g(info: ArrayInfo | None) -> list[str] | None:
    """[shape and dtype, values or summary, short form] for the page."""
    if info is None:
        return None
    shape = str(tuple(info.shape)) if info.shape else "scalar"
    return [f"{shape} {info.dtype}", info.text, info.tag]


def page_data(trace: BackwardTrace, title: str) -> dict[str, Any]:
    """The steps as the page reads them (see explorer.js)."""
    leaf_index = {leaf.name: i for i, leaf in enumerate(trace.leaves)}
    # A data node's gradient is final from its last contribution on.
    last: dict[str, int] = {}
    for s in trace.steps:
        for x in s.inputs:
            if x.node is not None and x.grad is not None:
                last[x.node] = s.number
    steps = []
    prev_leaves: dict[str, Any] = {}
    for s in trace.steps:
        recv = []
        for x in s.inputs:
            if x.node is None or x.grad is None:
                continue
            now = x.sum.total if x.sum is not None else x.grad
            recv.append([x.node, now.tag, int(last.get(x.node) == s.number)])
        lv = [
            [leaf_index[name], _g(info)]
            for name, info in s.leaf_grads.items()
            if name in leaf_index and prev_leaves.get(name) is not info
        ]
        prev_leaves = s.leaf_grads
        steps.append(
            {
                "label": s.label,
                "node": s.node,
                "box": s.box,
                "module": s.module,
                "rule": s.rule,
                "outs": [[r.name, r.node, _g(r.grad)] for r in s.outputs],
                "ins": [
                    [x.name, x.node, _g(x.grad), None if x.sum is None else x.sum.text]
                    for x in s.inputs
                ],
                "recv": recv,
                "lv": lv,
            }
        )
    out_node = f"d{id(trace.output)}"
    return {
        "title": title,
        "interval": INTERVAL_MS,
        "note": trace.note,
        "checked": trace.checked,
        "output": {"name": trace.output_name, "node": out_node},
        "seed": _g(trace.seed),
        "leaves": [
            {
                "name": leaf.name,
                "node": leaf.node,
                "final": _g(leaf.grad),
                "num": _g(leaf.numeric),
                "diff": leaf.max_abs_diff,
                "ok": leaf.agrees,
                "last": leaf.last_step,
            }
            for leaf in trace.leaves
        ],
        "steps": steps,
    }


def _json_for_script(data: Any) -> str:
    # Inside <script>, "</" could close the element and "<!--" open a comment.
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def page_html(trace: BackwardTrace, title: str | None = None) -> str:
    """The explorer as one self-contained page: no network, no external script or font."""
    title = title or f"Watching the backward pass of {trace.output_name}"
    svg, problem = svg_of(trace)
    data = page_data(trace, title)
    if problem:
        data["note"] = (data["note"] + " " if data["note"] else "") + problem
    picture = svg if svg is not None else '<p class="nopic">(no picture)</p>'
    parts = {
        "/*MG_CSS*/": _asset("explorer.css"),
        "/*MG_JS*/": _asset("explorer.js"),
        "MG_TITLE": html.escape(title),
        "MG_SVG": picture,
        "MG_DATA": _json_for_script(_finite(data)),
    }
    page = _asset("explorer.html")
    # One pass, so that text put in (a title, the SVG) is never searched for placeholders.
    pattern = re.compile("|".join(re.escape(k) for k in parts))
    return pattern.sub(lambda m: parts[m.group(0)], page)


def _finite(x: Any) -> Any:
    """JSON has no NaN or inf: they become null (a diff over no element, say)."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def notebook_html(trace: BackwardTrace) -> str:
    """The page in an iframe (`srcdoc`), so that its script, ids and styles stay its own."""
    page = page_html(trace)
    return (
        '<iframe title="backward explorer" style="width:100%;height:640px;border:1px solid '
        f'#d8dce3" sandbox="allow-scripts" srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )
