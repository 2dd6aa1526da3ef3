// admin.js: adapters' health and dead letters (redrive), tokens (create,
// revoke), metrics at a glance, and the workflow graphs drawn.

import { del, get, post, postEmpty } from "./api.js";
import { action, announce, clear, h, humanize, kv, notice, pill, section, table } from "./ui.js";
import { drawWorkflow } from "./graph.js";

const ROLES = ["student", "counselor", "aid_officer", "admissions", "institution", "policy", "admin"];

// A few figures from the Prometheus text of GET /metrics.
async function metrics() {
  const res = await fetch("/metrics", { cache: "no-store", credentials: "omit" });
  const text = await res.text();
  let requests = 0, errors = 0, conns = null, dbBytes = null, count = 0, sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.trim()) continue;
    const m = /^([a-z_:]+)(\{[^}]*\})?\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (m[1] === "cairn_http_requests_total") {
      requests += v;
      if (/status="5/.test(m[2] || "")) errors += v;
    } else if (m[1] === "cairn_http_connections") conns = v;
    else if (m[1] === "cairn_store_database_bytes" || m[1] === "cairn_db_size_bytes") dbBytes = v;
    else if (m[1] === "cairn_http_request_duration_seconds_sum") sum += v;
    else if (m[1] === "cairn_http_request_duration_seconds_count") count += v;
  }
  return kv([
    ["Requests served", requests.toLocaleString()],
    ["Server errors (5xx)", errors.toLocaleString()],
    ["Open connections", conns === null ? "—" : String(conns)],
    ["Mean request time", count ? `${((sum / count) * 1000).toFixed(2)} ms` : "—"],
    dbBytes === null ? null : ["Database size", `${(dbBytes / 1048576).toFixed(1)} MiB`],
  ]);
}

export async function render(root, who) {
  const adaptersBox = h("div", {});
  const redriveResult = h("p", { id: "redrive-result", role: "status" });
  const tokensBox = h("div", {});
  const metricsBox = h("div", {});
  const graphBox = h("div", {});
  const created = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "token-form", "aria-labelledby": "h-new-token" },
    h("h3", { id: "h-new-token" }, "New token"),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "new-role" }, "Role"),
        h("select", { id: "new-role", name: "role" }, ROLES.map((r) => h("option", { value: r }, humanize(r))))),
      h("div", {}, h("label", { for: "new-scope" }, "Scope"),
        h("input", { id: "new-scope", name: "scope", autocomplete: "off", "aria-describedby": "new-scope-help" })),
      h("div", {}, h("label", { for: "new-label" }, "Label"),
        h("input", { id: "new-label", name: "label", autocomplete: "off" })),
      h("button", { type: "submit" }, "Create the token")),
    h("p", { id: "new-scope-help", class: "help" }, "Student id, counselor id, office, campus or adapter; none for policy and admin."),
    h("p", { class: "error", role: "alert", id: "token-error" }),
    created);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = form.querySelector("#token-error");
    err.textContent = "";
    const role = form.querySelector("#new-role").value;
    const scope = form.querySelector("#new-scope").value.trim();
    const label = form.querySelector("#new-label").value.trim();
    try {
      const t = await post("/v1/tokens", { role, ...(scope ? { scope } : {}), ...(label ? { label } : {}) });
      clear(created, notice(`Token ${t.id} created for ${humanize(t.role)}. Copy it now: it is shown only once.`, "ok"),
        h("p", { class: "token-once", id: "new-token" }, t.token));
      announce("Token created.");
      await loadTokens();
    } catch (x) {
      err.textContent = x.message;
    }
  });

  const wfSel = h("select", { id: "wf-pick" });
  wfSel.addEventListener("change", () => drawGraph(wfSel.value));

  clear(root, h("h1", {}, "Administration"),
    section("Metrics at a glance", "h-metrics", metricsBox),
    section("Institution adapters", "h-adapters", adaptersBox, redriveResult),
    section("Tokens", "h-tokens", tokensBox, form),
    section("Workflows", "h-workflows", h("label", { for: "wf-pick" }, "Workflow"), wfSel, graphBox));

  async function loadAdapters() {
    const r = await get("/v1/adapters");
    clear(adaptersBox, table("Adapters, their health and dead letters", [
      { label: "Adapter", cell: (a) => a.name },
      { label: "Breaker", cell: (a) => pill(a.breaker || "unknown", a.breaker === "closed" ? "ok" : "bad") },
      { label: "Backlog", cell: (a) => String(a.backlog ?? 0) },
      { label: "In flight", cell: (a) => String(a.in_flight ?? 0) },
      { label: "Success", cell: (a) => (a.success_rate === null || a.success_rate === undefined ? "—" : `${(a.success_rate * 100).toFixed(1)}%`) },
      { label: "p99", cell: (a) => (a.latency_ms && a.latency_ms.p99 !== undefined ? `${a.latency_ms.p99} ms` : "—") },
      { label: "Dead letters", cell: (a) => (a.dead_letters ? pill(`${a.dead_letters}`, "bad") : "0") },
      { label: "", cell: (a) => action("Redrive", async () => {
        const x = await postEmpty(`/v1/adapters/${encodeURIComponent(a.name)}/redrive`);
        announce(`${x.redriven} dead letter(s) of ${a.name} sent again.`);
        clear(redriveResult, `${x.redriven} dead letter(s) of ${a.name} are due again.`);
        await loadAdapters();
      }, { "aria-label": `Redrive the dead letters of ${a.name}`, disabled: !a.dead_letters }) },
    ], r.adapters || [], "No adapters are loaded."));
  }

  async function loadTokens() {
    const r = await get("/v1/tokens");
    const live = (r.tokens || []).filter((t) => !t.revoked_at);
    clear(tokensBox, table("Active tokens", [
      { label: "Id", cell: (t) => h("code", {}, t.id) },
      { label: "Role", cell: (t) => humanize(t.role) },
      { label: "Scope", cell: (t) => t.scope || "—" },
      { label: "Label", cell: (t) => t.label || "" },
      { label: "", cell: (t) => (t.id === who.token_id ? "this session" : action("Revoke", async () => {
        await del(`/v1/tokens/${t.id}`);
        announce(`Token ${t.id} revoked.`);
        await loadTokens();
      }, { class: "danger", "aria-label": `Revoke token ${t.id}` })) },
    ], live));
  }

  async function drawGraph(name) {
    const def = await get(`/v1/workflows/${encodeURIComponent(name)}`);
    clear(graphBox, h("p", {}, def.description || ""), drawWorkflow(def));
  }

  async function loadWorkflows() {
    const r = await get("/v1/workflows");
    const names = (r.workflows || []).map((w) => w.name);
    clear(wfSel, names.map((n) => h("option", { value: n }, n)));
    if (names.length) await drawGraph(names[0]);
  }

  const load = async () => {
    await Promise.all([
      metrics().then((m) => clear(metricsBox, m)).catch((e) => clear(metricsBox, notice(e.message, "bad"))),
      loadAdapters(), loadTokens(), loadWorkflows()]);
  };
  await load();
  return { reload: load, async onCase() { clear(metricsBox, await metrics()); } };
}
