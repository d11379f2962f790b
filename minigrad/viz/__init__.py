"""Graph pictures: a recorded computational graph -> DOT -> PNG/SVG (`to_dot`, `draw_graph`),
and the backward pass step by step (`explain_backward`).

`import minigrad` does not import this package (it needs the `graphviz` package); import it
as `import minigrad.viz` or `from minigrad.viz import draw_graph`.
"""

from minigrad.core import Variable
from minigrad.viz.dot import to_dot
from minigrad.viz.explain import BackwardTrace, explain_backward
from minigrad.viz.render import (
    RendererNotFoundError,
    RenderError,
    _repr_svg_for,
    draw_graph,
    find_renderer,
)

__all__ = [
    "to_dot",
    "draw_graph",
    "find_renderer",
    "RendererNotFoundError",
    "RenderError",
    "explain_backward",
    "BackwardTrace",
]

# Jupyter shows a Variable as the picture of its graph (the engine knows nothing of pictures).
Variable._repr_svg_ = _repr_svg_for  # type: ignore[attr-defined]
