"""examples/seq2seq.py, run as a user would: a tiny run on a copying task written in the
sequel's file format (its lines, its files, an accuracy far above chance), a tiny run on the
generated dates and additions; its pieces (exact match, length batches, greedy decoding equal
to teacher forcing); --help; option errors."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import scripts

from minigrad.data import SeqVocab, make_dates

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "seq2seq.py"
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/(\d+)  loss (\d+\.\d{4})  train_acc (0\.\d{4}|1\.0000)  "
    r"test_acc (0\.\d{4}|1\.0000)  \d+\.\ds$"
)
PAD, START, END = SeqVocab.PAD, SeqVocab.START, SeqVocab.END


def run_script(*args: str) -> tuple[list[str], str]:
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    proc = scripts.run(SCRIPT, *args, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    return proc.stdout.strip().splitlines(), proc.stderr


@pytest.fixture(scope="module")
def example():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        yield scripts.load(SCRIPT, "seq2seq_example")
    finally:
        sys.path.remove(str(SCRIPT.parent))


def check_lines(lines: list[str], epochs: int) -> list[re.Match[str]]:
    epoch_lines = [EPOCH_LINE.match(line) for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == epochs and all(epoch_lines), lines
    assert [int(m.group(1)) for m in epoch_lines] == list(range(1, epochs + 1))
    key, value = lines[-1].split()
    assert key == "test_acc" and value == epoch_lines[-1].group(5)
    return epoch_lines


def check_files(out: Path) -> None:
    for name in ("curves.png", "attention.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert (out / "seq2seq.npz").stat().st_size > 0


def write_copy_task(path: Path, n: int = 500) -> None:
    """Strings of a, b, c, d (1 to 4 letters) to copy, in the sequel's format: random answers
    are right by chance 1 time in 4**length, about 1% on average."""
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            s = "".join(rng.choice(list("abcd"), size=int(rng.integers(1, 5))))
            f.write(f"{s:<5}_{s:<4}\n")


def test_tiny_run_on_a_file_learns_to_copy(tmp_path, example):
    data, out = tmp_path / "copy.txt", tmp_path / "out"
    write_copy_task(data)
    lines, _ = run_script(
        "--data", str(data), "--hidden", "32", "--epochs", "6", "--batch-size", "16",
        "--lr", "0.02", "--out", str(out),
    )  # fmt: skip
    assert lines[0].startswith(f"seq2seq with attention float32: {data}, 450 train / 50 test")
    epoch_lines = check_lines(lines, 6)
    losses = [float(m.group(3)) for m in epoch_lines]
    assert losses[-1] < 0.5 * losses[0]
    assert float(lines[-1].split()[1]) >= 0.5  # chance is about 0.01
    check_files(out)
    # The weights load into the example's model.
    net = example.Seq2Seq(3 + 4, example.EMBED, 32)
    net.load(out / "seq2seq.npz")


def test_export_decodes_as_minigrad_does(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    data, out = tmp_path / "copy.txt", tmp_path / "out"
    write_copy_task(data, n=200)
    lines, _ = run_script(
        "--data", str(data), "--hidden", "16", "--epochs", "3", "--batch-size", "32",
        "--lr", "0.01", "--out", str(out), "--export", str(out / "seq2seq.onnx"),
    )  # fmt: skip
    m = re.match(
        r"wrote .*seq2seq\.onnx: onnxruntime test_acc (\S+)  minigrad test_acc (\S+)$", lines[-2]
    )
    assert m and m.group(1) == m.group(2) == lines[-1].split()[1], lines[-2:]
    import onnx

    ops = {node.op_type for node in onnx.load(out / "seq2seq.onnx").graph.node}
    assert {"LSTM", "Gather", "Softmax", "MatMul"} <= ops


def test_tiny_runs_on_generated_dates_and_reversed_additions(tmp_path):
    lines, _ = run_script(
        "--n", "300", "--hidden", "16", "--epochs", "1", "--out", str(tmp_path / "d")
    )
    assert lines[0].startswith("seq2seq with attention float32: 300 generated dates, 270 train")
    check_lines(lines, 1)
    check_files(tmp_path / "d")
    lines, _ = run_script(
        "--task", "addition", "--reverse", "--n", "300", "--hidden", "16", "--epochs", "2",
        "--out", str(tmp_path / "a"),
    )  # fmt: skip
    assert "300 generated addition" in lines[0] and "reversed input" in lines[0]
    check_lines(lines, 2)


def test_exact_matches_stop_at_the_end_marker(example):
    t = np.array([[5, 6, END, PAD], [5, END, PAD, PAD], [5, 6, END, PAD]])
    ids = np.array([[5, 6, END, 9], [5, 6, END, 4], [5, 7, END, PAD]])
    np.testing.assert_array_equal(example.exact_matches(ids, t), [True, False, False])


def test_length_batches_cover_every_row_once_and_group_lengths(example):
    pairs = make_dates(2000, seed=0)
    vocab = SeqVocab.from_pairs(pairs)
    x, _ = example.encode(vocab, pairs, False, 10)
    batches = example.length_batches(x, 50, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(2000))
    trimmed = np.mean([example.trim(x[b]).shape[1] for b in batches])
    unsorted = np.mean([example.trim(x[i : i + 50]).shape[1] for i in range(0, 2000, 50)])
    assert trimmed < 0.7 * unsorted


def test_greedy_decoding_equals_teacher_forcing_on_its_own_output(example):
    # Feeding the greedy answer back teacher-forced gives the same argmax at every step, and
    # trimming the padding changes nothing (the decoder starts at the last real character).
    pairs = make_dates(6, seed=1)
    vocab = SeqVocab.from_pairs(pairs)
    x, _ = example.encode(vocab, pairs, False, 10)
    np.random.seed(0)  # noqa: NPY002 - minigrad's initializers draw from np.random
    net = example.Seq2Seq(len(vocab), 8, 12, dtype=np.float64)
    ids, weights = net.generate(x, 11)
    assert weights.shape == (6, 11, x.shape[1])
    np.testing.assert_allclose(weights.sum(axis=2), 1.0)
    assert np.all(weights[x[:, None, :].repeat(11, axis=1) == PAD] == 0.0)
    y = np.concatenate([np.full((6, 1), START), ids[:, :-1]], axis=1)
    logits = net(x, y).data
    np.testing.assert_array_equal(logits.argmax(axis=2), ids)
    padded = np.pad(x, ((0, 0), (0, 3)))
    np.testing.assert_allclose(net(padded, y).data, logits, rtol=1e-12)


def test_help_and_errors(tmp_path):
    proc = scripts.run(SCRIPT, "--help")
    assert proc.returncode == 0 and "--reverse" in proc.stdout and "--data" in proc.stdout
    for args, message in [
        (["--data", str(tmp_path / "nope.txt")], "--data: no file"),
        (["--data", str(SCRIPT), "--n", "10"], "drop it with --data"),
        (["--epochs", "0"], "--epochs must be positive, got 0"),
        (["--task", "poetry"], "invalid choice: 'poetry'"),
    ]:
        proc = scripts.run(SCRIPT, *args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
