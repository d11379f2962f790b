"""A small reader for the DOT text `to_dot` writes: nodes, edges and nested clusters.

It reads the one layout `minigrad.viz` emits (one statement a line), which is all the tests
need; the pictures themselves are checked by rendering.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

_NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")
_OPEN = re.compile(r"^\s*subgraph (cluster_\w+) \{$")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _take_html(text: str, start: int) -> tuple[str, int]:
    """The HTML-like label starting at text[start] == '<', and the index after it."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise ValueError(f"unbalanced label in {text!r}")


def label_lines(label: str) -> list[str]:
    """The text of an HTML-like label, one entry per <br/> line, tags stripped."""
    parts = re.split(r"<br[^>]*>", label)
    return [html.unescape(re.sub(r"<[^>]+>", "", p)).strip() for p in parts]


@dataclass
class Node:
    name: str
    label: str
    attrs: dict[str, str]
    cluster: str | None

    @property
    def lines(self) -> list[str]:
        return label_lines(self.label)

    @property
    def text(self) -> str:
        return " | ".join(self.lines)


@dataclass
class Cluster:
    name: str
    parent: str | None
    label: str = ""
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " | ".join(label_lines(self.label))


@dataclass
class Dot:
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]
    edge_attrs: dict[tuple[str, str], dict[str, str]]
    clusters: dict[str, Cluster]
    graph_attrs: str

    def of_kind(self, prefix: str) -> list[Node]:
        """Nodes whose name starts with `prefix`: "d" data, "f" ops, "m" collapsed modules."""
        return [n for n in self.nodes.values() if n.name.startswith(prefix)]

    def by_text(self, text: str) -> Node:
        found = [n for n in self.nodes.values() if n.text == text]
        assert len(found) == 1, f"{len(found)} nodes with text {text!r}: {self.texts()}"
        return found[0]

    def texts(self, prefix: str = "") -> list[str]:
        return sorted(n.text for n in self.of_kind(prefix))


def parse(source: str) -> Dot:
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    edge_attrs: dict[tuple[str, str], dict[str, str]] = {}
    clusters: dict[str, Cluster] = {}
    stack: list[str] = []
    graph_lines = []
    for line in source.splitlines()[1:-1]:
        if m := _OPEN.match(line):
            clusters[m[1]] = Cluster(m[1], stack[-1] if stack else None)
            stack.append(m[1])
        elif line.strip() == "}":
            stack.pop()
        elif m := _EDGE.match(line):
            edges.append((m[1], m[2]))
            if m[3]:
                edge_attrs[(m[1], m[2])] = dict(_ATTR.findall(m[3]))
        elif stack and line.strip().startswith("label=<"):
            clusters[stack[-1]].label = _take_html(line, line.index("<"))[0]
        elif stack and (m := re.match(r'^\s*(\w+)="([^"]*)"$', line)):
            clusters[stack[-1]].attrs[m[1]] = m[2]
        elif (m := _NODE.match(line)) and m[1] not in ("graph", "node", "edge"):
            body = m[2]
            assert body.startswith("label=<"), line
            label, end = _take_html(body, len("label="))
            attrs = dict(_ATTR.findall(body[end:]))
            nodes[m[1]] = Node(m[1], label, attrs, stack[-1] if stack else None)
        else:
            graph_lines.append(line)
    assert not stack, "unclosed subgraph"
    return Dot(nodes, edges, edge_attrs, clusters, "\n".join(graph_lines))
