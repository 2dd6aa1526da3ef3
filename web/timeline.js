// timeline.js: one student's whole story, as the student and their
// counselor read it: every campus's status, one timeline of what happened
// where, what is missing and by when, and aid eligibility with its
// reasons in plain language. Built from the public API only: the cases,
// their histories and the workflow definitions (whose status
// descriptions are written for people).

import { all, get } from "./api.js";
import { caseLabel, fmtDate, h, humanize, pill, timeEl, tone } from "./ui.js";

const defs = new Map();

export async function workflow(name) {
  if (!defs.has(name)) defs.set(name, get(`/v1/workflows/${encodeURIComponent(name)}`).catch(() => null));
  return defs.get(name);
}

export function statusText(def, status) {
  const st = def && def.statuses && def.statuses[status];
  return (st && st.description) || "";
}

// Every case of one student the caller may see, with their histories.
export async function loadStudent(subject) {
  const q = subject ? `/v1/cases?subject=${encodeURIComponent(subject)}&limit=200` : "/v1/cases?limit=200";
  const cases = await all(q, "cases", 400);
  const histories = await Promise.all(cases.map((c) =>
    get(`/v1/cases/${c.id}/history`).then((r) => r.events || []).catch(() => [])));
  const names = [...new Set(cases.map((c) => c.workflow))];
  await Promise.all(names.map(workflow));
  const byId = new Map();
  cases.forEach((c, i) => byId.set(c.id, { c, events: histories[i] }));
  return { cases, byId };
}

function list(x) {
  if (Array.isArray(x)) return x;
  return x === undefined || x === null ? [] : [x];
}

// Transitions out of `status` that `role` may send, from a definition.
function transitionsFor(def, status, role) {
  return list(def && def.transitions).filter((t) => {
    const from = list(t.from);
    const ok = from.includes(status) || from.includes("any");
    return ok && list(t.roles).includes(role);
  });
}

// When the step a case waits on is due: a timer its status starts
// ("after: 14d" from when it entered, or "until: field").
function dueOf(def, c, events) {
  const st = def && def.statuses && def.statuses[c.status];
  if (!st) return null;
  for (const a of list(st.on_enter)) {
    const t = a && a.start_timer;
    if (!t) continue;
    if (t.until && c.data && c.data[t.until]) {
      const ms = Date.parse(c.data[t.until]);
      if (!Number.isNaN(ms)) return ms;
    }
    const m = /^(\d+)\s*([dhm])$/.exec(String(t.after || ""));
    if (m) {
      const entered = [...events].reverse().find((e) => e.to_status === c.status);
      const from = entered ? entered.at : c.updated_at;
      const unit = { d: 86400000, h: 3600000, m: 60000 }[m[2]];
      return from + Number(m[1]) * unit;
    }
  }
  return null;
}

const EVENT_WORDS = {
  created: "Started",
  submit: "Application submitted",
  request_documents: "Asked for more documents",
  submit_documents: "Documents sent",
  accept_documents: "Documents accepted",
  complete: "Application complete",
  admit: "Admitted",
  deny: "Not admitted",
  review_isir: "Your FAFSA information was reviewed",
  "rules.decided": "Eligibility was decided",
};

function eventText(e, def) {
  const words = EVENT_WORDS[e.type] || humanize(e.type);
  if (e.to_status && e.from_status !== e.to_status) {
    return [words, " — now ", h("strong", {}, humanize(e.to_status))];
  }
  return [words];
}

// --- eligibility in plain language ---------------------------------------

const REASONS = {
  not_california_resident: "You need to be a California resident, or qualify under AB 540.",
  income_over_ceiling: "Your family's income is above the limit for your family size.",
  assets_over_ceiling: "Your family's assets are above the limit.",
  gpa_below_minimum: "Your GPA is below the minimum for this grant.",
  gpa_missing: "We do not have your GPA yet; the office will check it.",
  application_late: "The application arrived after the deadline.",
  program_too_short: "Your program is shorter than this grant requires.",
  transfer_age_limit: "You are over the age limit for the transfer entitlement.",
  transfer_gpa_below_minimum: "Your college GPA is below the transfer minimum.",
  unknown_segment: "We do not know yet which kind of college you will attend.",
  unknown_dependency: "Your dependency status is not known yet.",
  family_unknown: "Your family size is not known yet; the office will check it.",
  student_missing: "We do not have your FAFSA or Dream Act information yet.",
};

const CHECKS = {
  residency: "California residency",
  segment: "Kind of college",
  application_date: "Applied by the deadline",
  dependency: "Dependency status",
  assets: "Family assets under the limit",
  income: "Family income under the limit",
  income_row: "Family size known",
  gpa: "GPA at the minimum",
  transfer_age: "Transfer age limit",
  transfer_gpa: "Transfer GPA",
  program_months: "Program length",
  student: "FAFSA information on file",
};

const OUTCOME_WORDS = {
  eligible: "You qualify",
  ineligible: "You do not qualify",
  needs_review: "The office needs to check something",
};

function reasonText(r) {
  const code = typeof r === "string" ? r : r && r.code;
  const msg = r && typeof r === "object" && r.message;
  return REASONS[code] || msg || humanize(code);
}

export function eligibilityView(aidCase) {
  const elig = aidCase.data && aidCase.data.eligibility;
  if (!elig) return h("p", {}, "Not decided yet. It is decided when the aid office packages your file.");
  return Object.entries(elig).map(([set, d]) => {
    const decisions = (d.detail && d.detail.decisions) || { [set]: d };
    return h("div", {}, h("h3", {}, humanize(set)),
      h("ul", { class: "eligibility" }, Object.entries(decisions).map(([rule, dec]) => {
        const reasons = list(dec.reasons);
        const checks = list(dec.checks);
        return h("li", {},
          h("strong", {}, humanize(rule), ": "), pill(dec.outcome),
          " ", OUTCOME_WORDS[dec.outcome] || "",
          reasons.length ? h("ul", {}, reasons.map((r) => h("li", {}, reasonText(r)))) : null,
          checks.length ? h("details", {}, h("summary", {}, "What was checked"),
            h("ul", {}, checks.map((c) => h("li", {},
              `${CHECKS[c.name] || humanize(c.name)}: `,
              c.outcome === "pass" ? "met" : c.outcome === "fail" ? "not met" : "to be checked")))) : null);
      })),
      d.detail && d.detail.award_year ? h("p", { class: "help" }, `Award year ${d.detail.award_year}.`) : null);
  });
}

// --- the whole view ---------------------------------------------------------

// data: loadStudent's result; role: whose eyes ("student" or another).
export async function studentView(data, role, changed = new Set()) {
  const apps = data.cases.filter((c) => c.workflow === "student_application");
  const campuses = data.cases.filter((c) => c.workflow === "campus_application");
  const aid = data.cases.filter((c) => c.workflow === "aid_file");
  const aidDef = aid.length ? await workflow("aid_file") : null;
  const others = data.cases.filter((c) => !["student_application", "campus_application", "aid_file"].includes(c.workflow));
  const you = role === "student";
  const out = [];

  // every campus's status, side by side
  const appDef = await workflow("student_application");
  const campusDef = await workflow("campus_application");
  out.push(h("section", { "aria-labelledby": "h-campuses", class: "card" },
    h("h2", { id: "h-campuses" }, you ? "Your campuses" : "Campuses"),
    apps.map((a) => h("p", {}, "Application: ", pill(a.status), " ", statusText(appDef, a.status))),
    campuses.length
      ? h("ul", { class: "campuses" }, campuses.map((c) =>
        h("li", { class: changed.has(c.id) ? "changed" : "", "data-case": c.id },
          h("h3", {}, caseLabel(c)),
          h("p", {}, pill(c.status)),
          h("p", { class: "help" }, statusText(campusDef, c.status)))))
      : h("p", {}, apps.length ? "The application has not been sent to any campus yet." : "No application yet.")));

  // what is missing and by when
  const missing = [];
  for (const c of data.cases) {
    if (c.terminal) continue;
    const def = await workflow(c.workflow);
    const ts = transitionsFor(def, c.status, "student").filter((t) => !/^(withdraw|decline)$/.test(t.on));
    const due = dueOf(def, c, data.byId.get(c.id).events);
    // missing means due by a date (a timer runs), or not sent at all
    const initial = def && def.statuses && def.statuses[c.status] && def.statuses[c.status].initial;
    if (!due && !(initial && ts.length)) continue;
    const docs = c.data && (c.data.documents_requested || c.data.documents);
    missing.push(h("li", {},
      h("strong", {}, caseLabel(c)), ": ",
      ts.length ? ts.map((t) => humanize(t.description || t.on)).join("; ") : humanize(c.status),
      docs ? [" — ", list(docs).map(humanize).join(", ")] : null,
      due ? [" — ", h("strong", {}, "by ", fmtDate(due))] : null));
  }
  out.push(h("section", { "aria-labelledby": "h-missing", class: "card" },
    h("h2", { id: "h-missing" }, you ? "What you need to do" : "What is missing"),
    missing.length ? h("ul", {}, missing) : h("p", {}, "Nothing is missing right now.")));

  // aid eligibility
  out.push(h("section", { "aria-labelledby": "h-aid", class: "card" },
    h("h2", { id: "h-aid" }, "Financial aid"),
    aid.length ? aid.map((a) => h("div", {},
      h("p", {}, caseLabel(a), ": ", pill(a.status), " ", statusText(aidDef, a.status)),
      eligibilityView(a))) : h("p", {}, "No financial-aid file yet.")));

  // one timeline, newest first
  const items = [];
  for (const c of data.cases) {
    const def = defs.has(c.workflow) ? await workflow(c.workflow) : null;
    for (const e of data.byId.get(c.id).events) {
      // a campus's move reaches its application as child.*: it is shown
      // once, on the campus's own line
      if (e.type.startsWith("child.") || e.type === "children.settled") continue;
      items.push({ e, c, def });
    }
  }
  items.sort((a, b) => b.e.at - a.e.at || b.e.seq - a.e.seq);
  out.push(h("section", { "aria-labelledby": "h-timeline", class: "card" },
    h("h2", { id: "h-timeline" }, "Timeline"),
    items.length ? h("ol", { class: "timeline", reversed: true }, items.slice(0, 200).map(({ e, c, def }) =>
      h("li", { class: tone(e.to_status) },
        timeEl(e.at), h("strong", {}, caseLabel(c)), ": ", eventText(e, def)))) : h("p", {}, "Nothing has happened yet.")));

  if (others.length) {
    out.push(h("section", { "aria-labelledby": "h-other", class: "card" },
      h("h2", { id: "h-other" }, "Other records"),
      h("ul", {}, others.map((c) => h("li", {}, caseLabel(c), ": ", pill(c.status))))));
  }
  return out;
}
