// officer.js: an aid office's queues (depth, claimed, SLA breaches),
// "claim next file", the file itself (its ISIR fields, the documents
// requested, its history), the decision, and release. The lease is shown
// with the time it has left and renewed on request, or by itself when
// less than a third of it remains while the file is open.

import { del, get, post, postEmpty } from "./api.js";
import { action, announce, clear, fmtSpan, h, humanize, kv, notice, pill, section, table, timeEl } from "./ui.js";
import { workflow } from "./timeline.js";

function list(x) {
  return Array.isArray(x) ? x : x === undefined || x === null ? [] : [x];
}

export async function render(root, who) {
  const queuesBox = h("div", {});
  const fileBox = h("section", { class: "card", "aria-labelledby": "h-file", id: "file", tabindex: "-1" });
  clear(root, h("h1", {}, "Review queues"),
    h("p", { class: "help" }, `Office ${who.scope}.`),
    section("Queues", "h-queues", queuesBox), fileBox);
  let current = null; // {id, lease}
  let tick = null;

  function stopTick() {
    if (tick) clearInterval(tick);
    tick = null;
  }

  async function loadQueues() {
    const r = await get("/v1/queues");
    const qs = r.queues || [];
    clear(queuesBox, table("Queues of your office", [
      { label: "Queue", cell: (q) => humanize(q.queue) },
      { label: "Files", cell: (q) => String(q.depth) },
      { label: "Claimed", cell: (q) => String(q.claimed) },
      { label: "Past SLA", cell: (q) => (q.breached ? pill(`${q.breached} late`, "bad") : "0") },
      { label: "Oldest", cell: (q) => (q.oldest ? timeEl(q.oldest) : "—") },
      { label: "", cell: (q) => action("Claim next file", () => claim(q.queue), { "aria-label": `Claim the next file in ${humanize(q.queue)}`, disabled: q.depth - q.claimed <= 0 }) },
    ], qs, "This office has no queues."));
  }

  async function claim(queue) {
    const r = await postEmpty(`/v1/queues/${encodeURIComponent(queue)}/claim`);
    if (!r) {
      announce(`Nothing to claim in ${humanize(queue)}.`);
      clear(fileBox, h("h2", { id: "h-file" }, "No file"), notice(`Every file in ${humanize(queue)} is claimed or done.`));
      return;
    }
    current = { id: r.case.id, lease: r.lease };
    announce(`Claimed a file from ${humanize(queue)}.`);
    await showFile(true);
    await loadQueues();
  }

  function leaseLine() {
    if (!current || !current.lease) return "Not leased to you.";
    const left = current.lease.until - Date.now();
    return left > 0 ? `Leased to you until ${new Date(current.lease.until).toLocaleTimeString()} (${fmtSpan(left)} left).`
      : "Your lease ran out; the file went back to the queue.";
  }

  async function renew() {
    current.lease = await postEmpty(`/v1/cases/${current.id}/lease`);
    announce("Lease renewed.");
    const el = document.getElementById("lease-line");
    if (el) el.textContent = leaseLine();
  }

  async function showFile(focus) {
    stopTick();
    const [c, hist] = await Promise.all([get(`/v1/cases/${current.id}`), get(`/v1/cases/${current.id}/history`)]);
    if (c.lease) current.lease = c.lease;
    const def = await workflow(c.workflow);
    const d = c.data || {};
    const isir = d.isir || {};
    const student = d.student || {};
    const show = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
    const decisions = list(c.allowed_events);
    const form = h("form", { "aria-labelledby": "h-decide" });
    const evSel = h("select", { id: "decision", name: "decision" },
      decisions.map((e) => h("option", { value: e }, humanize(e))));
    const choiceWrap = h("div", {});
    const note = h("p", { class: "error", role: "alert" });
    function choices() {
      const t = list(def && def.transitions).find((x) => x.on === evSel.value && typeof x.to === "object");
      clear(choiceWrap);
      if (t && t.to && t.to.cases) {
        choiceWrap.append(h("label", { for: "choice" }, `${humanize(t.to.field)}`),
          h("select", { id: "choice", name: "choice", "data-field": t.to.field },
            Object.keys(t.to.cases).map((k) => h("option", { value: k }, `${humanize(k)} → ${humanize(t.to.cases[k])}`))));
      }
    }
    evSel.addEventListener("change", choices);
    choices();
    form.append(h("h3", { id: "h-decide" }, "Decide"),
      h("label", { for: "decision" }, "Decision"), evSel, choiceWrap,
      h("label", { for: "reason" }, "Note (optional)"), h("input", { id: "reason", name: "reason", autocomplete: "off" }),
      h("button", { type: "submit" }, "Record the decision"), note);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      note.textContent = "";
      const data = {};
      const ch = form.querySelector("#choice");
      if (ch) data[ch.dataset.field] = ch.value;
      const reason = form.querySelector("#reason").value.trim();
      if (reason) data.reason = reason;
      try {
        const r = await post(`/v1/cases/${current.id}/events`, { type: evSel.value, data });
        announce(`Recorded. The file is now ${humanize(r.status)}.`);
        current.lease = null;
        await showFile(false);
        await loadQueues();
      } catch (err) {
        note.textContent = err.message;
      }
    });
    clear(fileBox,
      h("h2", { id: "h-file" }, `File of student ${c.subject}`),
      h("p", {}, pill(c.status), " ", (def && def.statuses[c.status] && def.statuses[c.status].description) || ""),
      // not a live region: a countdown read out every 15 s would drown
      // the page; renewals and expiry are announced on their own
      h("p", { id: "lease-line" }, leaseLine()),
      current.lease ? [action("Renew the lease", renew, { class: "secondary" }),
        action("Release the file", async () => {
          await del(`/v1/cases/${current.id}/lease`);
          announce("File released to the queue.");
          current.lease = null;
          await showFile(false);
          await loadQueues();
        }, { class: "secondary" })] : null,
      Object.keys(isir).length ? [h("h3", {}, "ISIR fields"),
        kv([["Award year", show(d.award_year)], ["FAFSA", show(d.fafsa_uuid)], ["Transaction", show(d.isir_transaction)],
          ...Object.entries(isir).map(([k, v]) => [humanize(k), show(v)])])] : null,
      d.isir_changes ? [h("h3", {}, "Changed by the last correction"),
        kv(Object.entries(d.isir_changes).map(([k, v]) => [humanize(k), show(v)]))] : null,
      Object.keys(student).length ? [h("h3", {}, "Eligibility input"),
        kv(Object.entries(student).map(([k, v]) => [humanize(k), show(v)]))] : null,
      h("h3", {}, "Documents requested"),
      d.documents_requested ? h("ul", {}, list(d.documents_requested).map((x) => h("li", {}, humanize(x)))) : h("p", {}, "None."),
      d.verification ? kv(Object.entries(d.verification).map(([k, v]) => [humanize(k), String(v)])) : null,
      decisions.length ? form : h("p", {}, "No decision is open to you in this status."),
      h("h3", {}, "History"),
      table("Events on this file", [
        { label: "When", cell: (e) => timeEl(e.at) },
        { label: "Event", cell: (e) => humanize(e.type) },
        { label: "Status", cell: (e) => (e.to_status ? humanize(e.to_status) : "") },
        { label: "By", cell: (e) => e.actor || "" },
      ], [...(hist.events || [])].reverse()));
    if (focus) fileBox.focus();
    // the lease line counts down; the lease renews itself while open
    tick = setInterval(async () => {
      if (!fileBox.isConnected) return stopTick();
      const el = document.getElementById("lease-line");
      if (el) el.textContent = leaseLine();
      if (!current || !current.lease) return;
      if (current.lease.until <= Date.now()) {
        announce("Your lease on this file ran out; it went back to the queue.");
        return stopTick();
      }
      if (current.lease.until - Date.now() < (current.lease.until - current.lease.claimed_at) / 3) {
        try {
          await renew();
        } catch (e) {
          announce(`The lease could not be renewed: ${e.message}`);
          stopTick();
        }
      }
    }, 15000);
  }

  await loadQueues();
  return {
    reload: async () => { await loadQueues(); if (current) await showFile(false); },
    async onCase(evs) {
      await loadQueues();
      const mine = current && evs.filter((ev) => ev.id === current.id).pop();
      if (mine) {
        announce(`The open file is now ${humanize(mine.status)}.`);
        await showFile(false);
      }
    },
  };
}
