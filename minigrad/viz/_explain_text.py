"""`print(trace)`: a backward trace as plain text for a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minigrad.viz.explain import ArrayInfo, BackwardTrace, Step


def _indent(text: str, pad: str) -> str:
    """Continuation lines of a multi-line value, aligned under its first line."""
    return text.replace("\n", "\n" + pad)


def _grad(info: ArrayInfo | None) -> str:
    return "(none)" if info is None else info.text


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    """`head value` lines, the values in one column (continuation lines aligned under it)."""
    width = max([13, *(len(h) for h, _ in rows)]) + 1
    return [h.ljust(width) + _indent(text, " " * width) for h, text in rows]


def step_text(step: Step, total: int) -> list[str]:
    """The lines of one step."""
    where = f"  [in {step.module}]" if step.module else ""
    rows = [("  rule:", step.rule or "(none given for this Function)")]
    for r in step.outputs:
        rows.append((f"  gy {r.name}:", _grad(r.grad)))
    for s in step.inputs:
        if not s.needs_grad:
            continue
        rows.append((f"  -> {s.name}:", _grad(s.grad)))
        if s.sum is not None:
            rows.append(("", s.sum.text))
    skipped = [s.name for s in step.inputs if not s.needs_grad]
    if skipped:
        rows.append(("  no grad:", ", ".join(skipped)))
    return [f"step {step.number}/{total}  {step.label}{where}", *_rows(rows)]


def trace_text(trace: BackwardTrace) -> str:
    """The whole trace: a header, one block per step, the leaves' final gradients."""
    n = len(trace.steps)
    seed = trace.seed
    lines = [
        f"backward of {trace.output_name} ({_shape(seed.shape)} {seed.dtype}): {n} steps in "
        f"the engine's order, starting from the gradient {seed.text}"
    ]
    if trace.note:
        lines.append(trace.note)
    for step in trace.steps:
        lines.append("")
        lines.extend(step_text(step, n))
    lines.append("")
    lines.append(
        "leaves (their .grad after the pass):" if trace.leaves else "no leaf got a gradient"
    )
    rows: list[tuple[str, str]] = []
    for leaf in trace.leaves:
        rows.append((f"  {leaf.name}:", leaf.grad.text))
        if leaf.had_grad:
            rows.append(("", "(it held a gradient before: the new one was added to it)"))
        if leaf.numeric is not None:
            verdict = "agrees" if leaf.agrees else "DIFFERS"
            some = "" if leaf.checked == leaf.grad.size else f" ({leaf.checked} elements)"
            rows.append(("    numerical:", leaf.numeric.text))
            rows.append(("", f"max |grad - numerical| {leaf.max_abs_diff:.3g}{some}: {verdict}"))
    if rows:
        lines.extend(_rows(rows))
    return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(shape)) if shape else "scalar"
