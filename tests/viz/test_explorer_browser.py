"""The explorer page in a real browser (headless Chromium), used as a person uses it: the
arrow keys, the buttons, the slider, play, and a link to `#step=K`; at each step the counter,
the highlighted node and the numbers shown are those of `trace.steps`.

Chromium missing: skipped on a developer's machine, a failure under CI=true (`.ci/run`
installs Debian's `chromium`). A screenshot of one step goes to $MINIGRAD_ARTIFACTS (or the
test's temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from minigrad.viz import explain_backward

from .cdp import Browser, find_chromium
from .explain_graphs import apple, net

READ = """(() => {
  const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; };
  const titles = (sel) => [...document.querySelectorAll(sel)].map((t) => t.textContent.trim());
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')].map((tr) => {
    const cell = tr.children[1], pre = cell.querySelector('pre'), sum = cell.querySelector('.sum');
    const num = tr.children[2] ? tr.children[2].textContent : null;
    return [tr.children[0].textContent, pre ? pre.textContent : cell.querySelector('.meta').textContent,
            sum ? sum.textContent : null, tr.className, num];
  });
  const tags = {};
  for (const g of document.querySelectorAll('g.node')) {
    const t = g.querySelector('text.mg-g');
    if (t && t.textContent) tags[g.querySelector('title').textContent.trim()] = t.textContent;
  }
  return {
    counter: text('#step-counter'), op: text('#step-op'), module: text('#step-module'),
    rule: text('#step-rule'), hash: location.hash, slider: document.getElementById('step-slider').value,
    current: titles('g.node.mg-current > title'), boxes: titles('g.cluster.mg-box > title'),
    flows: titles('g.edge.mg-flow > title'), gin: rows('grad-in'), gout: rows('grad-out'),
    leaves: rows('leaves'), tags: tags,
  };
})()"""


@pytest.fixture(scope="module")
def browser():
    exe = find_chromium()
    if exe is None:
        message = "chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message)
    with Browser(exe) as b:
        yield b


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = os.environ.get("MINIGRAD_ARTIFACTS")
    path = Path(folder) if folder else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_shows(b: Browser, trace: Any, k: int) -> dict[str, Any]:
    """The page shows step k of `trace`: counter, address, highlights and numbers."""
    got = b.js(READ)
    s = trace.steps[k - 1]
    n = len(trace.steps)
    assert got["counter"] == f"step {k} of {n}"
    assert got["hash"] == f"#step={k}" and got["slider"] == str(k)
    assert got["current"] == [s.node]
    assert got["boxes"] == ([s.box] if s.box else [])
    assert got["op"] == s.label
    assert got["module"] == (f"in {s.module}" if s.module else "")
    assert got["rule"] == (s.rule or "(no rule was given for this Function)")
    assert [r[:2] for r in got["gin"]] == [[f"gy {r.name}", r.grad.text] for r in s.outputs]
    sent = [x for x in s.inputs]
    assert [r[0] for r in got["gout"]] == [f"\u2192 {x.name}" for x in sent]
    for row, x in zip(got["gout"], sent):
        if x.grad is None:
            assert row[1].startswith("no gradient")
        else:
            assert row[1] == x.grad.text
        assert row[2] == (x.sum.text if x.sum is not None else None)
    assert sorted(got["flows"]) == sorted(f"{x.node}->{s.node}" for x in sent if x.grad is not None)
    for row, leaf in zip(got["leaves"], trace.leaves):
        assert row[0] == leaf.name
        now = s.leaf_grads.get(leaf.name)
        assert row[1] == (now.text if now is not None else "not reached yet")
        assert ("final" in row[3]) == (k >= leaf.last_step)
        if trace.checked:
            assert row[4].startswith(leaf.numeric.text) and "agrees: max |grad" in row[4]
    for x in sent:
        if x.grad is not None and x.node is not None:
            total = x.sum.total if x.sum is not None else x.grad
            assert got["tags"][x.node] == total.tag
    return got


def test_stepping_through_the_shopping_example(browser, tmp_path, artifacts):
    y, _ = apple()
    trace = explain_backward(y, check=True, rankdir="LR")
    url = Path(trace.save_html(tmp_path / "apple.html")).as_uri()
    b = browser
    b.open(url)
    check_shows(b, trace, 1)
    # The keyboard.
    for k in (2, 3, 4):
        b.press("ArrowRight")
        check_shows(b, trace, k)
    b.press("ArrowRight")  # past the last step: it stays
    check_shows(b, trace, 4)
    b.press("ArrowLeft")
    check_shows(b, trace, 3)
    b.press("Home")
    check_shows(b, trace, 1)
    b.press("End")
    got = check_shows(b, trace, 4)
    assert all("final" in row[3] for row in got["leaves"])
    # The buttons.
    for button, k in (("prev", 3), ("first", 1), ("next", 2), ("last", 4), ("prev", 3)):
        b.click(f"#btn-{button}")
        check_shows(b, trace, k)
    # The slider: a click at its left end.
    b.click("#step-slider", where=0.0)
    check_shows(b, trace, 1)
    # Play: the next step comes by itself; pause stops it.
    b.click("#btn-play")
    assert b.js("document.getElementById('btn-play').textContent").endswith("pause")
    b.wait_for("document.getElementById('step-counter').textContent === 'step 2 of 4'")
    b.click("#btn-play")
    check_shows(b, trace, 2)
    b.screenshot(str(artifacts / "explorer_apple_step2.png"))
    # A link to a step: in the same page, then opened afresh.
    b.call("Page.navigate", url=url + "#step=3")
    b.wait_for("document.getElementById('step-counter').textContent === 'step 3 of 4'")
    check_shows(b, trace, 3)
    b.blank()
    b.open(url + "#step=4")
    check_shows(b, trace, 4)
    b.open(url + "#step=99")  # clamped to the last step
    check_shows(b, trace, 4)


def test_a_two_layer_net_with_module_boxes(browser, tmp_path, artifacts):
    y, _ = net()
    trace = explain_backward(y)
    url = Path(trace.save_html(tmp_path / "net.html")).as_uri()
    b = browser
    b.open(url + "#step=2")
    got = check_shows(b, trace, 2)
    assert got["boxes"] and "\n" in got["gout"][1][1]  # W2's gradient, a matrix
    b.press("ArrowRight")
    check_shows(b, trace, 3)
    b.press("ArrowRight")
    check_shows(b, trace, 4)
    b.screenshot(str(artifacts / "explorer_two_layer_net_step4.png"))
