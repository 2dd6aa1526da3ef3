// student.js: the student's page: one application, every campus's status,
// what is missing and by when, aid eligibility in plain language, and who
// has looked at the record. Live: a status change redraws the page.

import { ApiError, get } from "./api.js";
import { action, announce, caseLabel, clear, h, humanize, section, table, timeEl } from "./ui.js";
import { loadStudent, studentView } from "./timeline.js";

// GET /v1/me/disclosures: a page of {at, reader_role, reader_scope, route,
// case_id}, newest first, with a cursor for the next. 404 means this
// cairnd does not keep the log: said so, in words.
async function disclosures() {
  const body = h("div", {});
  const rows = [];
  const more = h("div", {});
  const tableBox = h("div", {});
  const draw = () => clear(tableBox, table("Who has read your record", [
    { label: "When", cell: (d) => timeEl(d.at) },
    { label: "Who", cell: (d) => `${humanize(d.reader_role)}${d.reader_scope ? ` (${d.reader_scope})` : ""}` },
    { label: "What they opened", cell: (d) => [d.route || "", d.case_id ? h("span", { class: "help" }, ` ${d.case_id.slice(0, 13)}`) : null] },
  ], rows, "No one but you has read your record."));
  async function page(cursor) {
    const r = await get(`/v1/me/disclosures?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    const items = Array.isArray(r) ? r : r.disclosures || r.items || Object.values(r).find(Array.isArray) || [];
    rows.push(...items);
    draw();
    clear(more, r && r.next ? action("Show more", () => page(r.next), { class: "secondary" }) : null);
  }
  body.append(tableBox, more);
  try {
    await page(null);
  } catch (e) {
    clear(body, e instanceof ApiError && e.status === 404
      ? h("p", { class: "notice" }, "Not available: this Cairn does not keep a record of who reads student files yet.")
      : h("p", { class: "notice bad" }, `Could not load it: ${e.message}`));
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
  disc.append(await disclosures());

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
