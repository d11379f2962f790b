"""The error and warning that ``load_mnist`` raises and emits."""

from __future__ import annotations

__all__ = ["MNISTError", "MNISTWarning"]


class MNISTError(RuntimeError):
    """No source could provide MNIST; the message lists every source tried and why it failed."""


class MNISTWarning(UserWarning):
    """A source was present but failed (corrupt cache, bad files, unreachable mirror) and a
    later source was used instead."""
