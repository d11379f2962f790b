"""minigrad/_malloc.py: on glibc, `import minigrad` keeps freed array memory mapped, so that
a step's arrays reuse pages instead of faulting in fresh ones; MINIGRAD_KEEP_FREED_MEMORY=0
leaves malloc as it is."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from minigrad import _malloc

# Twelve 2 MiB arrays alive together, then freed, as a training step's; the minor page
# faults of five such steps after two to warm up.
STEPS = """
import resource
import numpy as np
import minigrad

def step():
    arrays = [np.ones(2**19, np.float32) for _ in range(12)]
    del arrays

step(); step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(keep: str) -> int:
    env = {**os.environ, "MINIGRAD_KEEP_FREED_MEMORY": keep}
    out = subprocess.run(
        [sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="mallopt is glibc's; elsewhere nothing is done")
def test_freed_arrays_reuse_their_pages():
    # 5 steps x 12 arrays x 512 pages: ~30,000 faults when every step gets fresh pages.
    kept, default = _faults("1"), _faults("0")
    assert kept < 500, kept
    assert default > 10_000, default
    assert _malloc.keep_freed_memory() is True


def test_opt_out_and_other_platforms(monkeypatch):
    monkeypatch.setenv("MINIGRAD_KEEP_FREED_MEMORY", "0")
    assert _malloc.apply_default() is False

    def no_glibc(name: str) -> str:
        raise ValueError(name)

    monkeypatch.setattr(os, "confstr", no_glibc)
    assert _malloc.keep_freed_memory() is False
