"""The toy seq2seq data: generated pairs by seed, dates that read back, the sequel's file format,
its split, and SeqVocab."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import (
    DATE_FORMATS,
    SeqVocab,
    load_seq2seq_file,
    make_additions,
    make_dates,
    read_seq2seq_file,
    split_pairs,
)

# How `datetime.strptime` reads each format (it ignores case in month and day names; ordinal
# suffixes are dropped before reading).
STRPTIME = {
    "september 27, 1994": "%B %d, %Y",
    "sep 27, 1994": "%b %d, %Y",
    "tuesday, september 27, 1994": "%A, %B %d, %Y",
    "tue, 27 sep 1994": "%a, %d %b %Y",
    "27 september 1994": "%d %B %Y",
    "27 sep 1994": "%d %b %Y",
    "september 27th, 1994": "%B %d, %Y",
    "9/27/94": "%m/%d/%y",
    "09/27/94": "%m/%d/%y",
    "9/27/1994": "%m/%d/%Y",
    "1994.09.27": "%Y.%m.%d",
    "27.09.1994": "%d.%m.%Y",
    "1994/9/27": "%Y/%m/%d",
    "27-sep-94": "%d-%b-%y",
}


def read_date(text: str) -> datetime.date | None:
    """The one date `text` means under some format (None if none reads it)."""
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text, flags=re.IGNORECASE)
    read = set()
    for fmt in STRPTIME.values():
        try:
            read.add(datetime.datetime.strptime(text, fmt).date())
        except ValueError:
            pass
    assert len(read) <= 1, f"{text!r} reads as several dates: {read}"
    return read.pop() if read else None


def test_formats_are_many_and_named_by_their_example() -> None:
    assert set(DATE_FORMATS) == set(STRPTIME)
    assert len(DATE_FORMATS) >= 10
    for name in DATE_FORMATS:
        assert read_date(name) == datetime.date(1994, 9, 27), name


def test_make_dates_exact_values_for_a_seed() -> None:
    assert make_dates(4, seed=0) == [
        ("01/14/21", "2021-01-14"),
        ("10 march 1986", "1986-03-10"),
        ("july 7, 1974", "1974-07-07"),
        ("10/18/2018", "2018-10-18"),
    ]
    assert make_dates(3, seed=1) == [
        ("5/23/98", "1998-05-23"),
        ("january 11, 2027", "2027-01-11"),
        ("18-may-19", "2019-05-18"),
    ]
    assert make_dates(1000, seed=5)[:10] == make_dates(10, seed=5)
    assert make_dates(50, seed=7) == make_dates(50, seed=7)
    assert make_dates(50, seed=7) != make_dates(50, seed=8)


def test_every_date_reads_back_and_every_format_and_case_occurs() -> None:
    pairs = make_dates(3000, seed=3)
    for question, answer in pairs:
        assert read_date(question) == datetime.date.fromisoformat(answer), question
    # Every format occurs: its shape (digits as 9, letters as a) is among the questions'.
    shape = lambda s: re.sub(r"[a-z]+", "a", re.sub(r"\d+", "9", s.lower()))  # noqa: E731
    assert {shape(f) for f in DATE_FORMATS} == {shape(q) for q, _ in pairs}
    worded = [q for q, _ in pairs if re.search("[a-zA-Z]", q)]
    assert any(q.islower() for q in worded) and any(q.isupper() for q in worded)
    assert any(q[0].isupper() and not q.isupper() for q in worded)
    years = [int(a[:4]) for _, a in pairs]
    assert min(years) == 1970 and max(years) == 2029
    assert max(len(q) for q, _ in make_dates(20000, seed=0)) == 29


def test_make_additions_exact_values_and_sums() -> None:
    assert make_additions(4, seed=0) == [
        ("844+38", "882"),
        ("91+5", "96"),
        ("0+6", "6"),
        ("5+3", "8"),
    ]
    assert make_additions(5000, seed=5)[:10] == make_additions(10, seed=5)
    pairs = make_additions(5000, seed=2)
    assert len({q for q, _ in pairs}) == 5000
    for q, a in pairs:
        x, y = q.split("+")
        assert int(x) + int(y) == int(a) and 1 <= len(x) <= 3 and 1 <= len(y) <= 3
    assert max(len(q) for q, _ in pairs) == 7
    assert {len(q.split("+")[0]) for q, _ in pairs} == {1, 2, 3}
    small = make_additions(50, seed=0, digits=1)
    assert all(len(q) == 3 for q, _ in small) and len(set(small)) == 50


def test_make_errors() -> None:
    with pytest.raises(ValueError, match=r"make_dates: n must be a positive integer, got 0"):
        make_dates(0)
    with pytest.raises(ValueError, match=r"make_additions: 60 distinct .* 1 digits give 100"):
        make_additions(60, digits=1)


def test_split_pairs_is_the_sequels_shuffle_and_tenth() -> None:
    pairs = [(str(i), str(i)) for i in range(25)]
    train, test = split_pairs(pairs, seed=1984)
    rng = np.random.RandomState(1984)  # the sequel's np.random.seed(1984); shuffle(arange(n))
    order = np.arange(25)
    rng.shuffle(order)
    assert [int(q) for q, _ in train + test] == order.tolist()
    assert (len(train), len(test)) == (23, 2)
    assert split_pairs(pairs, seed=1) != split_pairs(pairs, seed=2)


def test_read_the_sequels_format(tmp_path: Path) -> None:
    path = tmp_path / "addition.txt"
    path.write_text("16+75  _91  \n52+607 _659 \n\n795+3  _798 \n", encoding="utf-8")
    assert read_seq2seq_file(path) == [("16+75", "91"), ("52+607", "659"), ("795+3", "798")]
    dates = tmp_path / "date.txt"
    dates.write_text(
        "september 27, 1994           _1994-09-27\r\nTUESDAY, SEPTEMBER 25, 1984  _1984-09-25\r\n",
        encoding="utf-8",
    )
    assert read_seq2seq_file(dates) == [
        ("september 27, 1994", "1994-09-27"),
        ("TUESDAY, SEPTEMBER 25, 1984", "1984-09-25"),
    ]
    many = tmp_path / "many.txt"
    many.write_text("".join(f"{i}+0 _{i}\n" for i in range(30)), encoding="utf-8")
    train, test = load_seq2seq_file(many, seed=5)
    assert (train, test) == split_pairs(read_seq2seq_file(many), seed=5)
    assert (len(train), len(test)) == (27, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1+1 _2\n12+1 2\n", r"bad\.txt, line 2: expected one '_' .* found 0 in '12\+1 2'"),
        ("1+1 _2\n\n1+1_2_\n", r"bad\.txt, line 3: expected one '_' .* found 2"),
        ("1+1 _2\n   _5\n", r"bad\.txt, line 2: empty question in '   _5'"),
        ("1+1 _   \n", r"bad\.txt, line 1: empty answer"),
        ("\n\n", r"bad\.txt holds no examples"),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_seq2seq_file(path)


def test_vocab_ids_and_round_trip() -> None:
    vocab = SeqVocab.from_pairs([("16+75", "91"), ("8+3", "11")])
    assert vocab.tokens == ["<pad>", "<s>", "</s>", "+", "1", "3", "5", "6", "7", "8", "9"]
    assert len(vocab) == 11 and repr(vocab) == "SeqVocab('+1356789')"
    np.testing.assert_array_equal(vocab.encode("16+75"), [4, 7, 3, 8, 6])
    assert vocab.encode("16").dtype == np.int64
    x = vocab.encode_batch(["16+75", "8+3"], length=7)
    assert x.dtype == np.int64
    np.testing.assert_array_equal(x, [[4, 7, 3, 8, 6, 0, 0], [9, 3, 5, 0, 0, 0, 0]])
    np.testing.assert_array_equal(
        vocab.encode_batch(["16+75", "8+3"], reverse=True), [[6, 8, 3, 7, 4], [5, 3, 9, 0, 0]]
    )
    t = vocab.encode_batch(["91", "1"], start=True, end=True)
    np.testing.assert_array_equal(t, [[1, 10, 4, 2], [1, 4, 2, 0]])
    assert [vocab.decode(row) for row in t] == ["91", "1"]
    assert vocab.decode([10, 0, 4, 2, 9]) == "91"


def test_vocab_errors() -> None:
    vocab = SeqVocab("ab")
    with pytest.raises(
        ValueError, match=r"character 'c' \(at position 2 of 'abc'\) is not in the vocabulary"
    ):
        vocab.encode("abc")
    with pytest.raises(ValueError, match=r"a text needs 3 ids but length is 2"):
        vocab.encode_batch(["ab"], length=2, end=True)
    with pytest.raises(TypeError, match=r"single characters, got 'ab'"):
        SeqVocab(["ab"])
    with pytest.raises(ValueError, match=r"characters repeat in 'aba'"):
        SeqVocab("aba")
