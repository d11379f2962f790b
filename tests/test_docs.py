"""The user's guide: every ```python block of docs/ runs, prints what the page says it prints
(`print(...)  # -> text`), and draws every picture its page shows; the runner that makes the
pictures (docs/make_figures.py) finds blocks, figures and failures correctly; every public
name of the API reference has a docstring.

Blocks run in order per page, sharing one namespace, in a temporary folder as the working
directory. The MNIST tutorial needs the real data set in $MINIGRAD_DATA: without it the page
is skipped, or fails under CI=true.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
from pathlib import Path
from types import ModuleType

import pytest
import scripts
from realdata import mnist_folder

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


mf = scripts.load(DOCS / "make_figures.py", "make_figures")
PAGES = [p for p in mf.pages() if mf.python_blocks(p)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_runs_and_draws_its_pictures(page, tmp_path, monkeypatch):
    if mf.needs_mnist(page):
        mnist_folder(page.name)
        # The loader's cache goes to the test's folder, not the user's home.
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    ns = mf.run_page(page, work)  # with one BLAS thread
    assert ns["__name__"] == f"docs.{page.stem}"
    assert mf.missing_figures(page, work) == []
    magic = {".png": b"\x89PNG\r\n\x1a\n", ".gif": b"GIF89a", ".html": b"<!DOCTYPE html>"}
    for name in mf.figures_of(page):
        data = (work / name).read_bytes()
        assert data.startswith(magic[Path(name).suffix]), name
        assert len(data) > 2000, name  # a real picture, not an empty canvas
        if name.endswith(".png"):
            width = int.from_bytes(data[16:20], "big")  # the PNG header's width
            assert width <= MAX_WIDTH.get(name, 10_000), f"{name} is {width} px wide"


# Pictures whose small print must stay legible at the width of a page (about 700 px of
# content in the docs' theme): shown at 1:1 or nearly.
MAX_WIDTH = {"viz_legend.png": 800}


def test_the_guide_has_pages_with_code_and_pictures():
    names = {p.name for p in PAGES}
    for page in [
        "index.md",
        "getting-started.md",
        "concepts.md",
        "building-networks.md",
        "from-the-book.md",
        "visualising.md",
        "mnist-tutorial.md",
        "performance.md",
        "leaving-minigrad.md",
    ]:
        assert page in names
    shown = [name for p in mf.pages() for name in mf.figures_of(p)]
    assert len(shown) == len(set(shown)), "two pages show the same file"
    concepts = mf.figures_of(DOCS / "concepts.md")
    assert len(concepts) == 8  # one per concept


def test_the_mnist_tutorial_shows_the_graph_its_text_announces():
    page = DOCS / "mnist-tutorial.md"
    assert mf.needs_mnist(page)
    assert mf.figures_of(page) == ["mnist_loss.png", "mnist_graph.png"]
    text = page.read_text(encoding="utf-8")
    assert text.index('path="mnist_graph.png"') < text.index("(figures/mnist_graph.png)")


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"([\w/-]+\.md)", nav))
    assert {str(p.relative_to(DOCS)) for p in mf.pages()} == listed


# --------------------------------------------------------------------------- the runner


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return page


def test_python_blocks_are_found_in_order_with_their_lines(tmp_path):
    page = _page(
        tmp_path,
        "# t\n"
        "```python\n"
        "a = 1\n"
        "```\n"
        "```bash\n"
        "echo not python\n"
        "```\n"
        "!!! note\n"
        "    ```python\n"
        "    b = a + 1\n"
        "    ```\n"
        "```python\n"
        '--8<-- "examples/custom_network.py"\n'
        "```\n",
    )
    blocks = mf.python_blocks(page)
    assert [(b.line, b.code) for b in blocks] == [(3, "a = 1"), (10, "b = a + 1")]


def test_figures_are_read_from_image_links(tmp_path):
    page = _page(tmp_path, "![a](figures/one.png) text ![b](figures/two.png) ![a](figures/one.png)")
    assert mf.figures_of(page) == ["one.png", "two.png"]


def test_animations_and_embedded_explorers_are_figures(tmp_path):
    page = _page(
        tmp_path, '![a](figures/a.gif)\n<iframe src="../figures/b.html" title="b"></iframe>'
    )
    assert mf.figures_of(page) == ["a.gif", "b.html"]


def test_printed_text_is_checked(tmp_path):
    ok = _page(tmp_path, "```python\nprint(1 + 1, 'x')  # -> 2 x\n```\n")
    mf.run_page(ok, tmp_path)
    bad = _page(tmp_path, "text\n\n```python\nprint(1 + 1)  # -> 3\n```\n")
    with pytest.raises(mf.DocsError, match=r"page.md:4: .*printed '2', but the page says '3'"):
        mf.run_page(bad, tmp_path)


def test_a_check_that_would_not_run_is_an_error(tmp_path):
    # A formatter may wrap a long print; its `# ->` would then check nothing.
    page = _page(tmp_path, "```python\nprint(\n    1 + 1\n)  # -> 2\n```\n")
    with pytest.raises(mf.DocsError, match=r"page.md:2: line 3 of the block: `# ->` must end"):
        mf.run_page(page, tmp_path)


def test_a_failing_block_names_the_page_and_line(tmp_path):
    page = _page(tmp_path, "```python\nx = 1\n```\n\n```python\ny = x / 0\n```\n")
    with pytest.raises(mf.DocsError, match=r"page.md:6: the block failed: ZeroDivisionError"):
        mf.run_page(page, tmp_path)


def test_blocks_of_a_page_share_a_namespace_and_run_in_the_workdir(tmp_path):
    page = _page(
        tmp_path,
        "```python\nimport os\nhere = os.getcwd()\n```\n```python\nopen('f.txt', 'w').write(here)\n```\n",
    )
    work = tmp_path / "work"
    work.mkdir()
    cwd = os.getcwd()
    mf.run_page(page, work)
    assert os.getcwd() == cwd
    assert (work / "f.txt").read_text() == str(work)


def test_the_global_state_a_page_changes_is_restored(tmp_path):
    import numpy as np

    import minigrad as mg

    page = _page(
        tmp_path,
        "```python\nimport numpy as np, minigrad as mg\n"
        "mg.set_default_dtype(np.float64)\nnp.random.seed(123)\n```\n",
    )
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - what pages change
    mf.run_page(page, tmp_path)
    assert mg.get_default_dtype() == np.float32
    assert (np.random.get_state()[1] == state).all()  # noqa: NPY002


def test_make_figures_copies_what_a_page_shows(tmp_path):
    page = _page(
        tmp_path,
        "```python\nimport minigrad as mg\nfrom minigrad.viz import draw_graph\n"
        "x = mg.Variable([1.0, 2.0], name='x')\ndraw_graph((x * x).sum(), path='sq.png')\n```\n"
        "![x squared](figures/sq.png)\n",
    )
    out = tmp_path / "figures"
    assert mf.main(["--out", str(out), str(page)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["sq.png"]
    assert (out / "sq.png").read_bytes()[:4] == b"\x89PNG"


def test_make_figures_fails_on_a_picture_nobody_drew(tmp_path, capsys):
    page = _page(tmp_path, "```python\nx = 1\n```\n![missing](figures/nothing.png)\n")
    assert mf.main(["--out", str(tmp_path / "figures"), str(page)]) == 1
    assert "page.md shows ['nothing.png'] but its code did not draw them" in capsys.readouterr().err


# --------------------------------------------------------------------------- API reference

API_MODULES = [
    "minigrad",
    "minigrad.core",
    "minigrad.functions",
    "minigrad.nn",
    "minigrad.nn.init",
    "minigrad.nn.params",
    "minigrad.nn.torch_state",
    "minigrad.nn.utils",
    "minigrad.optim",
    "minigrad.optim.lr_scheduler",
    "minigrad._random",
    "minigrad.data",
    "minigrad.viz",
    "minigrad.onnx",
    "minigrad.viz.explain_steps",
    "minigrad.gradcheck",
]


def test_the_api_reference_renders_every_module():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md"))
    rendered = set(re.findall(r"^::: ([\w.]+)", text, flags=re.M))
    # minigrad's own names are core's and gradcheck's, rendered there.
    assert rendered == set(API_MODULES) - {"minigrad"}


@pytest.mark.parametrize("module_name", API_MODULES)
def test_every_public_name_has_a_docstring(module_name):
    module = importlib.import_module(module_name)
    assert module.__doc__ and module.__doc__.strip()
    missing = []
    for name in module.__all__:
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if isinstance(obj, ModuleType) or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue  # submodules have their own page; constants and type aliases carry none
        if not (obj.__doc__ or "").strip():
            missing.append(name)
    assert missing == []
