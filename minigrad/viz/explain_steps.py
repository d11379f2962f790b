"""The plain data of a backward trace (`minigrad.viz.explain_backward`): one `Step` per
Function, what arrived and what was sent (`Received`, `Sent`, `Accumulation`), the leaves
(`Leaf`), and each gradient as `ArrayInfo` (shape, dtype, values or a summary).

Tests and users read these fields; the text, the page and the pictures are made from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.core import Function, Variable

__all__ = [
    "ArrayInfo",
    "Received",
    "Accumulation",
    "Sent",
    "Step",
    "Leaf",
    "VALUES_MAX",
    "KEEP_MAX",
]

#: Arrays of at most this many elements show their values; larger ones a summary.
VALUES_MAX = 24
#: Arrays of at most this many elements are kept (copied) in the trace as `ArrayInfo.array`.
KEEP_MAX = 100_000


@dataclass(frozen=True)
class ArrayInfo:
    """A gradient as the explorer shows it: shape, dtype, values (small arrays) or a summary.

    `array` is a copy of the gradient when it has at most `KEEP_MAX` elements (else None);
    `values` its text when it has at most `VALUES_MAX` elements (else None). `norm`, `min`
    and `max` are computed in float64 (0.0 for an empty array).
    """

    shape: tuple[int, ...]
    dtype: str
    values: str | None
    norm: float
    min: float
    max: float
    array: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def summary(self) -> str:
        """`(100, 50) float32, norm 3.2, min -0.1, max 0.2`."""
        return (
            f"{shape_text(self.shape)} {self.dtype}, norm {self.norm:.4g}, min {self.min:.4g}, "
            f"max {self.max:.4g}"
        )

    @property
    def text(self) -> str:
        """The values when shown, else the summary."""
        return self.values if self.values is not None else self.summary

    @property
    def short(self) -> str:
        """A few characters: the values (at most 4, on one line) or `norm 3.21`."""
        if self.values is not None and self.size <= 4 and "\n" not in self.values:
            return self.values
        return f"norm {self.norm:.3g}"

    @property
    def tag(self) -> str:
        """What a picture writes under a node: `g = 2.2`, or `|g| = 3.21` (the norm)."""
        short = self.short
        return f"|g| = {self.norm:.3g}" if short.startswith("norm") else f"g = {short}"


@dataclass
class Received:
    """The gradient that arrived at one output of a step's Function (`gy`)."""

    name: str
    node: str | None
    grad: ArrayInfo | None


@dataclass
class Accumulation:
    """A Variable receiving a second (or later) contribution: `total = previous + added`."""

    name: str
    previous: ArrayInfo
    added: ArrayInfo
    total: ArrayInfo

    @property
    def text(self) -> str:
        """`h.grad = 1.1 + 0.3 = 1.4` (values when they are short, else a summary)."""
        parts = (self.previous, self.added, self.total)
        if all(p.values is not None and p.size <= 4 and "\n" not in p.values for p in parts):
            a, b, c = (p.values for p in parts)
            return f"{self.name}.grad = {a} + {b} = {c}"
        return f"{self.name}.grad = previous + this = {self.total.summary}"


@dataclass
class Sent:
    """What a step's Function sent to one of its inputs (`gx`).

    `grad` is None for an input that needs no gradient (a constant, data that does not
    require grad); `sum` is set when the input already held a gradient from an earlier
    contribution (the sum the engine forms); `leaf` is True for a leaf Variable.
    """

    index: int
    name: str
    node: str | None
    needs_grad: bool
    grad: ArrayInfo | None
    sum: Accumulation | None
    leaf: bool


@dataclass
class Step:
    """One Function's backward, in the engine's order.

    - `number`: 1 for the first backward the engine ran, up to `len(trace.steps)`;
    - `function`: the Function object; `op` its name (`mul`), `label` its node's text in the
      picture (`mul 2.0`); `node` the id of that node in the DOT source (the op's own node, or
      its module's node when module calls are collapsed); `module` the module calls it ran
      in (`TwoLayerNet / Affine1`, None at the top level) and `box` the DOT cluster drawn
      around it (`cluster_1`, None when there is none);
    - `rule`: the local rule of its backward as text (`Function.rule`), None if not given;
    - `outputs`: the gradient that arrived at each output; `inputs`: what it sent to each
      input, with the sums formed;
    - `leaf_grads`: every leaf's gradient so far in this pass, after this step (name ->
      ArrayInfo; a `.grad` the leaf held before the pass is not in it).

    `function` keeps the Function (and so the graph's structure) alive with the trace.
    """

    number: int
    function: Function = field(repr=False)
    op: str
    label: str
    node: str
    module: str | None
    box: str | None
    rule: str | None
    outputs: list[Received]
    inputs: list[Sent]
    leaf_grads: dict[str, ArrayInfo] = field(repr=False)


@dataclass
class Leaf:
    """A leaf Variable that received a gradient in the pass.

    `grad` is its `.grad` after the pass (bit for bit; it includes a gradient it already
    held before, which `had_grad` tells). With `check=True`: `numeric` is the central
    difference estimate in float64 (NaN for elements not checked: at most `checked` of them,
    evenly spaced, for a large leaf), `max_abs_diff` the largest |grad - numeric| over the
    checked elements and `agrees` whether they agree within the tolerance of the leaf's
    dtype.
    """

    name: str
    node: str | None
    variable: Variable = field(repr=False)
    grad: ArrayInfo
    had_grad: bool
    last_step: int
    numeric: ArrayInfo | None = None
    checked: int = 0
    max_abs_diff: float | None = None
    agrees: bool | None = None


# --------------------------------------------------------------------------- text and ArrayInfo helpers


def op_label(f: Function) -> str:
    """The op's text as its node shows it (`mul 2.0`)."""
    from minigrad.viz.dot import _op_label

    return _op_label(f)


def shape_text(shape: tuple[int, ...]) -> str:
    return str(tuple(shape)) if shape else "scalar"


def scalar_text(x: Any) -> str:
    v = x[()] if isinstance(x, np.ndarray) else x
    return f"constant {_number(v)}"


def _number(v: Any) -> str:
    """A short form of a scalar: `2.2` (a float32's shortest form), `110.0`, `0.0001235`, `3`."""
    if isinstance(v, bool | int | np.integer | np.bool_):
        return str(v)
    text = str(v)
    if len(text) > 7 and isinstance(v, float | np.floating):
        text = f"{float(v):.4g}"
        if text.lstrip("-").isdigit():
            text += ".0"  # 110.00000000000001 reads 110.0: still a float
    return text


def _values_text(a: np.ndarray) -> str:
    """The values as nested lists, each number in its short form; one row per line."""
    if a.ndim == 0:
        return _number(a[()])

    def rows(b: np.ndarray, depth: int) -> str:
        if b.ndim == 1:
            return "[" + ", ".join(_number(v) for v in b) + "]"
        sep = "," + "\n" * (b.ndim - 1) + " " * (depth + 1)
        return "[" + sep.join(rows(c, depth + 1) for c in b) + "]"

    return rows(a, 0)


def info(a: Any) -> ArrayInfo:
    """Summarise (and for small arrays, copy) one gradient."""
    a = np.asarray(a)
    if a.size:
        f = a.astype(np.float64, copy=False)
        norm, lo, hi = float(np.linalg.norm(f.ravel())), float(f.min()), float(f.max())
    else:
        norm = lo = hi = 0.0
    return ArrayInfo(
        shape=tuple(a.shape),
        dtype=str(a.dtype),
        values=_values_text(a) if a.size <= VALUES_MAX else None,
        norm=norm,
        min=lo,
        max=hi,
        array=a.copy() if a.size <= KEEP_MAX else None,
    )
