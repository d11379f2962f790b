"""The repository's scripts (examples, docs/make_figures.py) as tests use them: run in a
subprocess, as a user runs them, or loaded as a module so that a test can call their functions."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType


def load(path: Path, name: str) -> ModuleType:
    """Import the script at `path` as the module `name` (also put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up in sys.modules while a class body runs.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run(
    path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python path args...` with this interpreter; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        check=False,
    )
