// graph.js: a workflow drawn as SVG from its definition (GET
// /v1/workflows/{name}): statuses in columns by their distance from the
// initial one, transitions as arrows named by their event. The same
// transitions are listed as text beside the picture, for screen readers
// and for anyone who prefers a list.

import { h, humanize } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

function list(x) {
  return Array.isArray(x) ? x : x === undefined || x === null ? [] : [x];
}

// [{from, to, on}] with "any" and field-chosen targets spelled out.
export function edges(def) {
  const names = Object.keys(def.statuses || {});
  const out = [];
  for (const t of list(def.transitions)) {
    let from = list(t.from);
    if (from.includes("any")) from = names.filter((n) => !def.statuses[n].terminal);
    let tos = [];
    if (typeof t.to === "string") tos = [t.to];
    else if (t.to && t.to.cases) tos = Object.values(t.to.cases);
    for (const f of from) for (const to of tos) out.push({ from: f, to, on: t.on });
  }
  return out;
}

export function drawWorkflow(def) {
  const names = Object.keys(def.statuses || {});
  const es = edges(def);
  const initial = names.find((n) => def.statuses[n].initial) || names[0];
  // columns by breadth-first distance; statuses not reached go last
  const depth = new Map([[initial, 0]]);
  const queue = [initial];
  while (queue.length) {
    const n = queue.shift();
    for (const e of es) if (e.from === n && !depth.has(e.to)) { depth.set(e.to, depth.get(n) + 1); queue.push(e.to); }
  }
  const maxd = Math.max(0, ...depth.values());
  for (const n of names) if (!depth.has(n)) depth.set(n, maxd + 1);
  const cols = [];
  for (const n of names) (cols[depth.get(n)] ||= []).push(n);
  const W = 170, H = 34, GX = 70, GY = 26, PAD = 20;
  const pos = new Map();
  cols.forEach((col, ci) => (col || []).forEach((n, ri) =>
    pos.set(n, { x: PAD + ci * (W + GX), y: PAD + ri * (H + GY) })));
  const width = PAD * 2 + cols.length * (W + GX);
  const height = PAD * 2 + Math.max(...cols.map((c) => (c || []).length)) * (H + GY);
  const titleId = `g-${def.name}-title`, descId = `g-${def.name}-desc`;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": `${titleId} ${descId}` },
    s("title", { id: titleId }, `Workflow ${def.name}`),
    s("desc", { id: descId }, `${names.length} statuses and ${es.length} transitions; listed as text below the picture.`),
    s("defs", {}, s("marker", { id: `arrow-${def.name}`, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#4a5360" }))));
  for (const e of es) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    let d;
    if (e.from === e.to) {
      d = `M ${a.x + W - 30} ${a.y} c 10 -22 40 -22 30 0`;
    } else {
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
      const back = x2 <= x1;
      const mx = back ? Math.max(x1, b.x + W) + 30 : (x1 + x2) / 2;
      d = back
        ? `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2 + 10}, ${b.x + W} ${y2}`
        : `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`;
    }
    const g = s("g", { class: "edge" }, s("title", {}, `${e.on}: ${e.from} to ${e.to}`),
      s("path", { d, "marker-end": `url(#arrow-${def.name})` }));
    svg.append(g);
  }
  for (const n of names) {
    const p = pos.get(n), st = def.statuses[n];
    const cls = `node${st.initial ? " initial" : ""}${st.terminal ? " terminal" : ""}`;
    const label = n.length > 24 ? `${n.slice(0, 23)}…` : n;
    svg.append(s("g", { class: cls },
      s("title", {}, `${n}${st.queue ? ` (queue ${st.queue})` : ""}${st.description ? `: ${st.description}` : ""}`),
      s("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
      s("text", { x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle" }, label)));
  }
  const text = h("details", {}, h("summary", {}, "The transitions as a list"),
    h("ul", {}, es.map((e) => h("li", {}, `${humanize(e.on)}: ${e.from} → ${e.to}`))));
  return h("figure", {}, h("div", { class: "graph" }, svg),
    h("figcaption", { class: "help" }, "A thick border marks the first status; shaded ones are final."), text);
}
