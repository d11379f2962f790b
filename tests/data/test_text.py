"""minigrad.data.text: the offline corpus, the vocabulary, the split, batches and the bigram
baseline: exact values and errors."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad.data import CharVocab, bigram_loss, load_text, sample_batch, split_ids


def test_default_corpus_is_pythons_help_topics():
    from pydoc_data.topics import topics

    text = load_text()
    assert len(text) > 100_000
    assert text == "".join(topics[k] for k in sorted(topics))
    assert load_text() == text  # the same every call


def test_load_text_from_a_file_and_its_errors(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("héllo\nworld", encoding="utf-8")
    assert load_text(p) == "héllo\nworld"
    with pytest.raises(FileNotFoundError, match=r"load_text: no such file: .*missing.txt"):
        load_text(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff\xfe")
    with pytest.raises(ValueError, match=r"load_text: .*bad.txt' is not UTF-8 text \(byte 3"):
        load_text(bad)
    (tmp_path / "one.txt").write_text("a")
    with pytest.raises(ValueError, match=r"holds 1 characters; need 2\+"):
        load_text(tmp_path / "one.txt")


def test_vocab_round_trip_and_ids():
    v = CharVocab("hello world")
    assert v.chars == [" ", "d", "e", "h", "l", "o", "r", "w"] and len(v) == 8
    ids = v.encode("hold")
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [3, 5, 4, 1])
    assert v.decode(ids) == "hold"
    assert v.decode([0, 7]) == " w"
    assert v.decode(np.array([], dtype=np.int64)) == ""
    assert repr(v) == "CharVocab(8 characters)"


def test_vocab_errors():
    v = CharVocab("abc")
    with pytest.raises(
        ValueError, match=r"character 'z' \(at position 2\) is not in the vocabulary of 3"
    ):
        v.encode("abzc")
    with pytest.raises(ValueError, match=r"decode: ids must be integers in \[0, 3\)"):
        v.decode([0, 3])
    with pytest.raises(ValueError, match=r"decode: ids must be integers"):
        v.decode(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="CharVocab: the text is empty"):
        CharVocab("")


def test_split_is_fixed_and_ordered():
    ids = np.arange(100)
    train, val = split_ids(ids, 0.1)
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(val, np.arange(90, 100))
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 1.5"):
        split_ids(ids, 1.5)
    with pytest.raises(ValueError, match=r"5 ids are too few"):
        split_ids(np.arange(5), 0.1)


def test_sample_batch_windows_and_targets():
    ids = np.arange(50) * 3
    x, y = sample_batch(ids, 4, 6, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 6) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(np.diff(x, axis=1), 3)  # contiguous windows
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    np.testing.assert_array_equal(y[:, -1], x[:, -1] + 3)
    x2, _ = sample_batch(ids, 4, 6, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)
    assert sample_batch(ids, 2, 49, np.random.default_rng(1))[1][0, -1] == 49 * 3
    with pytest.raises(ValueError, match=r"context 50 needs more than 50 ids"):
        sample_batch(ids, 2, 50, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"must be positive, got 0, 3"):
        sample_batch(ids, 0, 3, np.random.default_rng(0))


def test_bigram_loss_by_hand():
    train = np.array([0, 1, 0, 1, 1])
    val = np.array([0, 1, 1])
    # counts + 1: from 0: [1, 3]; from 1: [2, 2].
    expected = -(np.log(3 / 4) + np.log(2 / 4)) / 2
    assert bigram_loss(train, val, 2) == pytest.approx(expected, rel=1e-12)
    # A perfectly predictable text costs almost nothing with little smoothing.
    cycle = np.tile(np.arange(5), 200)
    assert bigram_loss(cycle, cycle[:50], 5, smoothing=1e-6) < 1e-6
    with pytest.raises(ValueError, match=r"val_ids has ids outside \[0, 2\)"):
        bigram_loss(train, np.array([0, 2]), 2)
    with pytest.raises(ValueError, match=r"smoothing must be positive"):
        bigram_loss(train, val, 2, smoothing=0)


def test_bigram_baseline_on_the_default_corpus():
    text = load_text()
    vocab = CharVocab(text)
    train, val = split_ids(vocab.encode(text))
    loss = bigram_loss(train, val, len(vocab))
    # Uniform over ~100 characters is log(100) = 4.6 nats; a bigram model does far better.
    assert 2.0 < loss < 3.0
