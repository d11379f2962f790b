"""Pictures of a backward trace, one per step (`save_frames`), and their animation
(`save_animation`: GIF through Pillow, or APNG written here with the standard library).

Every frame is the trace's DOT with the step's op highlighted, the edges its gradients go
back along in red, each data node's gradient so far under its label, and a caption. So that
the graph does not jump from frame to frame, every node is given one fixed size, measured
once on a layout where each node carries the longest text it will ever show, and the
caption sits in a table cell of fixed size: the layout is then the same for every frame.
"""

from __future__ import annotations

import html
import json
import os
import re
import struct
import tempfile
import zlib
from typing import TYPE_CHECKING, BinaryIO

from minigrad._files import write_atomically
from minigrad.viz.render import RendererNotFoundError, find_renderer, render

if TYPE_CHECKING:
    from minigrad.viz.explain import BackwardTrace

_NODE = re.compile(r"^(\s*)([dfm]\d+) \[label=<(.*)> (shape=.*)\]$")
_EDGE = re.compile(r"^(\s*)([dfm]\d+) -> ([dfm]\d+)(.*)$")
_OPEN = re.compile(r"^\s*subgraph (cluster_\d+) \{$")
_CURRENT = 'fillcolor="#ffe2b0" color="#f39c12" penwidth="4"'
_RECEIVES = 'color="#c0392b" penwidth="2.5"'
# dir=back: the arrowhead at the input, the way the gradient goes (the layout is unchanged).
_FLOW = 'color="#c0392b" penwidth="2.5" style="dashed" dir="back"'
_BOX = 'color="#f39c12" penwidth="2.5"'
_PARTIAL = "#b35900"
_FINAL = "#c0392b"
#: The caption: its font size, and points per character (Helvetica averages about 0.55 em).
_CAPTION_PT = 13
_CAPTION_PT_PER_CHAR = 0.6 * _CAPTION_PT
_CAPTION_LINES = 3


def _renderer() -> str:
    exe = find_renderer()
    if exe is None:
        raise RendererNotFoundError(
            "save_frames: no DOT renderer found (looked for $MINIGRAD_DOT, dot, graphviz-pure); "
            "pip install graphviz-pure, or the system Graphviz package"
        )
    return exe


def _states(trace: BackwardTrace) -> list[dict[str, tuple[str, bool]]]:
    """For each step, each data node's gradient so far (short text, final?) after it."""
    last: dict[str, int] = {}
    for s in trace.steps:
        for x in s.inputs:
            if x.node is not None and x.grad is not None:
                last[x.node] = s.number
    state: dict[str, tuple[str, bool]] = {f"d{id(trace.output)}": (trace.seed.tag, True)}
    out = []
    for s in trace.steps:
        state = dict(state)
        for x in s.inputs:
            if x.node is None or x.grad is None:
                continue
            now = x.sum.total if x.sum is not None else x.grad
            state[x.node] = (now.tag, last[x.node] == s.number)
        out.append(state)
    return out


def _captions(trace: BackwardTrace) -> list[list[str]]:
    n = len(trace.steps)
    out = []
    for s in trace.steps:
        where = f"   (in {s.module})" if s.module else ""
        arriving = ", ".join(
            f"gy = {r.grad.short} ({r.name})" for r in s.outputs if r.grad is not None
        )
        sent = [x for x in s.inputs if x.grad is not None]
        sends = ", ".join(f"{x.name} += {x.grad.short}" for x in sent[:4])  # type: ignore[union-attr]
        if len(sent) > 4:
            sends += ", ..."
        out.append(
            [
                f"step {s.number} of {n}: {s.label}{where}",
                f"rule: {s.rule or '(none given)'}",
                f"{arriving}   ->   {sends or '(nothing sent)'}",
            ]
        )
    return out


def _caption_label(lines: list[str], width: float, bold_first: bool = True) -> str:
    rows = []
    for i, line in enumerate(lines):
        text = html.escape(line) or "&#160;"
        rows.append(f"<b>{text}</b>" if i == 0 and bold_first else text)
    cell = (
        f'<td fixedsize="true" width="{width:.0f}" height="{19 * _CAPTION_LINES + 6}" '
        f'align="left" balign="left">{"<br/>".join(rows)}</td>'
    )
    return f'<<table border="0" cellpadding="2"><tr>{cell}</tr></table>>'


def _statements(source: str) -> list[str]:
    """The DOT source one statement a line: a label spanning lines (the values of a 2-D
    array) is joined into one."""
    out: list[str] = []
    depth = 0
    for line in source.splitlines():
        if depth > 0:
            out[-1] += " " + line.strip()
        else:
            out.append(line)
        depth += line.count("<") - line.count(">")
    return out


def _grad_row(text: str | None, final: bool) -> str:
    if text is None:
        return '<br/><font point-size="10">&#160;</font>'
    color = _FINAL if final else _PARTIAL
    body = html.escape(text)
    if final:
        body = f"<b>{body}</b>"
    return f'<br/><font point-size="10" color="{color}">{body}</font>'


class _Frames:
    """The DOT of each frame, built from the trace's DOT."""

    def __init__(self, trace: BackwardTrace) -> None:
        if trace.dot_source is None:
            raise RuntimeError(
                f"save_frames: this trace has no picture ({trace.note or 'none was drawn'})"
            )
        self.trace = trace
        self.lines = _statements(trace.dot_source)
        self.states = _states(trace)
        self.captions = _captions(trace)
        longest = max((len(x) for c in self.captions for x in c), default=10)
        self.caption_width = max(200.0, longest * _CAPTION_PT_PER_CHAR)
        self.sizes: dict[str, tuple[str, str]] = {}

    def _widest(self) -> dict[str, str]:
        """Each data node's longest gradient text over all steps (sizes the layout)."""
        widest: dict[str, str] = {}
        for st in self.states:
            for node, (text, _) in st.items():
                if len(text) > len(widest.get(node, "")):
                    widest[node] = text
        return widest

    def source(self, k: int | None) -> str:
        """The DOT of step k (1-based), or with k None the layout pass: the longest texts."""
        trace = self.trace
        if k is None:
            texts = {n: (t, True) for n, t in self._widest().items()}
            cap_lines = [
                max((c[i] for c in self.captions), key=len, default="")
                for i in range(_CAPTION_LINES)
            ]
            current = None
        else:
            texts = self.states[k - 1]
            cap_lines = self.captions[k - 1]
            current = trace.steps[k - 1]
        recv = set()
        flows = set()
        box = None
        if current is not None:
            box = current.box
            for x in current.inputs:
                if x.node is not None and x.grad is not None:
                    recv.add(x.node)
                    flows.add((x.node, current.node))
        out = []
        stack: list[str] = []
        for line in self.lines:
            m = _OPEN.match(line)
            if m:
                stack.append(m.group(1))
                out.append(line)
                continue
            if line.strip() == "}" and stack:
                if stack.pop() == box:
                    out.append(f"\t\t{_BOX}")
                out.append(line)
                continue
            m = _NODE.match(line)
            if m:
                pad, node, label, attrs = m.groups()
                extra = ""
                if node[0] == "d":
                    text, final = texts.get(node, (None, False))
                    label += _grad_row(text, final)
                if k is not None and node in self.sizes:
                    w, h = self.sizes[node]
                    extra += f' fixedsize="true" width="{w}" height="{h}"'
                if current is not None and node == current.node:
                    extra += " " + _CURRENT
                elif node in recv:
                    extra += " " + _RECEIVES
                out.append(f"{pad}{node} [label=<{label}> {attrs}{extra}]")
                continue
            m = _EDGE.match(line)
            if m and (m.group(2), m.group(3)) in flows:
                pad, tail, head, rest = m.groups()
                rest = rest.strip()
                if rest.startswith("[") and rest.endswith("]"):
                    out.append(f"{pad}{tail} -> {head} [{rest[1:-1]} {_FLOW}]")
                else:
                    out.append(f"{pad}{tail} -> {head} [{_FLOW}]")
                continue
            out.append(line)
        body = "\n".join(out)
        caption = _caption_label(
            cap_lines + [""] * (_CAPTION_LINES - len(cap_lines)), self.caption_width
        )
        head = (
            f"\tgraph [label={caption} labelloc=t labeljust=l fontsize={_CAPTION_PT} bgcolor=white]"
        )
        # After the opening brace: the trace's own graph attributes stay in force.
        return body.replace("{", "{\n" + head, 1)

    def measure(self, exe: str, timeout: float) -> None:
        """Lay out the widest version once and keep each node's size."""
        with tempfile.TemporaryDirectory(prefix="minigrad-frames-") as td:
            out = os.path.join(td, "layout.json")
            render(self.source(None), exe, "json", out, timeout)
            with open(out, encoding="utf-8") as fh:
                laid = json.load(fh)
        for obj in laid.get("objects", []):
            name = obj.get("name", "")
            if "width" in obj and "height" in obj and re.fullmatch(r"[dfm]\d+", name):
                self.sizes[name] = (str(obj["width"]), str(obj["height"]))


def save_frames(trace: BackwardTrace, folder: str, timeout: float = 120.0) -> list[str]:
    """One PNG per step in `folder`: step_001.png, ... (see BackwardTrace.save_frames)."""
    frames = _Frames(trace)
    exe = _renderer()
    frames.measure(exe, timeout)
    os.makedirs(folder, exist_ok=True)
    digits = max(3, len(str(len(trace.steps))))
    paths = []
    for k in range(1, len(trace.steps) + 1):
        path = os.path.join(folder, f"step_{k:0{digits}d}.png")
        render(frames.source(k), exe, "png", path, timeout)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- animations


def save_animation(trace: BackwardTrace, path: str, seconds_per_step: float) -> str:
    """A GIF (`.gif`, through Pillow) or an APNG (`.png`/`.apng`) of the frames."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".gif", ".png", ".apng"):
        raise ValueError(
            f"save_gif: cannot tell the format of {path!r} from its suffix; use .gif (needs "
            "Pillow) or .png/.apng (an animated PNG)"
        )
    if not seconds_per_step > 0:
        raise ValueError(f"save_gif: seconds_per_step must be > 0, got {seconds_per_step!r}")
    if not trace.steps:
        raise ValueError("save_gif: the trace has no steps (the output is a leaf)")
    if suffix == ".gif":
        try:
            from PIL import Image
        except ImportError:
            raise ImportError(
                'save_gif: a .gif needs Pillow: pip install "minigrad[examples]" (or pillow); '
                "an animated PNG (.png) needs nothing more"
            ) from None
    ms = [round(seconds_per_step * 1000)] * len(trace.steps)
    ms[-1] *= 3  # hold the final state
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="minigrad-frames-") as td:
        pngs = save_frames(trace, td)
        if suffix == ".gif":
            images = [Image.open(p).convert("RGB") for p in pngs]
            paletted = [im.quantize(colors=255, method=Image.Quantize.MEDIANCUT) for im in images]

            def write(f: BinaryIO) -> None:
                paletted[0].save(
                    f,
                    format="GIF",
                    save_all=True,
                    append_images=paletted[1:],
                    duration=ms,
                    loop=0,
                    disposal=1,
                )

        else:
            apng = apng_bytes([_read_png(p) for p in pngs], ms)

            def write(f: BinaryIO) -> None:
                f.write(apng)

        write_atomically(path, write, "save_gif")
    return path


_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(path: str) -> tuple[bytes, list[bytes]]:
    """(IHDR data, the IDAT chunks' data) of a PNG file."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw.startswith(_SIGNATURE):
        raise ValueError(f"save_gif: {path} is not a PNG file")
    pos = len(_SIGNATURE)
    ihdr = b""
    idats = []
    while pos + 8 <= len(raw):
        (n,) = struct.unpack(">I", raw[pos : pos + 4])
        kind = raw[pos + 4 : pos + 8]
        data = raw[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = data
        elif kind == b"IDAT":
            idats.append(data)
        elif kind == b"PLTE":
            raise ValueError(f"save_gif: {path} uses a palette; write a .gif instead")
    return ihdr, idats


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def apng_bytes(frames: list[tuple[bytes, list[bytes]]], ms: list[int]) -> bytes:
    """An animated PNG of frames that share one IHDR (size, colour type, depth); `ms` the
    display time of each, looped forever."""
    ihdr = frames[0][0]
    for i, (h, _) in enumerate(frames):
        if h != ihdr:
            raise ValueError(
                f"save_gif: frame {i + 1} differs in size or colour type from frame 1 "
                f"({struct.unpack('>II', h[:8])} vs {struct.unpack('>II', ihdr[:8])})"
            )
    width, height = struct.unpack(">II", ihdr[:8])
    out = [_SIGNATURE, _chunk(b"IHDR", ihdr), _chunk(b"acTL", struct.pack(">II", len(frames), 0))]
    seq = 0
    for i, ((_, idats), delay) in enumerate(zip(frames, ms)):
        # fcTL: sequence, size, offset, delay (delay/1000 s), dispose none, blend source.
        fctl = struct.pack(">IIIIIHHBB", seq, width, height, 0, 0, delay, 1000, 0, 0)
        out.append(_chunk(b"fcTL", fctl))
        seq += 1
        for data in idats:
            if i == 0:
                out.append(_chunk(b"IDAT", data))
            else:
                out.append(_chunk(b"fdAT", struct.pack(">I", seq) + data))
                seq += 1
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
