"""The explorer page (self-contained, its data the trace's), Jupyter's inline form, the bounds
on large graphs, and the pictures per step (PNG frames, GIF, APNG)."""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from minigrad import Variable, nn
from minigrad.viz import RendererNotFoundError, _explain_frames, _explain_page, explain_backward

from .explain_graphs import apple, net


def page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page, re.S)
    assert m, "no data in the page"
    return json.loads(m.group(1))


def svg_titles(page: str) -> set[str]:
    return set(re.findall(r"<title>([^<]*)</title>", page))


def test_the_page_is_one_self_contained_file(tmp_path):
    y, _ = apple()
    trace = explain_backward(y, check=True, rankdir="LR")
    path = trace.save_html(tmp_path / "sub" / "apple.html")
    assert path == str(tmp_path / "sub" / "apple.html")
    page = Path(path).read_text(encoding="utf-8")
    assert list((tmp_path / "sub").iterdir()) == [Path(path)]  # no temp file left
    # Nothing is fetched: no external script, style, font or image.
    assert not re.search(r"<(script|link|img|iframe)[^>]*\b(src|href)=", page)
    assert "@import" not in page and not re.search(r"url\((?!#)", page)  # only url(#id)
    assert page.count("<svg") == 1 and 'id="step-counter"' in page
    data = page_data(page)
    assert len(data["steps"]) == 4 and data["checked"] is True
    titles = svg_titles(page)
    for s, d in zip(trace.steps, data["steps"]):
        assert d["node"] == s.node and s.node in titles
        assert d["label"] == s.label and d["rule"] == s.rule
        assert [i[2][1] if i[2] else None for i in d["ins"]] == [
            x.grad.text if x.grad else None for x in s.inputs
        ]
        for x in d["ins"]:
            assert x[1] in titles
    assert [leaf["name"] for leaf in data["leaves"]] == [lf.name for lf in trace.leaves]
    assert data["leaves"][0]["num"][1] == trace.leaves[0].numeric.text
    assert data["output"]["node"] in titles


def test_a_title_with_markup_is_escaped():
    y, _ = apple()
    page = explain_backward(y).to_html(title="a <b> & </script> title")
    assert "<title>a &lt;b&gt; &amp; &lt;/script&gt; title</title>" in page
    assert page_data(page)["title"] == "a <b> & </script> title"


def test_jupyter_shows_the_page_in_a_frame():
    y, _ = net()
    trace = explain_backward(y)
    out = trace._repr_html_()
    assert out.startswith("<iframe") and 'sandbox="allow-scripts"' in out
    m = re.search(r'srcdoc="([^"]*)"', out)
    assert m and "&lt;svg" in m.group(1) and "step-counter" in m.group(1)


def test_a_200_op_graph_traces_and_pages_within_bounds():
    # An MLP of 100 layers on a batch of two: 202 ops in 101 module boxes.
    rng = np.random.default_rng(0)
    model = nn.MLP([4] + [4] * 100 + [2])
    x = Variable(rng.random((2, 4)).astype(np.float32), name="x", requires_grad=False)
    y = model(x, np.array([0, 1]))
    start = time.perf_counter()
    trace = explain_backward(y)
    page = trace.to_html()
    elapsed = time.perf_counter() - start
    assert len(trace.steps) == 202 and trace.note is None
    assert elapsed <= 3.0, f"{elapsed:.2f} s"
    size = len(page.encode("utf-8"))
    assert size <= 2_000_000, size
    per_step = len(json.dumps(page_data(page)["steps"])) / len(trace.steps)
    assert per_step < 3000, per_step  # a few KB per step at most
    titles = svg_titles(page)
    assert all(s.node in titles and s.box in titles for s in trace.steps)


def deep_model() -> nn.Module:
    """10 blocks of 52 layers each: 520 ops in three levels of module calls."""
    rng = np.random.default_rng(0)
    blocks = []
    for _ in range(10):
        layers: list[nn.Module] = []
        for _ in range(26):
            lin = nn.Linear(2, 2, dtype=np.float64)
            lin.W.data[...] = rng.standard_normal((2, 2)) * 0.5
            layers += [lin, nn.Tanh()]
        blocks.append(nn.Sequential(*layers))
    return nn.Sequential(*blocks)


def test_past_500_steps_module_calls_collapse_and_the_page_says_so():
    model = deep_model()
    x = Variable(np.ones((1, 2)), name="x", requires_grad=False)
    y = model(x).sum()
    trace = explain_backward(y)
    assert len(trace.steps) == 521 and trace.collapsed
    assert "each module call at depth 2 is drawn as one node" in trace.note
    inside = [s for s in trace.steps if s.op != "sum"]
    assert all(s.node.startswith("m") for s in inside)
    assert len({s.node for s in inside}) == 10  # one node per block
    page = trace.to_html()
    titles = svg_titles(page)
    assert all(s.node in titles for s in trace.steps)
    assert page_data(page)["note"] == trace.note
    # The steps are the same as with every op drawn.
    assert trace.leaves and all(lf.grad.array is not None for lf in trace.leaves)


def test_too_many_nodes_give_the_steps_without_a_picture(tmp_path):
    x = Variable(np.array([0.5]), name="x")
    h = x
    for _ in range(800):
        h = h * 1.001 + 0.001
    trace = explain_backward(h.sum())
    assert trace.dot_source is None and "too many for a readable picture" in trace.note
    page = trace.to_html()
    assert "<svg" not in page and "(no picture)" in page
    assert len(page_data(page)["steps"]) == 1601
    with pytest.raises(RuntimeError, match="save_frames: this trace has no picture"):
        trace.save_frames(tmp_path)


def test_without_a_renderer_the_page_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(_explain_page, "find_renderer", lambda: None)
    monkeypatch.setattr(_explain_frames, "find_renderer", lambda: None)
    y, _ = apple()
    trace = explain_backward(y)
    page = trace.to_html()
    assert "<svg" not in page and "No DOT renderer was found" in page_data(page)["note"]
    with pytest.raises(RendererNotFoundError, match="pip install graphviz-pure"):
        trace.save_frames(tmp_path)


def test_a_layout_past_its_time_gives_the_page_without_a_picture(monkeypatch):
    monkeypatch.setattr(_explain_page, "RENDER_TIMEOUT", 1e-6)
    y, _ = apple()
    page = explain_backward(y).to_html()
    assert "<svg" not in page
    assert "The graph could not be drawn" in page_data(page)["note"]
    assert "did not finish within" in page_data(page)["note"]


def png_size(path: str | Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body), kind
        out.append((kind, body))
        pos += 12 + n
    return out


def test_frames_one_png_per_step_all_of_one_size(tmp_path):
    y, _ = net()
    trace = explain_backward(y)
    paths = trace.save_frames(tmp_path / "frames")
    assert [Path(p).name for p in paths] == [f"step_00{k}.png" for k in range(1, 5)]
    sizes = {png_size(p) for p in paths}
    assert len(sizes) == 1, sizes
    (w, h), = sizes  # fmt: skip
    assert 400 <= w <= 3000 and 400 <= h <= 3000
    assert len({Path(p).read_bytes() for p in paths}) == 4  # each frame shows its own step


def test_the_frames_dot_highlights_the_step_and_keeps_one_layout():
    y, _ = apple()
    trace = explain_backward(y)
    frames = _explain_frames._Frames(trace)
    frames.sizes = {"d1": ("1", "1")}
    step = trace.steps[3]  # mul: apple * apple_num
    src = frames.source(4)
    assert f'{step.node} [label=<mul> shape="box"' in src and 'penwidth="4"' in src
    for x in step.inputs:
        assert re.search(rf"{x.node} -> {step.node} \[.*style=\"dashed\"", src)
    assert "step 4 of 4: mul" in src and "apple += 2.2, apple_num += 110.0" in src
    assert "g = 2.2" in src and "g = 650.0" in src
    layout = frames.source(None)
    assert "g = 3.3" in layout  # the widest text of every node sizes the layout


def test_save_gif_writes_an_apng_without_pillow_and_a_gif_with_it(tmp_path):
    y, _ = apple()
    trace = explain_backward(y, rankdir="LR")
    apng = trace.save_gif(tmp_path / "anim.png", seconds_per_step=0.5)
    parts = chunks(Path(apng).read_bytes())
    kinds = [k for k, _ in parts]
    assert kinds[:2] == [b"IHDR", b"acTL"] and kinds[-1] == b"IEND"
    assert struct.unpack(">II", parts[1][1]) == (4, 0)  # 4 frames, looped forever
    fctl = [struct.unpack(">IIIIIHHBB", b) for k, b in parts if k == b"fcTL"]
    assert [f[5] for f in fctl] == [500, 500, 500, 1500]  # ms; the last frame held
    seqs = [f[0] for f in fctl] + [struct.unpack(">I", b[:4])[0] for k, b in parts if k == b"fdAT"]
    assert sorted(seqs) == list(range(len(seqs)))
    pil = pytest.importorskip("PIL.Image")
    gif = trace.save_gif(tmp_path / "anim.gif")
    with pil.open(gif) as im:
        assert im.n_frames == 4 and im.size == png_size(apng)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anim.gif", "anim.png"]


def test_save_gif_refuses_what_it_cannot_write(tmp_path):
    y, _ = apple()
    trace = explain_backward(y)
    with pytest.raises(ValueError, match=r"use \.gif \(needs Pillow\) or \.png/\.apng"):
        trace.save_gif(tmp_path / "anim.mp4")
    with pytest.raises(ValueError, match="seconds_per_step must be > 0"):
        trace.save_gif(tmp_path / "anim.png", seconds_per_step=0)
    leaf = explain_backward(Variable(np.array(1.0)))
    with pytest.raises(ValueError, match="the trace has no steps"):
        leaf.save_gif(tmp_path / "anim.png")
    assert list(tmp_path.iterdir()) == []


ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_shopping_examples_animation_and_its_code_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Watching the backward pass") :]
    assert "](docs/assets/backward_apple.gif)" in section
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("PIL")
    exec(code, {"np": np, "mg": __import__("minigrad"), "F": __import__("minigrad").F})
    assert (tmp_path / "backward.html").is_file() and (tmp_path / "backward.gif").is_file()
    # The committed animation is the one examples/visualize.py writes for the shopping example.
    from PIL import Image

    committed = ROOT / "docs" / "assets" / "backward_apple.gif"
    assert committed.stat().st_size < 300_000
    y, _ = apple()
    fresh = explain_backward(y, rankdir="LR").save_gif(tmp_path / "fresh.gif")
    with Image.open(committed) as a, Image.open(fresh) as b:
        assert a.n_frames == b.n_frames == 4
        if "graphviz-pure" in (_explain_frames.find_renderer() or ""):
            assert a.size == b.size  # the same layout (another renderer measures text apart)
