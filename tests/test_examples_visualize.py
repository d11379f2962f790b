"""examples/visualize.py: the graphs it builds (values and gradients of the book's example,
the diamond, TwoLayerNet's loss, the recorded derivative) and the files the script writes."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sysconfig
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import scripts
from viz.dotparse import parse

from minigrad.viz import to_dot

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "visualize.py"
EXPLORERS = ["explain_apple.html", "explain_apple.gif", "explain_two_layer_net.html"]
PICTURES = [
    "apple_forward",
    "apple_backward",
    "diamond",
    "two_layer_net",
    "two_layer_net_collapsed",
    "second_order",
]


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return scripts.load(SCRIPT, "visualize_example")


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return scripts.run(SCRIPT, *args, env=env)


def test_apple_example_has_the_books_values_and_gradients(example):
    inputs, price = example.apple_orange()
    assert price.item() == pytest.approx(715.0)
    d = parse(to_dot(price, show_values=True).source)
    assert d.by_text("apple_price | scalar float64 | = 200.0")
    assert d.by_text("orange_price | scalar float64 | = 450.0")
    assert d.by_text("price | scalar float64 | = 715.0")
    assert d.texts("f") == ["add", "mul", "mul", "mul"]
    price.backward()
    grads = {k: example.grad_of(v) for k, v in inputs.items()}
    assert grads == pytest.approx(
        {"apple": 2.2, "apple_num": 110.0, "orange": 3.3, "orange_num": 165.0, "tax": 650.0}
    )
    d = parse(to_dot(price, show_grads=True, show_shapes=False, show_dtypes=False).source)
    assert d.by_text("apple | grad = 2.2")
    assert d.by_text("all_price | grad = 1.1")
    assert d.by_text("price | grad = 1.0")


def test_diamond_example(example):
    y = example.diamond()
    d = parse(to_dot(y).source)
    assert d.texts("f") == ["add", "exp", "mul 3.0", "sum", "tanh"]
    h = d.by_text("h | (3,) float32")
    assert len([e for e in d.edges if e[0] == h.name]) == 2
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    assert y.item() == pytest.approx(float((np.exp(np.tanh(x)) + 3 * np.tanh(x)).sum()), rel=1e-6)


def test_two_layer_net_example_on_random_data(example, monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    loss, source = example.two_layer_net_loss()
    assert source == "random data"
    # weights of std 0.01 give nearly uniform softmax outputs: loss about ln(10)
    assert loss.item() == pytest.approx(np.log(10), abs=0.01)
    d = parse(to_dot(loss).source)
    assert len(d.clusters) == 5  # the net and its four layer calls
    # The book's float64 net: the float32 batch is cast to its dtype (and keeps its name).
    assert d.by_text("x | (100, 784) float64")
    assert d.by_text("W1 | (784, 50) float64")


def test_tanh_derivative_example(example):
    gx = example.tanh_derivative()
    x = np.array([-1.0, 0.0, 0.5])
    np.testing.assert_allclose(gx.data, 1 - np.tanh(x) ** 2, rtol=1e-12)
    d = parse(to_dot(gx).source)
    assert "tanh" in d.texts("f") and "sub (1, ·)" in d.texts("f")
    # The seed of the backward pass is a named constant, an input of the last mul.
    seed = d.by_text(f"{example.SEED} | (3,) float64")
    (last,) = [t for s, t in d.edges if s == seed.name]
    assert d.nodes[last].text == "mul" and any(s == last for s, _ in d.edges)


def test_the_explorers_show_the_books_gradients(example, tmp_path):
    paths = example.explain_all(str(tmp_path))
    assert [Path(p).name for p in paths] == EXPLORERS
    page = Path(paths[0]).read_text(encoding="utf-8")
    assert "The book&#x27;s shopping example" in page and page.count("<svg") == 1
    for text in ('"2.2"', '"110.0"', '"3.3"', '"165.0"', '"650.0"'):  # the leaves' gradients
        assert text in page
    page = Path(paths[2]).read_text(encoding="utf-8")
    for name in ("W1", "b1", "W2", "b2", "layers.Affine1"):
        assert name in page
    assert Path(paths[1]).read_bytes()[:6] == b"GIF89a"


def test_small_net_has_every_number_shown(example):
    from minigrad.viz import explain_backward

    trace = explain_backward(example.small_net_loss(), check=True)
    assert [s.op for s in trace.steps] == ["softmax_cross_entropy", "linear", "relu", "linear"]
    assert all(lf.grad.values is not None and lf.agrees for lf in trace.leaves)


def test_help_names_the_options():
    out = run_script("--help")
    assert out.returncode == 0
    assert "--out" in out.stdout and "default: out/" in out.stdout and "--format" in out.stdout


def test_script_writes_readable_pngs_found_without_path(tmp_path):
    # PATH without the venv: graphviz-pure is found in the interpreter's scripts folder
    # (skipped where it has no wheel, as docs/architecture.md allows).
    scripts = sysconfig.get_path("scripts")
    if shutil.which("graphviz-pure", path=scripts) is None:
        pytest.skip("graphviz-pure is not installed in this interpreter's scripts folder")
    env = {k: v for k, v in os.environ.items() if k not in ("MINIGRAD_DOT", "MINIGRAD_DATA")}
    env["PATH"] = "/usr/bin:/bin"
    out = run_script("--out", str(tmp_path / "pics"), env=env)
    assert out.returncode == 0, out.stderr
    paths = out.stdout.split()
    pictures = [str(tmp_path / "pics" / f"{name}.png") for name in PICTURES]
    assert paths == pictures + [str(tmp_path / "pics" / name) for name in EXPLORERS]
    for p in pictures:
        data = Path(p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert 200 <= width <= 3000 and 200 <= height <= 3000, (p, width, height)


def test_script_writes_dot_sources(tmp_path):
    out = run_script("--out", str(tmp_path), "--format", "dot")
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(tmp_path)) == sorted(f"{name}.dot" for name in PICTURES)
    collapsed = parse((tmp_path / "two_layer_net_collapsed.dot").read_text())
    assert len(collapsed.of_kind("m")) == 4 and collapsed.of_kind("f") == []
    backward = (tmp_path / "apple_backward.dot").read_text()
    assert "dprice/dapple = 2.2" in backward and "grad = 650.0" in backward
