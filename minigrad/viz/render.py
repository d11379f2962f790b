"""Rendering DOT to PNG/SVG/PDF: finding a renderer, running it safely, writing atomically.

Renderer, first found: `$MINIGRAD_DOT` (a path to an executable); `dot` on PATH (real
Graphviz); `graphviz-pure` on PATH or in the running interpreter's scripts folder (so an
un-activated venv still finds the one pip installed beside minigrad).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from minigrad._files import temp_path, write_atomically
from minigrad.core import Variable
from minigrad.viz.dot import to_dot
from minigrad.viz.graph import walk

__all__ = ["draw_graph", "find_renderer", "RendererNotFoundError", "RenderError"]

#: File suffix -> the renderer's -T format; None writes the DOT source itself.
FORMATS: dict[str, str | None] = {
    ".png": "png",
    ".svg": "svg",
    ".pdf": "pdf",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".dot": None,
    ".gv": None,
}
#: Formats graphviz-pure cannot write (it has no PDF backend).
_PURE_LACKS = {"pdf"}
_INSTALL_HINT = (
    "install a renderer: `pip install graphviz-pure` (no system package needed; PNG and SVG), "
    "or the system Graphviz package (`apt install graphviz`, `brew install graphviz`, "
    "`conda install graphviz`), or set MINIGRAD_DOT to the path of a `dot` executable"
)
#: Above this many ops, Jupyter shows the text repr instead of laying out a huge picture.
REPR_SVG_MAX_OPS = 300


class RendererNotFoundError(RuntimeError):
    """No DOT renderer was found (see `find_renderer`); the message says how to install one."""


class RenderError(RuntimeError):
    """The renderer failed: a non-zero exit, a timeout, or a format it cannot write."""


def _scripts_dir() -> str | None:
    """The running interpreter's scripts folder (a venv's bin/, found without activation)."""
    return sysconfig.get_path("scripts")


def find_renderer() -> str | None:
    """The path of the DOT renderer to use, or None if there is none.

    Raises RendererNotFoundError if `$MINIGRAD_DOT` is set but names no executable.
    """
    env = os.environ.get("MINIGRAD_DOT")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise RendererNotFoundError(f"MINIGRAD_DOT={env!r} is not an executable file")
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name)
        if found:
            return found
    scripts = _scripts_dir()
    if scripts:
        return shutil.which("graphviz-pure", path=scripts)
    return None


def draw_graph(
    *outputs: Variable,
    path: str | os.PathLike[str] = "graph.png",
    timeout: float = 120.0,
    **to_dot_options: Any,
) -> str:
    """Draw the graph that computed `outputs` to `path` and return `path` (a str).

    The format comes from the suffix: .png, .svg, .jpg, .pdf (real Graphviz only; graphviz-pure
    has no PDF), or .dot/.gv for the DOT source alone. `to_dot_options` go to `to_dot`
    (`show_grads=True`, `collapse_modules=True`, `rankdir="LR"`, ...). The file is written
    atomically (a temp file in the same folder, then renamed), its folder created if needed.

    Raises RendererNotFoundError, after writing the .dot file next to `path`, if no renderer
    is found; RenderError if the renderer fails (its stderr in the message, no file left).
    """
    out = os.fspath(path)
    fmt = _format_of(out)
    source = to_dot(*outputs, **to_dot_options).source
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    if fmt is None:
        _write_text(out, source)
        return out
    try:
        exe = find_renderer()
        problem = "no DOT renderer found (looked for $MINIGRAD_DOT, dot, graphviz-pure)"
    except RendererNotFoundError as e:
        exe, problem = None, str(e)
    if exe is None:
        dot_path = str(Path(out).with_suffix(".dot"))
        _write_text(dot_path, source)
        raise RendererNotFoundError(
            f"draw_graph: {problem}; {_INSTALL_HINT}. The DOT source was written to {dot_path}"
        )
    render(source, exe, fmt, out, timeout)
    return out


def render(source: str, exe: str, fmt: str, out: str, timeout: float = 120.0) -> None:
    """Run `exe -T<fmt> file.dot -o <temp>` (no shell) and move the result to `out`.

    A non-zero exit is a failure even if the renderer wrote a file; the partial file is
    removed and the renderer's stderr is put in the RenderError.
    """
    name = os.path.basename(exe)
    if fmt in _PURE_LACKS and "graphviz-pure" in name:
        raise RenderError(
            f"draw_graph: {name} ({exe}) cannot write {fmt.upper()}; write .svg or .png, or "
            f"install the system Graphviz package (its `dot` writes {fmt.upper()})"
        )
    tmp = temp_path(out)
    with tempfile.TemporaryDirectory(prefix="minigrad-viz-") as td:
        src = os.path.join(td, "graph.dot")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(source)
        try:
            proc = subprocess.run(
                [exe, "-T" + fmt, src, "-o", tmp], capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            _remove(tmp)
            raise RenderError(
                f"draw_graph: {exe} did not finish within {timeout:g} s ({out} not written)"
            ) from None
        except OSError as e:
            _remove(tmp)
            raise RenderError(f"draw_graph: could not run {exe}: {e}") from None
    if proc.returncode != 0:
        _remove(tmp)
        stderr = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise RenderError(
            f"draw_graph: {exe} -T{fmt} exited with status {proc.returncode} ({out} not "
            f"written): {stderr or '(no error output)'}"
        )
    if not os.path.isfile(tmp) or os.path.getsize(tmp) == 0:
        _remove(tmp)
        raise RenderError(f"draw_graph: {exe} -T{fmt} exited 0 but wrote nothing")
    os.replace(tmp, out)


def _format_of(path: str) -> str | None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise ValueError(
            f"draw_graph: cannot tell the format of {path!r} from its suffix "
            f"{suffix or '(none)'!r}; use one of {known}"
        )
    return FORMATS[suffix]


def _write_text(path: str, text: str) -> None:
    write_atomically(path, lambda f: f.write(text.encode("utf-8")), "draw_graph")


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _repr_svg_for(v: Variable) -> str | None:
    """SVG of `v`'s graph for Jupyter, or None (a leaf, a huge graph, no graphviz package or
    no renderer).

    A leaf returns None so that a notebook shows its values, not a lone ellipse.
    """
    if v.creator is None or len(walk([v]).functions) > REPR_SVG_MAX_OPS:
        return None
    try:
        exe = find_renderer()
    except RendererNotFoundError:
        return None
    if exe is None:
        return None
    try:
        source = to_dot(v).source
    except ImportError:  # the graphviz package is missing: show the text repr
        return None
    with tempfile.TemporaryDirectory(prefix="minigrad-svg-") as td:
        out = os.path.join(td, "graph.svg")
        render(source, exe, "svg", out)
        with open(out, encoding="utf-8") as fh:
            return fh.read()
