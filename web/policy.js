// policy.js: rule sets and their versions; a file of a set (a parameter
// table or a rule) edited in the browser; its tests run; a dry run over
// the stored cases with the impact report (counts, examples, reasons);
// publish; roll back. Nothing goes live without passing its tests: the
// server checks again on publish.

import { get, post, put } from "./api.js";
import { action, announce, clear, h, humanize, notice, pill, section, table, timeEl } from "./ui.js";

// A reason in words: its message, unless the reader's role may not see
// the student's values it quotes (then cairnd sends "[redacted: ...]" and
// the code says what failed).
function reasonText(q) {
  if (typeof q === "string") return q;
  if (q.message && !q.message.startsWith("[redacted")) return q.message;
  return q.code ? `${humanize(q.code)} (the values are hidden from your role)` : "reason hidden";
}

export async function render(root, who) {
  const setsBox = h("div", {});
  const editor = h("section", { class: "card", "aria-labelledby": "h-edit", id: "editor", tabindex: "-1", hidden: true });
  clear(root, h("h1", {}, "Eligibility rules"),
    h("p", { class: "help" }, "Change a rule set here: test it, see what it would change, then publish. Every version is kept and can be restored."),
    section("Rule sets", "h-sets", setsBox), editor);

  async function loadSets() {
    const r = await get("/v1/rules");
    const sets = r.rule_sets || [];
    clear(setsBox, table("Rule sets and their live versions", [
      { label: "Rule set", cell: (s) => humanize(s.name) },
      { label: "Live version", cell: (s) => h("code", {}, (s.version || "none").slice(0, 12)) },
      { label: "Published", cell: (s) => (s.published_at ? timeEl(s.published_at) : "—") },
      { label: "Award years", cell: (s) => (s.award_years || []).join(", ") },
      { label: "Last rejected", cell: (s) => (s.last_failure ? s.last_failure.error || "yes" : "—") },
      { label: "", cell: (s) => action("Open", () => open(s.name), { class: "secondary", "aria-label": `Open the rule set ${humanize(s.name)}` }) },
    ], sets, "No rule sets are loaded."));
  }

  async function open(name) {
    const [files, versions] = await Promise.all([
      get(`/v1/rules/${encodeURIComponent(name)}/files`),
      get(`/v1/rules/${encodeURIComponent(name)}/versions`),
    ]);
    const edited = { ...files.files };
    const paths = Object.keys(edited).sort((a, b) => (a.startsWith("params/") ? -1 : 0) - (b.startsWith("params/") ? -1 : 0) || a.localeCompare(b));
    const pick = h("select", { id: "rule-file" }, paths.map((p) => h("option", { value: p }, p)));
    const text = h("textarea", { id: "rule-text", class: "code", spellcheck: "false", "aria-describedby": "rule-text-help" });
    const report = h("div", { id: "report", "aria-live": "polite" });
    let shown = paths[0];
    text.value = edited[shown] || "";
    pick.addEventListener("change", () => {
      edited[shown] = text.value;
      shown = pick.value;
      text.value = edited[shown];
    });
    const body = () => {
      edited[shown] = text.value;
      return { files: edited };
    };
    const base = `/v1/rules/${encodeURIComponent(name)}`;

    clear(editor,
      h("h2", { id: "h-edit" }, `Edit ${humanize(name)}`),
      h("p", { class: "help" }, "Editing the live version ", h("code", {}, files.version.slice(0, 12)), "."),
      h("label", { for: "rule-file" }, "File"), pick,
      h("label", { for: "rule-text" }, "Contents"), text,
      h("p", { id: "rule-text-help", class: "help" }, "Parameter tables are YAML: change a figure, keep the layout. Rules are Lua."),
      h("div", {},
        action("Run the tests", async () => {
          const r = await post(`${base}/test`, body());
          clear(report, testReport(r));
          announce(r.ok ? "All tests passed." : "Some tests failed.");
        }),
        action("Dry run against stored cases", async () => {
          const wf = document.getElementById("dry-workflow").value.trim();
          const r = await post(`${base}/dry-run`, { ...body(), filter: wf ? { workflow: wf } : {} });
          clear(report, dryReport(r));
          announce(`Dry run: ${r.changed} of ${r.evaluated} cases would change.`);
        }, { class: "secondary" }),
        action("Publish", async () => {
          try {
            const r = await put(base, body());
            clear(report, notice(`Published: version ${String(r.version || "").slice(0, 12)} is live.`, "ok"));
            announce("Published.");
          } catch (e) {
            if (e.problem && e.problem.tests) clear(report, notice(`Not published: ${e.message}`, "bad"), testReport({ ok: false, ...e.problem }));
            else throw e;
          }
          await loadSets();
          await refreshVersions();
        }),
        action("Roll back to the previous version", async () => {
          const r = await post(`${base}/rollback`, {});
          clear(report, notice(`Rolled back: version ${String(r.version || "").slice(0, 12)} is live again.`, "ok"));
          announce("Rolled back.");
          await loadSets();
          await refreshVersions();
        }, { class: "danger" })),
      h("label", { for: "dry-workflow" }, "Dry run over cases of workflow (optional)"),
      h("input", { id: "dry-workflow", value: "aid_file", autocomplete: "off" }),
      report,
      h("h3", {}, "Versions"),
      h("div", { id: "versions" }, versionsTable(versions)));
    editor.hidden = false;
    editor.focus();

    async function refreshVersions() {
      const v = await get(`${base}/versions`);
      clear(document.getElementById("versions"), versionsTable(v));
    }
  }

  await loadSets();
  return { reload: loadSets, async onCase() {} };
}

function versionsTable(v) {
  return table("Every version, oldest first", [
    { label: "Version", cell: (x) => h("code", {}, x.version.slice(0, 12)) },
    { label: "State", cell: (x) => pill(x.state, x.state === "live" ? "ok" : x.state === "rejected" ? "bad" : "muted") },
    { label: "From", cell: (x) => humanize(x.source) },
    { label: "Tests", cell: (x) => (x.tests ? `${x.tests.passed} passed, ${x.tests.failed} failed` : "—") },
    { label: "Published", cell: (x) => (x.published_at ? timeEl(x.published_at) : "—") },
  ], v.versions || []);
}

function testReport(r) {
  const cases = (r.tests && r.tests.cases) || [];
  const failed = cases.filter((c) => !c.ok);
  const errors = r.errors || [];
  return h("div", { id: "test-report" },
    notice(r.ok ? `All ${cases.length} tests passed.` : `${failed.length} of ${cases.length} tests failed.`, r.ok ? "ok" : "bad"),
    errors.length ? h("ul", {}, errors.map((e) => h("li", {}, `${e.file || ""}${e.line ? `:${e.line}` : ""} ${e.message}`))) : null,
    failed.length ? table("Failed tests", [
      { label: "Test", cell: (c) => c.name },
      { label: "Where", cell: (c) => `${c.file}:${c.line}` },
      { label: "Expected", cell: (c) => h("code", {}, JSON.stringify(c.expected)) },
      { label: "Got", cell: (c) => h("code", {}, JSON.stringify(c.actual)) },
    ], failed) : null);
}

function dryReport(r) {
  const rows = r.transitions || [];
  return h("div", { id: "dry-report" },
    h("p", {}, `${r.evaluated} of ${r.cases} cases evaluated; `, h("strong", {}, `${r.changed} would change`), r.unreadable ? `; ${r.unreadable} could not be read` : "", "."),
    table("What would change", [
      { label: "Rule", cell: (t) => humanize(t.rule) },
      { label: "From → to", cell: (t) => [pill(t.from), " → ", pill(t.to)] },
      { label: "Cases", cell: (t) => String(t.count) },
      { label: "Examples and reasons", cell: (t) => h("ul", {}, (t.examples || []).map((x) => h("li", {},
        h("code", {}, x.case.slice(0, 13)), ": ",
        (x.reasons || []).map(reasonText).join("; ") || "no reason given"))) },
    ], rows, "No decision would change."));
}
