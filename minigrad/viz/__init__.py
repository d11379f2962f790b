"""Graph pictures: a recorded computational graph -> DOT -> PNG/SVG (`to_dot`, `draw_graph`).

`import minigrad` does not import this package (it needs the `graphviz` package); import it
as `import minigrad.viz` or `from minigrad.viz import draw_graph`.
"""

from minigrad.viz.dot import to_dot
from minigrad.viz.render import (
    RendererNotFoundError,
    RenderError,
    _repr_svg_for,
    draw_graph,
    find_renderer,
)

__all__ = ["to_dot", "draw_graph", "find_renderer", "RendererNotFoundError", "RenderError"]
__all__ += ["_repr_svg_for"]  # used by Variable._repr_svg_ (Jupyter)
