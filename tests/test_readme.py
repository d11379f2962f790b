"""The README's commands work as written in a fresh shell, right after its quick start: every
program comes from the virtual environment the quick start made (nothing assumes it is
activated), and what each step needs is installed by the commands before it. Its python
blocks run, in order and (the "Leaving minigrad" one) alone as pasted."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import scripts

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]


def bash_commands(page: Path) -> list[list[list[str]]]:
    """Each ```bash block's lines, split at `&&` into argument lists."""
    text = page.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.strip().splitlines():
            out.append([shlex.split(part) for part in line.split("&&")])
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_program_comes_from_the_quick_starts_venv(page):
    commands = bash_commands(page)
    assert commands
    for line in commands:
        for argv in line:
            while "=" in argv[0]:  # VAR=value before the program
                argv = argv[1:]
            if argv[:3] == ["python3", "-m", "venv"]:
                continue
            assert argv[0].startswith(".venv/bin/"), (page.name, argv)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_docs_command_installs_what_it_runs(page):
    (line,) = [ln for ln in bash_commands(page) if any(".venv/bin/mkdocs" in a for a in ln)]
    programs = [argv[0] if "=" not in argv[0] else argv[1] for argv in line]
    assert programs[0] == ".venv/bin/pip" and ".[docs]" in line[0]
    assert programs[1:] == [".venv/bin/python", ".venv/bin/mkdocs"]


def test_the_readme_says_which_network_the_quick_start_trains():
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    quick = text[text.index("## Quick start") : text.index("```bash")]
    assert "TwoLayerNet" in quick and "784-256-10" in quick and "Adam" in quick
    assert "784-50-10" in quick and "--book" in quick


def test_the_readmes_python_blocks_run_and_leaving_minigrad_runs_as_pasted(tmp_path, monkeypatch):
    pytest.importorskip("onnx")  # the [onnx] extra, which the block says to install
    mf = scripts.load(ROOT / "docs" / "make_figures.py", "make_figures")
    readme = ROOT / "README.md"
    work = tmp_path / "in_order"
    work.mkdir()
    mf.run_page(readme, work)  # every block, in order, as a reader runs them
    assert (work / "graph.png").is_file() and (work / "net.onnx").is_file()
    # "Leaving minigrad" alone, pasted into a fresh interpreter: it defines what it uses.
    (block,) = [b for b in mf.python_blocks(readme) if "minigrad.onnx.export" in b.code]
    alone = tmp_path / "alone"
    alone.mkdir()
    monkeypatch.chdir(alone)
    ns: dict[str, object] = {"__name__": "__main__"}
    exec(compile(block.code, "README.md", "exec"), ns)
    loaded = ns["loaded"]
    x = ns["x_test"][:3]  # type: ignore[index]
    np.testing.assert_allclose(loaded(x).data, ns["net"](x).data, rtol=1e-5, atol=1e-6)  # type: ignore[operator]
    assert set(ns["state"]) == {
        "layers.Affine1.weight",
        "layers.Affine1.bias",
        "layers.Affine2.weight",
        "layers.Affine2.bias",
    }  # type: ignore[arg-type]
