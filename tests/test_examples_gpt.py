"""examples/gpt.py, run as a user would: a tiny training run on the offline corpus (its lines,
the last line, the files), generation from the saved weights, --text, --help and option
errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import scripts

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "gpt.py"
TINY = [
    "--steps", "24", "--eval-every", "12", "--layers", "1", "--d-model", "16", "--heads", "2",
    "--context", "12", "--batch-size", "8", "--lr", "0.01",
]  # fmt: skip
STEP_LINE = re.compile(
    r"^step (\d+)/24  train (\d+\.\d{4})  val (\d+\.\d{4})  bigram (\d+\.\d{4})  "
    r"val/bigram (\d+\.\d{3})  \d+\.\ds$"
)


def run(*args: str, timeout: float = 240):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return scripts.run(SCRIPT, *args, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpt")
    return run(*TINY, "--out", str(out)), out


def test_tiny_run_lines_and_files(trained):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("GPT 1 blocks, d_model 16, 2 heads, d_ff 64, context 12")
    steps = [STEP_LINE.match(line) for line in lines if line.startswith("step ")]
    assert [int(m.group(1)) for m in steps] == [12, 24]
    samples = [line for line in lines if line.startswith("sample: ")]
    assert len(samples) == 2 and all(len(s) > 40 for s in samples)
    last = lines[-1].split()
    assert last[0] == "val_loss" and last[2] == "bigram" and len(last) == 4
    val, bigram = float(last[1]), float(last[3])
    assert last[1] == steps[-1].group(3) and last[3] == steps[-1].group(4)
    # The bigram baseline of ~90 characters sits well below log(90) = 4.5; 24 steps of a
    # tiny model already beat a uniform guess.
    assert 1.5 < bigram < 4.0 and val < 4.4
    assert "warning" not in proc.stderr
    for name in ("curves.png", "attention.png", "graph.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
    saved = json.loads((out / "gpt.json").read_text())
    assert saved["settings"]["d_model"] == 16 and len(saved["chars"]) > 50
    assert (out / "gpt.npz").stat().st_size > 0


def test_generate_from_saved_weights(trained):
    _, out = trained
    proc = run("--out", str(out), "--generate", "30", "--prompt", "The ", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout[:-1]  # print's newline
    assert text.startswith("The ") and len(text) == 34
    again = run("--out", str(out), "--generate", "30", "--prompt", "The ", "--seed", "3")
    assert again.stdout == proc.stdout  # seeded


def test_generate_errors(trained, tmp_path):
    _, out = trained
    proc = run("--out", str(tmp_path), "--generate", "5")
    assert proc.returncode != 0 and "no gpt.json in" in proc.stderr
    proc = run("--out", str(out), "--generate", "5", "--prompt", "\u2603")
    assert proc.returncode != 0 and "characters the model never saw" in proc.stderr


def test_text_file(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 40)
    proc = run(*TINY, "--text", str(text), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "vocabulary 11," in proc.stdout.splitlines()[0]


def test_help_and_errors():
    proc = run("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: gpt.py")
    for option in ("--text", "--steps", "--out", "--export", "--generate", "--prompt"):
        assert option in proc.stdout
    proc = run("--d-model", "10", "--heads", "4")
    assert proc.returncode == 2 and "--d-model 10 is not divisible by --heads 4" in proc.stderr
    proc = run("--steps", "0")
    assert proc.returncode == 2 and "--steps must be positive, got 0" in proc.stderr


def test_export_onnx(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    path = tmp_path / "gpt.onnx"
    proc = run(*TINY, "--out", str(tmp_path), "--export", str(path))
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith(f"wrote {path}"))
    m = re.search(
        r"on 5 windows of 7 characters, onnxruntime val loss (\d+\.\d+)  minigrad (\d+\.\d+)  "
        r"max \|logits difference\| (\S+)$",
        line,
    )
    assert m and m.group(1) == m.group(2) and float(m.group(3)) < 1e-5, line
