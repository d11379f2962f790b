"""draw_graph and the renderer: lookup order, PNG/SVG through graphviz-pure with no `dot` on
PATH, the error when no renderer is found, failing and hanging renderers, atomic writes,
formats, and the Jupyter hook."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import sysconfig
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import Variable
from minigrad.viz import RendererNotFoundError, RenderError, draw_graph, find_renderer, to_dot
from minigrad.viz import render as render_mod
from minigrad.viz.render import _repr_svg_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def small_graph() -> Variable:
    x = Variable(np.arange(3, dtype=np.float32), name="x")
    y = (x.tanh() * 2.0).sum()
    y.name = "y"
    return y


@pytest.fixture
def pure() -> str:
    path = shutil.which("graphviz-pure") or shutil.which(
        "graphviz-pure", path=sysconfig.get_path("scripts")
    )
    if path is None:
        pytest.skip("graphviz-pure is not installed (its wheels exist for x86_64/arm64 only)")
    return path


@pytest.fixture
def no_renderer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH holds an empty folder, MINIGRAD_DOT is unset, the scripts folder is empty too."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("MINIGRAD_DOT", raising=False)
    monkeypatch.setattr(render_mod, "_scripts_dir", lambda: str(empty))
    return empty


def fake_renderer(folder: Path, body: str, name: str = "fake-dot") -> str:
    """An executable Python script standing in for a renderer: argv is [-T<fmt>, in, -o, out]."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys, time\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


# --------------------------------------------------------------------------- real rendering


def test_png_through_graphviz_pure_without_dot(no_renderer, pure, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DOT", pure)
    assert find_renderer() == pure
    out = draw_graph(small_graph(), path=tmp_path / "g.png")
    assert out == str(tmp_path / "g.png")
    width, height = png_size(Path(out).read_bytes())
    # 3 ops and 4 data nodes top to bottom: taller than wide, and a sane size
    assert 80 <= width < height <= 2000
    assert sorted(os.listdir(tmp_path)) == ["empty-bin", "g.png"]


def test_svg_through_graphviz_pure_parses_as_xml(no_renderer, pure, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DOT", pure)
    out = draw_graph(small_graph(), path=str(tmp_path / "g.svg"), rankdir="LR")
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "x" in texts and "y" in texts and "mul 2.0" in texts


def test_graphviz_pure_found_in_the_interpreters_scripts_folder(
    no_renderer, pure, monkeypatch, tmp_path
):
    monkeypatch.setattr(render_mod, "_scripts_dir", lambda: os.path.dirname(pure))
    assert find_renderer() == pure
    out = draw_graph(small_graph(), path=tmp_path / "g.png")
    assert png_size(Path(out).read_bytes())[0] > 0


def test_graphviz_pure_found_on_path(no_renderer, pure):
    (no_renderer / "graphviz-pure").symlink_to(pure)
    assert find_renderer() == str(no_renderer / "graphviz-pure")


def test_dot_on_path_comes_before_graphviz_pure(no_renderer, pure):
    (no_renderer / "graphviz-pure").symlink_to(pure)
    dot = fake_renderer(no_renderer, "sys.exit(0)\n", name="dot")
    assert find_renderer() == dot


def test_minigrad_dot_comes_first(no_renderer, monkeypatch, tmp_path):
    fake_renderer(no_renderer, "sys.exit(0)\n", name="dot")
    mine = fake_renderer(tmp_path, "sys.exit(0)\n")
    monkeypatch.setenv("MINIGRAD_DOT", mine)
    assert find_renderer() == mine


# Real Graphviz is not installed on every machine (this one has none): the test runs wherever
# `dot` is on PATH and is skipped only when shutil.which("dot") finds nothing.
@pytest.mark.skipif(shutil.which("dot") is None, reason="no system Graphviz `dot` on PATH")
def test_png_svg_pdf_through_system_dot(monkeypatch, tmp_path):
    monkeypatch.delenv("MINIGRAD_DOT", raising=False)
    assert os.path.basename(find_renderer() or "") == "dot"
    png = draw_graph(small_graph(), path=tmp_path / "g.png")
    assert png_size(Path(png).read_bytes())[0] > 0
    svg = draw_graph(small_graph(), path=tmp_path / "g.svg")
    assert ET.parse(svg).getroot().tag.endswith("svg")
    pdf = draw_graph(small_graph(), path=tmp_path / "g.pdf")
    assert Path(pdf).read_bytes()[:5] == b"%PDF-"


# --------------------------------------------------------------------------- no renderer


def test_no_renderer_writes_the_dot_file_and_says_how_to_install(no_renderer, tmp_path):
    y = small_graph()
    with pytest.raises(RendererNotFoundError) as info:
        draw_graph(y, path=tmp_path / "out" / "graph.png")
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    dot_file = tmp_path / "out" / "graph.dot"
    assert "pip install graphviz-pure" in message
    assert "Graphviz" in message and "MINIGRAD_DOT" in message
    assert str(dot_file) in message
    assert dot_file.read_text() == to_dot(y).source
    assert sorted(os.listdir(tmp_path / "out")) == ["graph.dot"]


def test_minigrad_dot_naming_no_executable_is_an_error(no_renderer, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DOT", str(tmp_path / "missing-dot"))
    with pytest.raises(
        RendererNotFoundError, match="MINIGRAD_DOT=.*missing-dot.*not an executable"
    ):
        find_renderer()
    with pytest.raises(RendererNotFoundError, match="not an executable") as info:
        draw_graph(small_graph(), path=tmp_path / "g.svg")
    assert (tmp_path / "g.dot").exists()
    assert "pip install graphviz-pure" in str(info.value)


def test_dot_and_gv_need_no_renderer(no_renderer, tmp_path):
    y = small_graph()
    for name in ("g.dot", "g.gv"):
        out = draw_graph(y, path=tmp_path / name, show_dtypes=False)
        assert Path(out).read_text() == to_dot(y, show_dtypes=False).source


# --------------------------------------------------------------------------- failures


def test_nonzero_exit_is_a_failure_even_with_a_file(no_renderer, monkeypatch, tmp_path):
    fake = fake_renderer(
        tmp_path,
        """
        open(sys.argv[4], "wb").write(b"\\x89PNG partial")
        sys.stderr.write("Error: layout ran out of memory\\n")
        sys.exit(3)
        """,
    )
    monkeypatch.setenv("MINIGRAD_DOT", fake)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.png").write_bytes(b"old picture")
    with pytest.raises(RenderError) as info:
        draw_graph(small_graph(), path=out_dir / "old.png")
    message = str(info.value)
    assert "status 3" in message and "layout ran out of memory" in message
    # the partial file is gone and the previous picture is untouched
    assert os.listdir(out_dir) == ["old.png"]
    assert (out_dir / "old.png").read_bytes() == b"old picture"
    with pytest.raises(RenderError):
        draw_graph(small_graph(), path=out_dir / "new.png")
    assert os.listdir(out_dir) == ["old.png"]


def test_exit_zero_without_output_is_a_failure(no_renderer, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DOT", fake_renderer(tmp_path, "sys.exit(0)\n"))
    with pytest.raises(RenderError, match="exited 0 but wrote nothing"):
        draw_graph(small_graph(), path=tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def test_a_hanging_renderer_times_out(no_renderer, monkeypatch, tmp_path):
    fake = fake_renderer(
        tmp_path, 'open(sys.argv[4], "wb").write(b"x")\nsys.stdout.flush()\ntime.sleep(30)\n'
    )
    monkeypatch.setenv("MINIGRAD_DOT", fake)
    out_dir = tmp_path / "out"
    with pytest.raises(RenderError, match=r"did not finish within 0.5 s"):
        draw_graph(small_graph(), path=out_dir / "g.png", timeout=0.5)
    assert os.listdir(out_dir) == []


def test_renderer_runs_without_a_shell_into_a_temp_file_then_renamed(
    no_renderer, monkeypatch, tmp_path
):
    record = tmp_path / "argv.txt"
    fake = fake_renderer(
        tmp_path,
        f"""
        args = sys.argv[1:]
        src = open(args[1]).read()
        open({str(record)!r}, "w").write("\\n".join(args) + "\\n" + src)
        open(args[3], "wb").write(b"rendered")
        """,
    )
    monkeypatch.setenv("MINIGRAD_DOT", fake)
    out_dir = tmp_path / "my pictures; rm -rf"  # a shell would split this
    y = small_graph()
    out = draw_graph(y, path=out_dir / "g.svg")
    fmt, src, flag, tmp, *source = record.read_text().split("\n")
    assert fmt == "-Tsvg" and flag == "-o" and src.endswith(".dot")
    assert os.path.dirname(tmp) == str(out_dir) and tmp != out
    assert "\n".join(source) == to_dot(y).source
    assert Path(out).read_bytes() == b"rendered"
    assert os.listdir(out_dir) == ["g.svg"]


def test_graphviz_pure_cannot_write_pdf(no_renderer, pure, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DOT", pure)
    with pytest.raises(RenderError, match=r"cannot write PDF.*\.svg or \.png"):
        draw_graph(small_graph(), path=tmp_path / "g.pdf")
    assert not (tmp_path / "g.pdf").exists()


def test_unknown_suffix_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"'\.bmp'.*\.png, \.svg, \.pdf"):
        draw_graph(small_graph(), path=tmp_path / "g.bmp")
    with pytest.raises(ValueError, match=r"\(none\)"):
        draw_graph(small_graph(), path=tmp_path / "graph")


# --------------------------------------------------------------------------- Jupyter


def test_repr_svg_of_a_computed_variable(no_renderer, pure, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DOT", pure)
    y = small_graph()
    svg = _repr_svg_for(y)
    assert svg is not None
    assert ET.fromstring(svg.encode()).tag == "{http://www.w3.org/2000/svg}svg"
    assert y._repr_svg_() == svg


def test_repr_svg_is_none_for_leaves_huge_graphs_and_no_renderer(no_renderer, pure, monkeypatch):
    assert _repr_svg_for(small_graph()) is None  # no renderer
    monkeypatch.setenv("MINIGRAD_DOT", pure)
    assert _repr_svg_for(Variable(np.ones(3))) is None  # a leaf: show its values instead
    x = Variable(np.ones(2))
    y = x
    for _ in range(render_mod.REPR_SVG_MAX_OPS + 1):
        y = y * 1.0
    assert _repr_svg_for(y) is None


def test_without_the_graphviz_package(no_renderer, pure, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DOT", pure)
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    with pytest.raises(ImportError, match="pip install graphviz"):
        to_dot(small_graph())
    assert _repr_svg_for(small_graph()) is None


def test_import_minigrad_does_not_import_graphviz():
    code = "import sys, minigrad; print('graphviz' in sys.modules, 'minigrad.viz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert mg.Variable is Variable
