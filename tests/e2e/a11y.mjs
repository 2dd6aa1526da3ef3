// a11y.mjs: the accessibility checks an axe run would make that matter
// most here, written out because no such tool is available offline. Run
// in the page; each returns a list of problems (empty when all is well):
// - every form control has a label (label[for], a wrapping label,
//   aria-label or aria-labelledby naming text);
// - every button and link has a name;
// - the landmarks are there (banner, navigation, main), one h1, and
//   heading levels never skip;
// - every SVG drawing is an image with a name;
// - text contrast meets WCAG 2.1 AA: 4.5:1, or 3:1 for large text
//   (24px, or 18.66px bold), against the first opaque background behind
//   it.

export function pageProblems() {
  const out = [];
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const named = (el) => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    const lb = el.getAttribute("aria-labelledby");
    if (lb && lb.split(/\s+/).some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
    return false;
  };

  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!visible(el)) continue;
    const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    if (!(byFor && byFor.textContent.trim()) && !el.closest("label") && !named(el)) {
      out.push(`form control without a label: ${el.outerHTML.slice(0, 120)}`);
    }
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    if (!el.textContent.trim() && !named(el)) out.push(`no accessible name: ${el.outerHTML.slice(0, 120)}`);
  }
  if (!document.querySelector("header[role=banner], [role=banner]")) out.push("no banner landmark");
  if (!document.querySelector("main")) out.push("no main landmark");
  if (!document.querySelector("nav[aria-label]")) out.push("no named navigation landmark");
  if (!document.documentElement.lang) out.push("the page has no lang");
  const hs = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].filter(visible);
  const h1s = hs.filter((x) => x.tagName === "H1");
  if (h1s.length !== 1) out.push(`expected one h1, found ${h1s.length}`);
  let level = 0;
  for (const x of hs) {
    const l = Number(x.tagName[1]);
    if (level && l > level + 1) out.push(`heading level skips from h${level} to h${l}: "${x.textContent.trim().slice(0, 60)}"`);
    level = l;
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.closest("svg") !== svg) continue;
    if (svg.getAttribute("role") !== "img" || !named(svg)) out.push("an SVG without role=img and a name");
  }

  // contrast
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bgOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a >= 0.99) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || seen.has(el) || !visible(el) || el.closest("svg, .visually-hidden, [hidden]")) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    let fg = parse(s.color);
    if (!fg) continue;
    const bg = bgOf(el);
    const op = Number(s.opacity) * (fg.a ?? 1);
    if (op < 1) fg = { r: fg.r * op + bg.r * (1 - op), g: fg.g * op + bg.g * (1 - op), b: fg.b * op + bg.b * (1 - op) };
    if (el.closest("button:disabled")) continue; // WCAG exempts inactive controls
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`contrast ${ratio.toFixed(2)}:1 for "${n.textContent.trim().slice(0, 40)}" (${s.color} on rgb(${bg.r},${bg.g},${bg.b}))`);
  }
  return out;
}
