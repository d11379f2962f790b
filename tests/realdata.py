"""The real MNIST for the tests that need it: the folder named by $MINIGRAD_DATA (the four IDX
files, or a cache folder that load_mnist wrote). Without it such a test is skipped, or fails
under CI=true, where the data must be there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def mnist_folder(what: str = "this test") -> str:
    """$MINIGRAD_DATA, or skip (fail under CI) saying that `what` needs it."""
    folder = os.environ.get("MINIGRAD_DATA")
    if folder and Path(folder).is_dir():
        return folder
    reason = (
        f"MNIST is needed for {what}: set MINIGRAD_DATA to a folder holding it (got {folder!r})"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
