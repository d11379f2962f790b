"""`python -m minigrad.book SCRIPT [ARGS...]`: run a script of the book's repository unchanged.

The script runs as `__main__` from its own folder (the working directory and the first entry
of `sys.path`, so its chapter-local files such as `two_layer_net.py` or `simple_convnet.py`
are the book's own), with `sys.argv` = [SCRIPT, ARGS...]. Its imports of the book's `common`
package and of `dataset.mnist` are served by `minigrad.book`: those names are put in
`sys.modules` (each a module of minigrad.book's names, plus the `np` and helpers a star import
of the book's own module would give), and a finder placed first on `sys.meta_path` claims
every other `common.*` or `dataset.*` name with a clear error, so the book's own `common/`
and `dataset/` folders, which its scripts reach through `sys.path.append(os.pardir)`, are
never imported.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import os
import runpy
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["run_script", "SERVED"]

#: The book's module names and the minigrad.book modules that serve them.
SERVED: dict[str, str] = {
    "common.functions": "minigrad.book.functions",
    "common.gradient": "minigrad.book.gradient",
    "common.layers": "minigrad.book.layers",
    "common.multi_layer_net": "minigrad.book.multi_layer_net",
    "common.multi_layer_net_extend": "minigrad.book.multi_layer_net_extend",
    "common.optimizer": "minigrad.book.optimizer",
    "common.trainer": "minigrad.book.trainer",
    "common.util": "minigrad.book.util",
    "dataset.mnist": "minigrad.book.mnist",
}
_PACKAGES = ("common", "dataset")


class _BookFinder(importlib.abc.MetaPathFinder):
    """Refuses the book's package names that minigrad.book does not serve (the served ones
    are in sys.modules already, so the import system never asks for them)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.split(".")[0] in _PACKAGES:
            raise ModuleNotFoundError(
                f"minigrad.book serves the book's {', '.join(SERVED)}, not {fullname}",
                name=fullname,
            )
        return None


# What a star import of the book's module gives beyond its own names: the book's modules have
# no __all__, so `from common.optimizer import *` also brings their `np` (the book's
# optimizer_compare_mnist.py uses it without importing NumPy) and `from common.layers import *`
# the functions and im2col/col2im that its layers.py imports.
_ALSO: dict[str, tuple[str, ...]] = {
    "common.layers": ("minigrad.book.functions", "minigrad.book.util:im2col,col2im"),
    "common.multi_layer_net": ("minigrad.book.layers", "minigrad.book.gradient:numerical_gradient"),
    "common.multi_layer_net_extend": (
        "minigrad.book.layers",
        "minigrad.book.gradient:numerical_gradient",
    ),
    "common.trainer": ("minigrad.book.optimizer",),
}


def _names(spec: str) -> dict[str, Any]:
    """The names of `module` (its __all__) or of `module:a,b`."""
    target, _, picked = spec.partition(":")
    mod = importlib.import_module(target)
    names = picked.split(",") if picked else list(mod.__all__)
    return {n: getattr(mod, n) for n in names}


def _facade(name: str, target: str) -> types.ModuleType:
    """The module a script sees as `name`: the served module's names, plus what a star import
    of the book's own module would give (`np`, the helpers it imports; see _ALSO)."""
    served = importlib.import_module(target)
    mod = types.ModuleType(name, served.__doc__)
    names: dict[str, Any] = {"np": np, "OrderedDict": OrderedDict}
    for spec in _ALSO.get(name, ()):
        names.update(_names(spec))
    names.update(_names(target))
    mod.__dict__.update(names)
    mod.__all__ = list(names)  # type: ignore[attr-defined]
    mod.__served_by__ = target  # type: ignore[attr-defined]
    return mod


def _package(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, f"The book's {name} package, served by minigrad.book.")
    mod.__path__ = []  # a package with no folder: only the served submodules exist
    return mod


@contextlib.contextmanager
def serving() -> Iterator[None]:
    """Within the block, `import common.layers` and the like give minigrad.book's modules;
    sys.modules and sys.meta_path are restored after."""
    names = [*_PACKAGES, *SERVED]
    saved = {n: sys.modules.get(n) for n in names}
    finder = _BookFinder()
    try:
        for pkg in _PACKAGES:
            sys.modules[pkg] = _package(pkg)
        for name, target in SERVED.items():
            mod = _facade(name, target)
            sys.modules[name] = mod
            pkg, _, attr = name.partition(".")
            setattr(sys.modules[pkg], attr, mod)
        sys.meta_path.insert(0, finder)
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def run_script(script: str | os.PathLike[str], args: Sequence[str] = ()) -> dict[str, Any]:
    """Run the book's `script` as `__main__` with `args`, as `python -m minigrad.book` does
    (see the module). Returns the script's globals. The working directory, `sys.path`,
    `sys.argv` and the served modules are restored after."""
    path = os.path.abspath(os.fspath(script))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"minigrad.book: no script {os.fspath(script)!r}")
    folder = os.path.dirname(path)
    old_cwd, old_path, old_argv = os.getcwd(), list(sys.path), list(sys.argv)
    # Chapter-local modules of an earlier run must not stand in for this folder's.
    local = {
        n: m
        for n, m in sys.modules.items()
        if os.path.dirname(getattr(m, "__file__", None) or "") == folder
    }
    try:
        os.chdir(folder)
        sys.path[:] = [folder, *(p for p in old_path if p not in ("", folder))]
        sys.argv[:] = [os.path.basename(path), *args]
        with serving():
            return runpy.run_path(path, run_name="__main__")
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        sys.argv[:] = old_argv
        for n in [
            n
            for n, m in sys.modules.items()
            if n not in local and os.path.dirname(getattr(m, "__file__", None) or "") == folder
        ]:
            del sys.modules[n]
