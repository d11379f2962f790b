"""Line timing: how long each statement of a function takes, summed over many calls.

`LineTimer.patch(fn)` compiles a copy of `fn` with a clock read after every statement (inside
loops, branches, `with` and `try` bodies too) and puts it wherever `fn` is referenced: module
globals and class attributes in the modules named by `where` (by default every loaded
`minigrad` module); for a decorator's wrapper (with `__wrapped__`), the wrapped function in
the wrapper's closure. `restore()` puts the originals back.
cProfile sees only calls; this sees the statements, at a cost of one clock read and two list
updates per statement run (~0.1 us, measured by `calibrate()` and subtracted in `rows()`).

What a statement's time includes: the statement itself, the functions it calls (time one
function per run to keep their clock reads out), and for the first statement of a loop body
or branch, the loop's step or the branch's test. Compound statements are not timed
themselves; their bodies are.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["LineTimer", "resolve"]


def resolve(path: str) -> Any:
    """The object at a dotted path such as `minigrad.core._apply2` or
    `minigrad.nn.module.Module.__call__` (the longest importable module, then attributes)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        mod = sys.modules.get(".".join(parts[:i]))
        if mod is None:
            try:
                mod = __import__(".".join(parts[:i]), fromlist=["_"])
            except ImportError:
                continue
        obj: Any = mod
        for name in parts[i:]:
            obj = inspect.getattr_static(obj, name) if isinstance(obj, type) else getattr(obj, name)
        return obj
    raise ImportError(f"resolve: no module in {path!r}")


class LineTimer:
    """Statement timings of patched functions: ns and run counts per (function, line)."""

    def __init__(self) -> None:
        self.ns: list[int] = []
        self.count: list[int] = []
        self.keys: list[tuple[str, int, str]] = []  # (function, line number, source)
        self._undo: list[Callable[[], None]] = []
        self.overhead_ns = 0.0

    # -- instrumenting
    def instrument(self, fn: types.FunctionType, label: str | None = None) -> types.FunctionType:
        """A copy of `fn` that times each of its statements into this timer."""
        label = label or fn.__qualname__
        src = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(src)
        fdef = tree.body[0]
        if not isinstance(fdef, ast.FunctionDef):
            raise TypeError(f"LineTimer: {label} is not a plain function")
        fdef.decorator_list = []
        lines = src.splitlines()
        first = fn.__code__.co_firstlineno

        tag = f"__lt{id(self)}"

        def record(stmt: ast.stmt) -> list[ast.stmt]:
            i = len(self.ns)
            self.ns.append(0)
            self.count.append(0)
            self.keys.append((label, stmt.lineno + first - 1, lines[stmt.lineno - 1].strip()))
            return ast.parse(
                f"{tag}_t1 = {tag}_clock(); {tag}_ns[{i}] += {tag}_t1 - {tag}_t0; "
                f"{tag}_n[{i}] += 1; {tag}_t0 = {tag}_t1"
            ).body

        def body(stmts: list[ast.stmt]) -> list[ast.stmt]:
            out: list[ast.stmt] = []
            for stmt in stmts:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    out.append(stmt)  # a docstring
                elif isinstance(stmt, ast.Return | ast.Raise | ast.Continue | ast.Break):
                    # Timed up to the jump: a return's value is computed first.
                    if isinstance(stmt, ast.Return) and stmt.value is not None:
                        tmp = ast.Assign(
                            targets=[ast.Name(f"{tag}_ret", ast.Store())], value=stmt.value
                        )
                        ast.copy_location(tmp, stmt)
                        stmt = ast.Return(ast.Name(f"{tag}_ret", ast.Load()))
                        out += [tmp, *record(tmp)]
                    else:
                        out += record(stmt)
                    out.append(stmt)
                elif isinstance(stmt, ast.For | ast.While | ast.If):
                    stmt.body = body(stmt.body)
                    stmt.orelse = body(stmt.orelse)
                    out.append(stmt)
                elif isinstance(stmt, ast.With):
                    stmt.body = body(stmt.body)
                    out.append(stmt)
                elif isinstance(stmt, ast.Try):
                    stmt.body = body(stmt.body)
                    for h in stmt.handlers:
                        h.body = body(h.body)
                    stmt.orelse = body(stmt.orelse)
                    stmt.finalbody = body(stmt.finalbody)
                    out.append(stmt)
                else:
                    out += [stmt, *record(stmt)]
            return out

        start = ast.parse(f"{tag}_t0 = {tag}_clock()").body
        fdef.body = start + body(fdef.body)
        ast.fix_missing_locations(tree)
        ns: dict[str, Any] = {}
        helpers = {
            f"{tag}_clock": time.perf_counter_ns,
            f"{tag}_ns": self.ns,
            f"{tag}_n": self.count,
        }
        if fn.__closure__:
            # A closure's free variables (e.g. a decorator's `method`) become globals of the
            # copy, in a copy of the module's globals.
            glb = dict(fn.__globals__)
            for var, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                glb[var] = cell.cell_contents
        else:
            # The module's own globals, so that the copy sees (and sets) what the original
            # would; the helpers' names are removed by restore().
            glb = fn.__globals__
            self._undo.append(lambda g=glb, ks=tuple(helpers): [g.pop(k, None) for k in ks])
        glb.update(helpers)
        exec(compile(tree, f"<timed {label}>", "exec"), glb, ns)
        new = ns[fdef.name]
        new.__defaults__ = fn.__defaults__
        new.__kwdefaults__ = fn.__kwdefaults__
        new.__qualname__ = fn.__qualname__
        return new

    def patch(self, fn: Any, where: Iterable[str] = ("minigrad",), label: str | None = None) -> int:
        """Replace `fn` (a function, or a wrapper whose `__wrapped__` is timed instead) by its
        timed copy everywhere in the modules whose names start with one of `where`, their
        classes and the closures of their functions; returns how many places were patched."""
        target = getattr(fn, "__wrapped__", fn)
        timed = self.instrument(target, label)
        # A decorator's wrapper keeps the function in its closure.
        cells = (
            [c for c in fn.__closure__ or () if c.cell_contents is target]
            if fn is not target
            else []
        )
        n = 0
        for name, mod in list(sys.modules.items()):
            if mod is None or not name.startswith(tuple(where)):
                continue
            n += self._replace_in(vars(mod), target, timed)
            for obj in list(vars(mod).values()):
                if isinstance(obj, type) and obj.__module__ == name:
                    n += self._replace_in(obj.__dict__, target, timed, cls=obj)
        for c in cells:
            c.cell_contents = timed
            self._undo.append(lambda c=c, f=target: setattr(c, "cell_contents", f))
        return n + len(cells)

    def _replace_in(self, d: Any, target: Any, timed: Any, cls: type | None = None) -> int:
        n = 0
        for key, value in list(d.items()):
            if value is target:
                if cls is None:
                    d[key] = timed
                    self._undo.append(lambda d=d, k=key, f=target: d.__setitem__(k, f))
                else:
                    setattr(cls, key, timed)
                    self._undo.append(lambda c=cls, k=key, f=target: setattr(c, k, f))
                n += 1
        return n

    def restore(self) -> None:
        """Put every patched function back."""
        while self._undo:
            self._undo.pop()()

    def reset(self) -> None:
        """Zero the sums (keep the patches)."""
        for i in range(len(self.ns)):
            self.ns[i] = 0
            self.count[i] = 0

    # -- reading
    def calibrate(self, runs: int = 20000) -> float:
        """The cost of one statement's clock read and updates, in ns (median of 5 tries)."""

        def empty() -> None:
            a = 1
            a = 2
            a = 3
            a = 4
            del a

        probe = LineTimer()
        timed = probe.instrument(empty)
        tries = []
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for _ in range(runs):
                empty()
            t1 = time.perf_counter_ns()
            for _ in range(runs):
                timed()
            t2 = time.perf_counter_ns()
            tries.append(((t2 - t1) - (t1 - t0)) / (5 * runs))
        probe.restore()
        tries.sort()
        self.overhead_ns = tries[2]
        return self.overhead_ns

    def rows(self, per: float) -> list[dict[str, Any]]:
        """One dict per timed statement that ran: us per `per` (e.g. per step), runs per `per`,
        with the calibrated clock cost subtracted."""
        out = []
        for (fn, line, src), ns, n in zip(self.keys, self.ns, self.count):
            if not n:
                continue
            out.append(
                {
                    "function": fn,
                    "line": line,
                    "source": src,
                    "us": max(0.0, ns - n * self.overhead_ns) / per / 1e3,
                    "runs": n / per,
                }
            )
        return out
