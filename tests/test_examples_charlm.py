"""examples/charlm.py, run as a user would, tiny: its output lines (one per evaluation, the
bigram beside), the sample, the last line, the files it writes; --text, --model, --export;
--help and option errors."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import scripts

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "charlm.py"
EVAL_LINE = re.compile(
    r"^step (\d+)  train_loss (\d+\.\d{4})  val_loss (\d+\.\d{4})  bigram (\d+\.\d{4})  "
    r"ratio (\d+\.\d{3})  \d+\.\ds$"
)
TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "8", "--context", "16", "--sample", "40"]


def run_script(*args: str) -> scripts.subprocess.CompletedProcess[str]:
    return scripts.run(SCRIPT, *args, timeout=300)


def test_tiny_run_on_the_default_corpus(tmp_path):
    out = tmp_path / "out"
    proc = run_script(*TINY, "--steps", "6", "--eval-every", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("charlm: LSTM 1x16, embedding 8, ")
    assert "batch 8 x 16, adam lr 0.003, 6 steps, bigram " in lines[0]
    evals = [EVAL_LINE.match(line) for line in lines if line.startswith("step ")]
    assert [m.group(1) for m in evals] == ["3", "6"]
    bigram = float(evals[0].group(4))
    assert 1.5 < bigram < 4.0  # the help text's bigram loss, nats per character
    vals = [float(m.group(3)) for m in evals]
    assert vals[1] < vals[0] < np.log(200)  # learning, from about log(vocabulary)
    for m in evals:
        assert float(m.group(5)) == pytest.approx(float(m.group(3)) / bigram, abs=1e-3)
    sample = next(line for line in lines if line.startswith("sample: "))
    assert sample.startswith("sample: The ")
    assert (out / "sample.txt").read_text(encoding="utf-8").startswith("The ")
    assert len((out / "sample.txt").read_text(encoding="utf-8")) == len("The ") + 40 + 1
    last = lines[-1].split()
    assert last[0] == "val_loss" and last[2] == "bigram" and len(last) == 4
    assert last[1] == evals[-1].group(3) and last[3] == evals[-1].group(4)
    weights = np.load(out / "charlm_lstm.npz")
    assert weights["rnn.weight_ih_l0"].shape == (64, 8)
    assert weights["embed.weight"].shape[1] == 8
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", ["gru", "rnn"])
def test_text_file_and_other_layers(tmp_path, model):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    args = [*TINY, "--text", str(text), "--model", model, "--steps", "30", "--eval-every", "15"]
    proc = run_script(*args, "--lr", "0.01", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(f"charlm: {model.upper()} 1x16") and "11 characters" in lines[0]
    evals = [EVAL_LINE.match(line) for line in lines if line.startswith("step ")]
    first, last = (float(m.group(3)) for m in evals)
    assert last < first < np.log(11)  # learning, from about log(vocabulary)
    assert (tmp_path / "o" / f"charlm_{model}.npz").exists()


def test_export(tmp_path):
    for m in ("onnx", "onnxruntime"):
        pytest.importorskip(m)
    path = tmp_path / "lm.onnx"
    proc = run_script(
        *TINY, "--steps", "2", "--eval-every", "2", "--out", str(tmp_path), "--export", str(path)
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith(f"wrote {path}"))
    m = re.search(r"on \(3, 32\) ids differ by (\S+)$", line)
    assert m and float(m.group(1)) < 1e-4, line


def test_help_and_option_errors():
    proc = run_script("--help")
    assert proc.returncode == 0
    for option in (
        "--model",
        "--text",
        "--hidden",
        "--context",
        "--minutes",
        "--steps",
        "--export",
    ):
        assert option in proc.stdout
    proc = run_script("--hidden", "0")
    assert proc.returncode == 2 and "--hidden must be positive, got 0" in proc.stderr
    proc = run_script("--model", "transformer")
    assert proc.returncode == 2 and "invalid choice: 'transformer'" in proc.stderr
    proc = run_script("--text", "/nonexistent/file.txt", "--steps", "1")
    assert proc.returncode != 0 and "no such file" in proc.stderr
