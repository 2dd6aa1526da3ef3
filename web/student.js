// student.js: the student's page: one application, every campus's status,
// what is missing and by when, aid eligibility in plain language, and who
// has looked at the record. Live: a status change redraws the page.

import { get } from "./api.js";
import { action, announce, caseLabel, clear, h, humanize, section, table, timeEl } from "./ui.js";
import { loadStudent, studentView } from "./timeline.js";

// What a reader opened, in words: the disclosing routes of
// docs/security.md ("The disclosure log"); the route itself follows in
// small type, so a route added later still reads as something.
const ROUTE_WORDS = {
  "GET /v1/cases/{id}": "Opened your file",
  "GET /v1/cases/{id}/history": "Read your file's history",
  "GET /v1/cases": "Saw your file in a list of cases",
  "GET /v1/queues/{q}": "Saw your file in a review queue",
  "POST /v1/queues/{q}/claim": "Took your file to review it",
  "GET /v1/alerts": "Read an alert about your file",
  "POST /v1/cases": "Opened a file for you",
  "POST /v1/cases/{id}/events": "Saw your file after a change they made",
};

// GET /v1/me/disclosures: {disclosures: [{seq, at, role, scope, route,
// case_id}], next}, newest first; next is the cursor of the page after
// (absent or null on the last). The student's own reads are on the log
// too (every visit to this page adds some): they are counted, not listed,
// so what others read is not buried under them. A page of the log can be
// all the student's own reads, so pages are read until there are rows to
// show or the log ends; ten are shown at a time (a phone's screen).
async function disclosures(who, caseName) {
  const body = h("div", {});
  const rows = [];
  const more = h("div", {});
  const tableBox = h("div", {});
  const ownNote = h("p", { class: "help" });
  let own = 0;
  let shown = 0;
  let next = null;
  const mine = (d) => d.role === "student" && d.scope === who.scope;
  const draw = () => {
    clear(tableBox, table("Who has read your record, newest first", [
      { label: "When", cell: (d) => timeEl(d.at) },
      { label: "Who", cell: (d) => `${humanize(d.role)}${d.scope ? ` (${d.scope})` : ""}` },
      { label: "What they read", cell: (d) => [
        `${ROUTE_WORDS[d.route] || "Read your record"}${d.case_id ? `: ${caseName(d.case_id)}` : ""}`,
        h("span", { class: "help" }, ` ${d.route}`),
      ] },
    ], rows.slice(0, shown), "No one but you has read your record."));
    ownNote.textContent = own ? `Your own reads are left out (${own} of them so far).` : "";
  };
  // ten more rows: the log is read on (a few pages at most per click)
  // until it has them or ends
  async function load(first) {
    shown += 10;
    for (let pages = 0; pages < 10 && rows.length < shown && (first || next); pages++, first = false) {
      const r = await get(`/v1/me/disclosures?limit=200${next ? `&cursor=${encodeURIComponent(next)}` : ""}`);
      for (const d of r.disclosures || []) {
        if (mine(d)) own++;
        else rows.push(d);
      }
      next = r.next || null;
    }
    draw();
    clear(more, next || rows.length > shown ? action("Show earlier reads", () => load(false), { class: "secondary" }) : null);
  }
  body.append(tableBox, ownNote, more);
  try {
    await load(true);
  } catch (e) {
    clear(body, h("p", { class: "notice bad" }, `Could not load who has read your record: ${e.message}`));
  }
  return section("Who has looked at my record", "h-disclosures", body);
}

export async function render(root, who) {
  const view = h("div", {});
  const disc = h("div", {});
  clear(root, h("h1", {}, "Your application"),
    h("p", { class: "help" }, `Signed in as student ${who.scope}. This page updates by itself.`), view, disc);
  let data = null;
  const changed = new Set();

  async function reload() {
    data = await loadStudent(null);
    clear(view, ...(await studentView(data, "student", changed)));
  }
  await reload();
  disc.append(await disclosures(who, (id) => {
    const x = data && data.byId.get(id);
    return x ? caseLabel(x.c) : `file ${id.slice(0, 13)}`;
  }));

  return {
    reload,
    async onCase(evs) {
      const before = new Map(evs.map((ev) => [ev.id, data && data.byId.get(ev.id)]));
      for (const ev of evs) changed.add(ev.id);
      await reload();
      for (const ev of evs) {
        const was = before.get(ev.id);
        const now = data.byId.get(ev.id);
        const label = now ? caseLabel(now.c) : "A record";
        if (!was || was.c.status !== ev.status) announce(`${label} is now ${humanize(ev.status)}.`);
      }
    },
  };
}
