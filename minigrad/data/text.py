"""A character corpus that needs no download, and the pieces a character language model uses:
a vocabulary, a fixed train/validation split, random context windows and the bigram baseline.

The default text is the help that ships with every Python (`pydoc_data.topics`, the pages
`help("if")` shows: about 465,000 characters of English prose and code), so examples train
offline on any machine; `load_text(path)` reads any other UTF-8 file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

__all__ = ["load_text", "CharVocab", "split_ids", "sample_batch", "bigram_loss"]


def load_text(path: str | os.PathLike[str] | None = None) -> str:
    """The corpus: the UTF-8 text of `path`, or by default Python's own help topics
    (`pydoc_data.topics`, joined in the order of their names, so every machine with the same
    Python gets the same text)."""
    if path is None:
        from pydoc_data.topics import topics

        return "".join(topics[name] for name in sorted(topics))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"load_text: no such file: {os.fspath(path)!r}") from None
    except UnicodeDecodeError as e:
        raise ValueError(
            f"load_text: {os.fspath(path)!r} is not UTF-8 text (byte {e.start}: {e.reason})"
        ) from None
    if len(text) < 2:
        raise ValueError(f"load_text: {os.fspath(path)!r} holds {len(text)} characters; need 2+")
    return text


class CharVocab:
    """The characters of a text, sorted, each with an id: `encode(str) -> ids`, `decode(ids)
    -> str`, `len(vocab)`. `chars[i]` is the character of id i."""

    def __init__(self, text: str | Iterable[str]) -> None:
        self.chars: list[str] = sorted(set(text))
        if not self.chars:
            raise ValueError("CharVocab: the text is empty")
        self._ids = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`'s characters, (len(text),) int64."""
        ids = self._ids
        try:
            return np.fromiter((ids[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            pos = next(i for i, c in enumerate(text) if c not in ids)
            raise ValueError(
                f"CharVocab.encode: character {e.args[0]!r} (at position {pos}) is not in the "
                f"vocabulary of {len(self)} characters"
            ) from None

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text of `ids` (any iterable of ints, e.g. a 1-D array)."""
        arr = np.asarray(ids).reshape(-1)
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= len(self)):
            raise ValueError(
                f"CharVocab.decode: ids must be integers in [0, {len(self)}), got "
                f"{arr.dtype} values from {arr.min()} to {arr.max()}"
            )
        chars = self.chars
        return "".join(chars[i] for i in arr.tolist())


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): the first `1 - val_fraction` of the ids and the rest. A fixed
    split, not shuffled, so that validation text is text the model never saw."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"split_ids: val_fraction must be in (0, 1), got {val_fraction}")
    ids = np.asarray(ids)
    n_val = int(round(len(ids) * val_fraction))
    if n_val < 2 or len(ids) - n_val < 2:
        raise ValueError(
            f"split_ids: {len(ids)} ids are too few to split with val_fraction={val_fraction}"
        )
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def sample_batch(
    ids: np.ndarray, batch_size: int, context: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`batch_size` random windows of `context` ids and the ids that follow each:
    x (N, T) and y (N, T) int64 with y[:, t] = the id after x[:, t]."""
    n = len(ids)
    if context < 1 or batch_size < 1:
        raise ValueError(
            f"sample_batch: batch_size and context must be positive, got {batch_size}, {context}"
        )
    if context >= n:
        raise ValueError(f"sample_batch: context {context} needs more than {n} ids")
    starts = rng.integers(0, n - context, size=batch_size)
    window = starts[:, None] + np.arange(context + 1)
    chunk = np.asarray(ids, dtype=np.int64)[window]
    return chunk[:, :-1], chunk[:, 1:]


def bigram_loss(
    train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int, smoothing: float = 1.0
) -> float:
    """The baseline a language model must beat: the validation loss, in nats per character,
    of a bigram model (the next character given this one) counted on `train_ids`, with
    `smoothing` added to every count so unseen pairs keep a probability."""
    if smoothing <= 0:
        raise ValueError(f"bigram_loss: smoothing must be positive, got {smoothing}")
    train, val = np.asarray(train_ids), np.asarray(val_ids)
    for name, a in (("train_ids", train), ("val_ids", val)):
        if len(a) < 2:
            raise ValueError(f"bigram_loss: {name} needs 2+ ids, got {len(a)}")
        if a.min() < 0 or a.max() >= vocab_size:
            raise ValueError(f"bigram_loss: {name} has ids outside [0, {vocab_size})")
    counts = np.full((vocab_size, vocab_size), float(smoothing))
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    logp = np.log(counts) - np.log(counts.sum(axis=1, keepdims=True))
    return float(-logp[val[:-1], val[1:]].mean())
