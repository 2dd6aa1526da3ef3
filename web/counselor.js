// counselor.js: the caseload, open alerts by severity (acknowledged from
// here), stalled and incomplete applications, and one student's full
// timeline, the same view the student has.

import { all, get, post } from "./api.js";
import { action, announce, caseLabel, clear, fmtSpan, h, humanize, pill, section, table, timeEl } from "./ui.js";
import { loadStudent, studentView } from "./timeline.js";

const SEVERITY = { critical: 0, warning: 1, info: 2 };
const STALLED_MS = 14 * 86400000;
const WAITING = /(incomplete|overdue|correction|documents_requested|draft)/;

export async function render(root, who) {
  const alertsBox = h("div", {});
  const stalledBox = h("div", {});
  const caseloadBox = h("div", {});
  const detail = h("section", { class: "card", "aria-labelledby": "h-student", id: "student-detail", tabindex: "-1", hidden: true });
  clear(root, h("h1", {}, "Your caseload"),
    h("p", { class: "help" }, `Counselor ${who.scope}.`),
    section("Open alerts", "h-alerts", alertsBox),
    section("Stalled and incomplete", "h-stalled", stalledBox),
    section("Students", "h-caseload", caseloadBox),
    detail);
  let openStudent = null;

  async function showStudent(subject, focus = true) {
    openStudent = subject;
    detail.hidden = false;
    clear(detail, h("h2", { id: "h-student" }, `Student ${subject}`), h("p", {}, "Loading…"));
    const data = await loadStudent(subject);
    clear(detail, h("h2", { id: "h-student" }, `Student ${subject}: full timeline`),
      ...(await studentView(data, "counselor")));
    if (focus) detail.focus();
  }

  async function reload() {
    const [alerts, caseload, cases] = await Promise.all([
      get("/v1/alerts?state=open&limit=500").then((r) => r.alerts || []),
      get(`/v1/counselors/${encodeURIComponent(who.scope)}/students`).then((r) => r.students || []),
      all("/v1/cases?limit=500", "cases", 2000),
    ]);
    alerts.sort((a, b) => (SEVERITY[a.severity] ?? 3) - (SEVERITY[b.severity] ?? 3) || a.created_at - b.created_at);
    clear(alertsBox, table("Open alerts, most severe first", [
      { label: "Severity", cell: (a) => pill(a.severity, a.severity === "critical" ? "bad" : a.severity === "warning" ? "warn" : "info") },
      { label: "Student", cell: (a) => a.subject || "" },
      { label: "What", cell: (a) => a.message || humanize(a.kind) },
      { label: "Raised", cell: (a) => timeEl(a.created_at) },
      { label: "State", cell: (a) => (a.acked_at ? `Acknowledged by ${a.acked_by || "someone"}` : "New") },
      { label: "Actions", cell: (a) => [
        a.acked_at ? null : action("Acknowledge", async () => {
          await post(`/v1/alerts/${a.id}/ack`);
          announce(`Alert about ${a.subject} acknowledged.`);
          await reload();
        }, { "aria-label": `Acknowledge the ${a.severity} alert about ${a.subject}: ${a.message}` }),
        a.subject ? action("Timeline", () => showStudent(a.subject), { class: "secondary", "aria-label": `Open the timeline of ${a.subject}` }) : null] },
    ], alerts, "No open alerts."));

    const now = Date.now();
    const stalled = cases.filter((c) => !c.terminal && (WAITING.test(c.status) || now - c.updated_at > STALLED_MS));
    clear(stalledBox, table("Applications waiting on something", [
      { label: "Student", cell: (c) => c.subject },
      { label: "Record", cell: (c) => caseLabel(c) },
      { label: "Status", cell: (c) => pill(c.status) },
      { label: "Unchanged for", cell: (c) => fmtSpan(now - c.updated_at) },
      { label: "", cell: (c) => action("Timeline", () => showStudent(c.subject), { class: "secondary", "aria-label": `Open the timeline of ${c.subject}` }) },
    ], stalled, "Nothing is stalled."));

    const bySubject = new Map();
    for (const c of cases) (bySubject.get(c.subject) || bySubject.set(c.subject, []).get(c.subject)).push(c);
    clear(caseloadBox, table("Students in your caseload", [
      { label: "Student", cell: (s) => s },
      { label: "Records", cell: (s) => (bySubject.get(s) || []).map((c) => h("span", {}, caseLabel(c), " ", pill(c.status), " ")) },
      { label: "", cell: (s) => action("Timeline", () => showStudent(s), { class: "secondary", "aria-label": `Open the timeline of ${s}` }) },
    ], caseload, "No students in your caseload yet."));
    if (openStudent) await showStudent(openStudent, false);
  }
  await reload();
  return {
    reload,
    async onCase(evs) {
      for (const ev of evs) announce(`Student ${ev.subject}: ${humanize(ev.status)}.`);
      await reload();
    },
  };
}
