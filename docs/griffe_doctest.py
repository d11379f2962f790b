"""A griffe extension for the API reference: fence the `>>>` examples of docstrings.

minigrad's docstrings write examples as plain doctest lines. In Markdown a line starting with
`>` is a block quote, so `>>> x = 1` would render as a triple-nested quote; this extension
wraps each run of doctest lines (up to the next blank line) in a ```pycon fence. Loaded by
mkdocstrings (`extensions:` in mkdocs.yml); the package itself never imports it.
"""

from __future__ import annotations

from typing import Any

from griffe import Extension, Object


def fence_doctests(text: str) -> str:
    """`text` with every run of `>>>` lines (and their output, up to a blank line) fenced."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(Extension):
    """Rewrites each docstring as it is loaded (see the module docstring)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
