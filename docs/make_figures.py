"""Draw the pictures of the user's guide by running the guide's own code.

Every picture in the guide is drawn by the code printed on its page: this script runs the
```python blocks of each page in order (the blocks of a page share one namespace), in a
fresh temporary folder as the working directory, and copies the pictures that the page
shows (`![...](figures/NAME.png)`, `.svg`, `.gif`, and explorer pages embedded as
`<iframe src="../figures/NAME.html">`) from that folder into `docs/figures/`. So a picture is
what its page's code draws with `minigrad.viz.draw_graph` (or matplotlib), never a file
made by hand, and it cannot drift from the code beside it.

    python docs/make_figures.py [--out docs/figures] [PAGE.md ...]

It fails, naming the page and the file, if a page shows a picture its code did not draw.
`tests/test_docs.py` runs the same pages with the same functions, so the guide's code is
tested as well. A line `print(...)  # -> text` in a block is checked: what it prints must
be `text`. Pages marked `<!-- docs: needs MNIST -->` train on real MNIST: they find it as
`load_mnist` does ($MINIGRAD_DATA, the cache that `examples/mnist.py` filled, or a download).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
FIGURES = DOCS / "figures"
NEEDS_MNIST = "<!-- docs: needs MNIST -->"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
# A picture (`![...](figures/a.png)`, an animation `.gif`) or an explorer page embedded in an
# iframe (`<iframe src="../figures/a.html">`: mkdocs rewrites the links of Markdown, not those
# of raw HTML, so an iframe's path is written from the page's own folder).
_FIGURE = re.compile(r"""(?:\(|src="\.\./)figures/([\w.-]+\.(?:png|svg|gif|html))[)"]""")
_SNIPPET = re.compile(r"^\s*--8<--")
_CHECK_MARK = re.compile(r"#\s*->")
_EXPECT = re.compile(r"^(?P<indent>\s*)print\((?P<args>.*)\)\s*#\s*->\s?(?P<text>.*)$")


@dataclass
class Block:
    """One ```python block of a page: its code (dedented) and the line its code starts on."""

    page: Path
    line: int
    code: str


class DocsError(AssertionError):
    """A page's code failed, printed something else than it says, or drew no picture."""


def pages() -> list[Path]:
    """Every Markdown page of the guide, in a fixed order."""
    return sorted(DOCS.rglob("*.md"))


def python_blocks(page: Path) -> list[Block]:
    """The ```python blocks of `page`, in order (indented ones, e.g. in admonitions, too).

    A block that only includes a file (the snippets extension, `--8<-- "examples/..."`) is
    left out: the included example has its own tests.
    """
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], m["indent"]
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if m["lang"] == "python":
            body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[start:j]]
            if not all(_SNIPPET.match(ln) or not ln.strip() for ln in body):
                blocks.append(Block(page, start + 1, "\n".join(body)))
        i = j + 1
    return blocks


def figures_of(page: Path) -> list[str]:
    """The file names of the pictures `page` shows from figures/, in order, without repeats."""
    return list(dict.fromkeys(_FIGURE.findall(page.read_text(encoding="utf-8"))))


def needs_mnist(page: Path) -> bool:
    """True if the page's code trains on real MNIST (see the module docstring)."""
    return NEEDS_MNIST in page.read_text(encoding="utf-8")


def _shown(page: Path, base: Path = ROOT) -> str:
    """`page` relative to `base` when it is inside it (as messages show it), else in full."""
    try:
        return str(page.relative_to(base))
    except ValueError:
        return str(page)


def _expect(expected: str, *args: Any) -> None:
    """The check behind `print(...)  # -> text`: print as usual, then compare."""
    got = " ".join(str(a) for a in args)
    print(got)
    if got != expected:
        raise DocsError(f"printed {got!r}, but the page says {expected!r}")


def _with_checks(code: str) -> str:
    """`code` with each `print(...)  # -> text` line turned into a checked print."""
    out = []
    for i, line in enumerate(code.split("\n")):
        m = _EXPECT.match(line)
        if m:
            line = f"{m['indent']}__docs_expect__({m['text'].rstrip()!r}, {m['args']})"
        elif _CHECK_MARK.search(line):
            # A check that would silently not run (e.g. a print that a formatter wrapped).
            raise DocsError(f"line {i + 1} of the block: `# ->` must end a one-line print(...)")
        out.append(line)
    return "\n".join(out)


def one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread, when threadpoolctl is installed (the dev extra has it).

    The pages multiply small matrices: with two BLAS threads on two cores, a busy neighbour
    (another test run, a benchmark) makes each product wait for a core, measured 4-10x
    slower (the MNIST tutorial took 50 s instead of 5).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@contextlib.contextmanager
def _isolated(workdir: Path) -> Iterator[None]:
    """Run in `workdir` with one BLAS thread, then restore what a page may change: cwd,
    default dtype, the global NumPy RNG and open matplotlib figures."""
    import numpy as np

    import minigrad as mg

    cwd = os.getcwd()
    dtype = mg.get_default_dtype()
    rng_state = np.random.get_state()  # noqa: NPY002 - the pages seed the global generator
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(workdir)
    try:
        with one_blas_thread():
            yield
    finally:
        os.chdir(cwd)
        mg.set_default_dtype(dtype)
        np.random.set_state(rng_state)  # noqa: NPY002
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def run_page(page: Path, workdir: Path, echo: bool = False) -> dict[str, Any]:
    """Run the page's python blocks in order in `workdir`; return the shared namespace.

    Raises DocsError naming the page and line of the first block that fails. Tracebacks
    point into the page (the code is compiled with the page's name and line numbers).
    """
    ns: dict[str, Any] = {"__name__": f"docs.{page.stem}", "__docs_expect__": _expect}
    with _isolated(workdir):
        for block in python_blocks(page):
            where = f"{_shown(page)}:{block.line}"
            try:
                code = "\n" * (block.line - 1) + _with_checks(block.code)
            except DocsError as e:
                raise DocsError(f"{where}: {e}") from None
            sink = contextlib.nullcontext() if echo else contextlib.redirect_stdout(io.StringIO())
            try:
                with sink:
                    exec(compile(code, str(page), "exec"), ns)
            except Exception as e:
                raise DocsError(f"{where}: the block failed: {type(e).__name__}: {e}") from e
    return ns


def missing_figures(page: Path, workdir: Path) -> list[str]:
    """The pictures `page` shows that its code did not write into `workdir`."""
    return [name for name in figures_of(page) if not (workdir / name).is_file()]


def make_figures(out: Path, selected: Sequence[Path] | None = None) -> list[Path]:
    """Run every page that shows pictures and copy them into `out`; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for page in selected if selected is not None else pages():
        names = figures_of(page)
        if not names:
            continue
        with tempfile.TemporaryDirectory(prefix="minigrad-docs-") as tmp:
            run_page(page, Path(tmp))
            missing = missing_figures(page, Path(tmp))
            if missing:
                raise DocsError(f"{page.name} shows {missing} but its code did not draw them")
            for name in names:
                shutil.copyfile(Path(tmp) / name, out / name)
                written.append(out / name)
        print(f"{_shown(page, DOCS)}: {', '.join(names)}", flush=True)
    if selected is None and out.resolve() == FIGURES:
        # A picture no page shows any more would linger in the (git-ignored) folder.
        for stale in set(out.iterdir()) - set(written):
            stale.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description="Draw the guide's pictures by running its code.")
    p.add_argument("--out", type=Path, default=FIGURES, help="folder for the pictures")
    p.add_argument("pages", nargs="*", type=Path, help="pages to run (default: all)")
    args = p.parse_args(argv)
    selected = [pg.resolve() for pg in args.pages] or None
    try:
        written = make_figures(args.out, selected)
    except DocsError as e:
        print(f"make_figures: {e}", file=sys.stderr)
        return 1
    print(f"{len(written)} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
