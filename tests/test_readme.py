"""The README's commands work as written in a fresh shell, right after its quick start: every
program comes from the virtual environment the quick start made (nothing assumes it is
activated), and what each step needs is installed by the commands before it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

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
