// app.js: the console's entry: sign-in (a pasted token, kept in
// sessionStorage, never in a URL), GET /v1/whoami to learn the role, the
// role's pages, and live updates from GET /v1/stream handed to the page
// on screen.

import { ApiError, get, setToken, token } from "./api.js";
import { Live } from "./live.js";
import { announce, clear, h, humanize, notice } from "./ui.js";

const PAGES = {
  student: [["student", "My application", () => import("./student.js")]],
  counselor: [["caseload", "Caseload", () => import("./counselor.js")]],
  aid_officer: [["queues", "Queues", () => import("./officer.js")]],
  admissions: [["queues", "Queues", () => import("./officer.js")]],
  policy: [["rules", "Rules", () => import("./policy.js")]],
  admin: [
    ["admin", "Administration", () => import("./admin.js")],
    ["rules", "Rules", () => import("./policy.js")],
  ],
};

const LIVE_ROLES = ["student", "counselor", "aid_officer", "admissions", "admin"];

const $ = (id) => document.getElementById(id);
let live = null;
let page = null;
let who = null;
let batch = [];
let flushTimer = null;
let chain = Promise.resolve();

function flush() {
  const evs = batch;
  batch = [];
  flushTimer = null;
  const p = page;
  if (!p || !p.onCase || !evs.length) return;
  chain = chain.then(() => p.onCase(evs)).catch(() => {});
}

function showSignIn(message) {
  if (live) live.stop();
  live = null;
  page = null;
  who = null;
  $("who").hidden = true;
  clear($("nav"));
  $("nav").hidden = true; // an empty landmark is noise to a screen reader
  $("page").hidden = true;
  clear($("page"));
  $("sign-in").hidden = false;
  $("token-error").textContent = message || "";
  document.title = "Sign in · Cairn";
  $("token").focus();
}

async function signIn(t) {
  setToken(t);
  try {
    who = await get("/v1/whoami");
  } catch (e) {
    setToken(null);
    showSignIn(e instanceof ApiError && e.status === 401
      ? "That token is not valid. Check that it was copied whole, or ask for a new one."
      : e.message);
    return;
  }
  $("sign-in").hidden = true;
  $("token").value = "";
  $("who").hidden = false;
  $("who-text").textContent = `${humanize(who.role)}${who.scope ? ` · ${who.scope}` : ""}`;
  const pages = PAGES[who.role];
  if (!pages) {
    $("page").hidden = false;
    clear($("page"), h("h1", {}, "No console for this role"),
      notice(`The ${humanize(who.role)} role works through the API, not this console.`));
    return;
  }
  clear($("nav"), pages.map(([id, label]) => h("a", { href: `#${id}`, "data-page": id }, label)));
  $("nav").hidden = false;
  // GET /v1/stream is for those who can read some case
  if (LIVE_ROLES.includes(who.role)) startLive();
  else $("live-state").textContent = "Live updates: not needed here";
  await route();
}

async function route() {
  const pages = PAGES[who.role];
  const want = location.hash.slice(1);
  const entry = pages.find((p) => p[0] === want) || pages[0];
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.page === entry[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("page");
  root.hidden = false;
  clear(root, h("p", { role: "status" }, "Loading…"));
  document.title = `${entry[1]} · Cairn`;
  try {
    const mod = await entry[2]();
    page = await mod.render(root, who);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setToken(null);
      showSignIn("Your session ended: the token is no longer valid.");
      return;
    }
    clear(root, h("h1", {}, entry[1]), notice(`This page could not be loaded: ${e.message}`, "bad"));
  }
}

function startLive() {
  const state = $("live-state");
  live = new Live({
    onState(s) {
      state.textContent = {
        on: "Live updates: on",
        off: "Live updates: off",
        reconnecting: "Live updates: reconnecting…",
        unavailable: "Live updates: not available",
      }[s];
      state.dataset.state = s;
    },
    onEvent(ev) {
      // a commit often moves several cases at once (an application and
      // its campuses): they are handed over together, one redraw
      batch.push(ev);
      if (!flushTimer) flushTimer = setTimeout(flush, 250);
    },
    onReconnect() {
      if (page && page.reload) page.reload().catch(() => {});
    },
    onRevoked() {
      // the token was revoked while the page was open: nothing it shows
      // may be trusted to stay current, and every call would fail
      setToken(null);
      showSignIn("Your access was withdrawn (the token was revoked). Sign in with a new token.");
    },
  });
  live.start();
}

window.addEventListener("hashchange", () => { if (who) route(); });

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    if (!/^cairn_[0-9a-f]{64}$/.test(t)) {
      $("token-error").textContent = "A token is cairn_ followed by 64 digits and letters a to f.";
      $("token").setAttribute("aria-invalid", "true");
      $("token").focus();
      return;
    }
    $("token").removeAttribute("aria-invalid");
    signIn(t);
  });
  $("sign-out").addEventListener("click", () => {
    setToken(null);
    announce("Signed out.");
    showSignIn("");
  });
  if (token()) signIn(token());
  else showSignIn("");
});
