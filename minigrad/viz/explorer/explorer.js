// The backward explorer of minigrad.viz.explain_backward: the steps are data (#mg-data), the
// graph an inline SVG drawn once; each step only moves highlights and fills in numbers.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("mg-data").textContent);
  const N = D.steps.length;
  const $ = (id) => document.getElementById(id);
  const graph = $("graph");
  const svg = graph.querySelector("svg");
  const SVGNS = "http://www.w3.org/2000/svg";

  // Graphviz writes each node, edge and cluster as <g class="..."><title>its DOT id</title>.
  const nodes = {}, edges = {}, clusters = {};
  if (svg) {
    for (const [cls, map] of [["node", nodes], ["edge", edges], ["cluster", clusters]]) {
      for (const g of svg.querySelectorAll("g." + cls)) {
        const t = g.querySelector("title");
        if (t) map[t.textContent.trim()] = g;
      }
    }
  }

  if (svg) {
    // The arrowhead of a red edge: at its start (the input), pointing back along it.
    const defs = document.createElementNS(SVGNS, "defs");
    const marker = document.createElementNS(SVGNS, "marker");
    const tip = document.createElementNS(SVGNS, "path");
    for (const [k, v] of Object.entries({
      id: "mg-back", viewBox: "0 0 10 10", refX: "1", refY: "5", markerWidth: "4",
      markerHeight: "4", orient: "auto-start-reverse",
    })) marker.setAttribute(k, v);
    tip.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
    marker.appendChild(tip);
    defs.appendChild(marker);
    svg.insertBefore(defs, svg.firstChild);
  }

  if (D.note) { $("note").textContent = D.note; $("note").hidden = false; }
  if (D.checked) { $("leaves-num-head").hidden = false; }
  const slider = $("step-slider");
  slider.max = String(Math.max(N, 1));
  slider.disabled = N === 0;

  // A text under each data node: its gradient so far (orange), final (red, bold).
  const gtext = {};
  function annotation(id) {
    if (id in gtext) return gtext[id];
    const g = nodes[id];
    let t = null;
    if (g) {
      const bb = g.getBBox();
      t = document.createElementNS(SVGNS, "text");
      t.setAttribute("class", "mg-g");
      t.setAttribute("x", String(bb.x + bb.width / 2));
      t.setAttribute("y", String(bb.y + bb.height + 10));
      t.setAttribute("text-anchor", "middle");
      t.setAttribute("paint-order", "stroke");
      t.setAttribute("stroke", "white");
      t.setAttribute("stroke-width", "3");
      g.appendChild(t);
    }
    gtext[id] = t;
    return t;
  }

  // The state after step k: each data node's gradient so far, each leaf's running gradient.
  function stateAt(k) {
    const st = {};
    if (D.output.node) st[D.output.node] = [D.seed[2], 1];
    const lv = {};
    for (let j = 0; j < k; j++) {
      const s = D.steps[j];
      for (const r of s.recv) st[r[0]] = [r[1], r[2]];
      for (const l of s.lv) lv[l[0]] = l[1];
    }
    return { st, lv };
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function gradCell(G, extra, bare) {
    const td = el("td", "grad");
    if (!G) {
      td.appendChild(el("span", "meta", extra || "no gradient"));
      return td;
    }
    if (!bare) td.appendChild(el("div", "meta", G[0]));
    td.appendChild(el("pre", "values", G[1]));
    return td;
  }

  function fillTable(id, rows) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren(...rows);
  }

  const marked = [];
  function mark(g, cls) {
    if (!g) return;
    g.classList.add(cls);
    marked.push([g, cls]);
  }

  // Scroll the graph pane (only it) so that the step's node is in view.
  function reveal(g) {
    if (!g) return;
    const box = g.getBoundingClientRect(), pane = graph.getBoundingClientRect();
    if (box.left < pane.left || box.right > pane.right) {
      graph.scrollLeft += (box.left + box.right - pane.left - pane.right) / 2;
    }
    if (box.top < pane.top || box.bottom > pane.bottom) {
      graph.scrollTop += (box.top + box.bottom - pane.top - pane.bottom) / 2;
    }
  }

  let current = 0;
  function show(k) {
    if (N === 0) {
      $("step-counter").textContent = "step 0 of 0";
      $("step-op").textContent = "no backward step: the output is a leaf";
      return;
    }
    k = Math.min(Math.max(1, k | 0), N);
    current = k;
    const s = D.steps[k - 1];
    $("step-counter").textContent = "step " + k + " of " + N;
    slider.value = String(k);
    $("step-op").textContent = s.label;
    $("step-module").textContent = s.module ? "in " + s.module : "";
    $("step-rule").textContent = s.rule || "(no rule was given for this Function)";

    fillTable("grad-in", s.outs.map(([name, node, G]) => {
      const tr = el("tr");
      tr.appendChild(el("td", "name", "gy " + name));
      tr.appendChild(gradCell(G, "no gradient (this output was not used)"));
      return tr;
    }));
    fillTable("grad-out", s.ins.map(([name, node, G, sum]) => {
      const tr = el("tr");
      tr.appendChild(el("td", "name", "\u2192 " + name));
      const td = gradCell(G, "no gradient: a constant or data that needs none");
      if (sum) td.appendChild(el("div", "sum", sum));
      tr.appendChild(td);
      return tr;
    }));

    const state = stateAt(k);
    const changed = new Set(s.lv.map((l) => l[0]));
    fillTable("leaves", D.leaves.map((leaf, i) => {
      const tr = el("tr");
      if (changed.has(i)) tr.classList.add("changed");
      if (leaf.last > 0 && k >= leaf.last) tr.classList.add("final");
      tr.appendChild(el("td", "name", leaf.name));
      tr.appendChild(gradCell(state.lv[i], "not reached yet"));
      if (D.checked) {
        const td = gradCell(leaf.num, "not checked", true);
        if (leaf.num) {
          const ok = leaf.ok ? "agrees" : "differs";
          td.appendChild(el("div", leaf.ok ? "ok" : "bad",
            ok + ": max |grad - numerical| " + Number(leaf.diff).toPrecision(3)));
        }
        tr.appendChild(td);
      }
      return tr;
    }));

    // The picture.
    for (const [g, cls] of marked.splice(0)) g.classList.remove(cls);
    mark(nodes[s.node], "mg-current");
    if (s.box) mark(clusters[s.box], "mg-box");
    for (const [, node] of s.outs) if (node) mark(nodes[node], "mg-from");
    for (const [, node, G] of s.ins) {
      if (!node || !G) continue;
      mark(nodes[node], "mg-recv");
      mark(edges[node + "->" + s.node], "mg-flow");
    }
    for (const id of Object.keys(gtext)) if (gtext[id]) gtext[id].textContent = "";
    for (const [id, [short, complete]] of Object.entries(state.st)) {
      const t = annotation(id);
      if (!t) continue;
      t.textContent = short;
      t.classList.toggle("mg-complete", !!complete);
    }
    reveal(nodes[s.node]);
    try {
      if (location.hash !== "#step=" + k) history.replaceState(null, "", "#step=" + k);
    } catch (e) { /* a srcdoc frame (Jupyter) has no address to change */ }
  }

  let timer = null;
  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    $("btn-play").textContent = "\u25B6 play";
  }
  function play() {
    if (current >= N) show(1);
    $("btn-play").textContent = "\u275A\u275A pause";
    timer = setInterval(() => { if (current >= N) stop(); else show(current + 1); }, D.interval);
  }
  function step(delta) { stop(); show(current + delta); }

  $("btn-first").addEventListener("click", () => { stop(); show(1); });
  $("btn-prev").addEventListener("click", () => step(-1));
  $("btn-next").addEventListener("click", () => step(1));
  $("btn-last").addEventListener("click", () => { stop(); show(N); });
  $("btn-play").addEventListener("click", () => (timer === null ? play() : stop()));
  $("btn-fit").addEventListener("click", () => graph.classList.toggle("fit"));
  slider.addEventListener("input", () => { stop(); show(Number(slider.value)); });
  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.target === slider && e.key.startsWith("Arrow")) return; // the slider moves itself
    const keys = {
      ArrowRight: () => step(1), ArrowDown: () => step(1),
      ArrowLeft: () => step(-1), ArrowUp: () => step(-1),
      Home: () => { stop(); show(1); }, End: () => { stop(); show(N); },
      " ": () => (timer === null ? play() : stop()),
    };
    const act = keys[e.key];
    if (act) { e.preventDefault(); act(); }
  });

  function fromHash() {
    const m = /step=(\d+)/.exec(location.hash || "");
    return m ? Number(m[1]) : 1;
  }
  window.addEventListener("hashchange", () => { stop(); show(fromHash()); });
  graph.classList.add("fit");
  show(fromHash());
  // A frame (Jupyter) may get its final size only after the script ran: look again then.
  window.addEventListener("load", () => { if (current) reveal(nodes[D.steps[current - 1].node]); });
  window.__explorerReady = true; // for scripts that drive the page (the browser test)
})();
