// ui.js: small helpers every page shares: building elements without
// innerHTML (text is always text), dates, labels, tables, notices, and
// the words a person reads instead of the API's identifiers.

export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

export function clear(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function fmtDate(ms) {
  return ms ? dateFmt.format(new Date(ms)) : "—";
}

export function fmtTime(ms) {
  return ms ? timeFmt.format(new Date(ms)) : "—";
}

export function timeEl(ms, withTime = true) {
  return h("time", { datetime: new Date(ms).toISOString() }, withTime ? fmtTime(ms) : fmtDate(ms));
}

// "4 h 10 min", "3 d": how long until (or since) a moment.
export function fmtSpan(ms) {
  const a = Math.abs(ms);
  const m = Math.round(a / 60000);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${m % 60} min`;
  return `${Math.round(hrs / 24)} d`;
}

export function humanize(id) {
  if (!id) return "";
  const s = String(id).replace(/[_.]+/g, " ").trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// "uc-davis" -> "UC Davis", "csu-long-beach" -> "CSU Long Beach".
export function campusName(id) {
  if (!id) return "";
  const parts = String(id).split("-");
  const head = parts[0].toLowerCase();
  const rest = parts.slice(1).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join(" ");
  if (head === "uc" || head === "csu" || head === "ccc") return `${head.toUpperCase()} ${rest}`.trim();
  return parts.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join(" ");
}

// What a case is, for a person: "UC Davis", "Your application", ...
export function caseLabel(c) {
  if (c.workflow === "campus_application") {
    const campus = (c.data && c.data.campus) || (c.spawn_key || "").split(":")[1];
    return campusName(campus) || "A campus";
  }
  if (c.workflow === "student_application") return "Application";
  if (c.workflow === "aid_file") {
    const office = (c.data && c.data.office) || c.owner;
    return office ? `Financial aid (${office})` : "Financial aid";
  }
  return humanize(c.workflow);
}

const BAD = /(denied|declined|expired|overdue|cancel|closed|withdrawn|rejected|final|released|ineligible)/;
const WARN = /(incomplete|requested|correction|waitlist|appeal|judgment|verification|needs_review)/;
const GOOD = /(admitted|accepted|offered|registered|settled|eligible|packaging|intent)/;

export function tone(status) {
  const s = String(status || "");
  if (BAD.test(s)) return "bad";
  if (WARN.test(s)) return "warn";
  if (GOOD.test(s)) return "ok";
  return "info";
}

export function pill(text, t) {
  return h("span", { class: `pill ${t || tone(text)}` }, humanize(text));
}

export function notice(text, kind = "") {
  return h("p", { class: `notice ${kind}`, role: kind === "bad" ? "alert" : "status" }, text);
}

// A table: columns [{label, cell: row => node|text}], with a caption.
export function table(caption, columns, rows, empty = "Nothing here.") {
  if (!rows.length) return h("p", { class: "help" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c, i) =>
        i === 0 ? h("th", { scope: "row" }, c.cell(r)) : h("td", {}, c.cell(r))))))));
}

// Tells assistive technology what changed (the live region in the page).
export function announce(text) {
  const el = document.getElementById("announce");
  if (!el) return;
  el.append(h("p", {}, text));
  while (el.childNodes.length > 5) el.firstChild.remove();
}

// A button that runs an async action, disabled meanwhile, with failures
// shown next to it in words.
export function action(label, fn, attrs = {}) {
  const out = h("span", { class: "error", role: "alert" });
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    out.textContent = "";
    try {
      await fn();
    } catch (e) {
      out.textContent = e.message || String(e);
    } finally {
      if (b.isConnected) b.disabled = false;
    }
  });
  return h("span", {}, b, out);
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function section(title, id, ...kids) {
  return h("section", { "aria-labelledby": id, class: "card" }, h("h2", { id }, title), ...kids);
}
