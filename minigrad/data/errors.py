"""The error and warning that ``load_mnist`` raises and emits."""

from __future__ import annotations

__all__ = ["MNISTError", "MNISTWarning"]


class MNISTError(RuntimeError):
    """No source could provide MNIST; the message lists every source tried and why it failed."""


class MNISTWarning(UserWarning):
    """A local source was present but failed (a bad data folder, a corrupt cache, a cache that
    cannot be written) and MNIST came from elsewhere. Network sources that fail are said on
    stderr as the download goes, not warned about."""
