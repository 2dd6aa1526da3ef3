// console.test.mjs: the web console end to end, in headless Chromium,
// against a cairnd this test starts with a demo season in it (cairn-demo
// --url, a few dozen students: harness.mjs season()): each role signs in, does
// its main task, and the result is checked through the API; a status
// change arrives on the student's page without a reload; sign-in works
// from the keyboard alone; each page passes the checks of a11y.mjs.
// Screenshots of every page go to build/e2e-artifacts/.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";

import { pageProblems } from "./a11y.mjs";
import { ARTIFACTS, Cairnd, STUDENT_DATA, campusName, season, until } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const T = 30000; // per wait: the machine is shared
// the season's size: enough for every role to find its work (a campus
// asking for documents, counselors with caseloads, dead letters), small
// enough that it plays in seconds on a loaded machine
const STUDENTS = 32;

let cairnd, browser, world;

// The season's students with a campus that asked for documents the
// student has not sent (an incomplete campus application), in id order,
// with every case of theirs. The season draws its events from a fixed
// seed, so these are the same students run after run; the test still
// finds them through the API rather than naming them.
async function incompleteStudents(tk) {
  const stuck = (await cairnd.call(cairnd.admin, "GET", "/v1/cases?workflow=campus_application&status=incomplete&limit=200")).cases
    .filter((k) => k.subject.startsWith(`S-${tk.tag}`));
  const ids = [...new Set(stuck.map((k) => k.subject))].sort();
  const out = [];
  for (const id of ids) {
    const cases = (await cairnd.call(cairnd.admin, "GET", `/v1/cases?subject=${id}&limit=100`)).cases;
    const me = tk.students.find((x) => x.id === id);
    const n = Number(id.slice(-4));
    out.push({
      id,
      token: me.token,
      app: me.application,
      counselor: tk.counselors[(n - 1) % tk.counselors.length], // the demo's caseloads: every 20th student
      campuses: cases.filter((k) => k.workflow === "campus_application"),
      incomplete: stuck.find((k) => k.subject === id),
      aid: cases.find((k) => k.workflow === "aid_file" && k.data.office === tk.office && k.data.eligibility),
    });
  }
  return out;
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  cairnd = await new Cairnd().start();
  const { tokens: tk, summary, seconds } = await season(cairnd, STUDENTS);
  console.log(`# the demo season: ${summary.students} students in ${seconds.toFixed(1)} s (run tag ${tk.tag})`);
  const stuck = await incompleteStudents(tk);
  // one for the student's page (its live update moves that campus on),
  // another for the counselor (whose alert is still open)
  const student = stuck.find((s) => s.aid);
  assert.ok(student, `the season has a student with a campus asking for documents and a decided aid file: ${JSON.stringify(stuck.map((s) => s.id))}`);
  const stalled = stuck.find((s) => s !== student && s.counselor !== student.counselor);
  assert.ok(stalled, "the season has a second such student, of another counselor");
  // The targeted fixtures the season does not leave: counselors' tokens
  // (the demo loads their caseloads, it does not sign them in), and one
  // aid file waiting in the ISIR review queue (the season's officers
  // clear it) for the officer to claim: a late file for a season
  // student, opened by the season's own aid office.
  student.counselorToken = await cairnd.token("counselor", student.counselor, `Counselor ${student.counselor}`);
  stalled.counselorToken = await cairnd.token("counselor", stalled.counselor, `Counselor ${stalled.counselor}`);
  const officer = tk.aid_officers[0];
  const late = tk.students[tk.students.length - 1].id;
  const waiting = await cairnd.call(officer, "POST", "/v1/cases",
    { workflow: "aid_file", subject: late, data: { award_year: "2025-26", student: { ...STUDENT_DATA, income: 52000 } } }, 201);
  world = { tk, student, stalled, officer, waiting: { id: waiting.id, subject: late }, policy: tk.policy };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // as root (CI) Chromium refuses its sandbox; the pages are our own
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (cairnd) {
    await cairnd.stop();
    if (cairnd.exit) assert.equal(cairnd.exit.code, 0, `cairnd exited ${JSON.stringify(cairnd.exit)}\n${cairnd.log.slice(-2000)}`);
  }
});

// A new tab (its own sessionStorage) signed in with token.
async function signedIn(token, viewport) {
  const ctx = await browser.newContext({ viewport: viewport || { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // a failed request is judged by its response below, not by the
  // console's line about it (which does not say which one)
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });
  await page.goto(cairnd.url + "/");
  await page.fill("#token", token);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#page:not([hidden]) h1", { timeout: T });
  await page.waitForFunction(() => !document.querySelector("#page [role=status]")?.textContent.startsWith("Loading"), null, { timeout: T });
  return { ctx, page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function accessible(page, name) {
  const problems = await page.evaluate(pageProblems);
  assert.deepEqual(problems, [], `${name}: accessibility problems`);
}

async function liveOn(page) {
  await page.waitForFunction(() => document.getElementById("live-state").dataset.state === "on", null, { timeout: T });
}

describe("the web console", () => {
  it("signs in from the keyboard alone, and refuses a bad token", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(cairnd.url + "/");
    await accessible(page, "sign-in");
    await shot(page, "sign-in");
    // the token field has the focus at once; the skip link is just
    // before it
    assert.equal(await page.evaluate(() => document.activeElement.id), "token");
    await page.keyboard.press("Shift+Tab");
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "token");
    await page.keyboard.type("cairn_" + "0".repeat(64));
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("token-error").textContent.includes("not valid"), null, { timeout: T });
    assert.equal(await page.evaluate(() => document.activeElement.id), "token", "focus returns to the field");
    await page.keyboard.press("Control+A");
    await page.keyboard.type(world.student.token);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#page h1:text('Your application')", { timeout: T });
    // the token is in sessionStorage, never in the address
    assert.ok(!page.url().includes("cairn_"));
    assert.equal(await page.evaluate(() => sessionStorage.getItem("cairn.token")), world.student.token);
    // Tab reaches Sign out, and Enter on it signs out
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement.id === "sign-out")) break;
    }
    assert.equal(await page.evaluate(() => document.activeElement.id), "sign-out");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#sign-in:not([hidden])", { timeout: T });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("cairn.token")), null);
    await ctx.close();
  });

  it("student: every campus, what is missing and by when, eligibility, who has looked, and a live update", async () => {
    const me = world.student;
    // the student's counselor opens the application through the API: the
    // student's page must name that read
    await cairnd.call(me.counselorToken, "GET", `/v1/cases/${me.app}`);
    const logged = (await cairnd.call(me.token, "GET", "/v1/me/disclosures?limit=50")).disclosures
      .find((d) => d.role === "counselor" && d.case_id === me.app);
    assert.ok(logged, "the API logged the counselor's read");
    assert.equal(logged.scope, me.counselor);
    assert.equal(logged.route, "GET /v1/cases/{id}");

    const { ctx, page, errors } = await signedIn(me.token, { width: 390, height: 844 });
    const first = campusName(me.campuses[0].data.campus);
    await page.waitForSelector(`text=${first}`, { timeout: T });
    const text = await page.textContent("#page");
    for (const k of me.campuses) assert.ok(text.includes(campusName(k.data.campus)), k.data.campus);
    // what is missing, and by when (14 days after the request)
    const missing = await page.textContent("section[aria-labelledby=h-missing]");
    assert.ok(missing.includes(campusName(me.incomplete.data.campus)), missing);
    assert.match(missing, /Transcript/);
    assert.match(missing, /by /);
    // eligibility in words: what the rules decided, as the API has it
    const words = { eligible: "You qualify", ineligible: "You do not qualify", needs_review: "The office needs to check something" };
    const decided = me.aid.data.eligibility.cal_grant.detail.decisions.cal_grant_a.outcome;
    const aid = await page.textContent("section[aria-labelledby=h-aid]");
    assert.match(aid, /Cal grant a/i);
    assert.ok(aid.includes(words[decided]), `Cal Grant A is ${decided}: ${aid}`);
    // who has looked: the counselor, when, and through which route; the
    // student's own reads are counted, not listed
    const disc = page.locator("section[aria-labelledby=h-disclosures]");
    const row = disc.locator("tbody tr", { hasText: `Counselor (${me.counselor})` }).first();
    await row.waitFor({ timeout: T });
    const rowText = await row.textContent();
    assert.match(rowText, /Opened your file: Application/);
    assert.match(rowText, /GET \/v1\/cases\/\{id\}/);
    assert.equal(await row.locator("time").getAttribute("datetime"), new Date(logged.at).toISOString());
    const readers = await disc.locator("tbody tr > :nth-child(2)").allTextContents();
    assert.ok(readers.length > 0 && !readers.some((w) => w.startsWith("Student")), `the student's own reads are not listed: ${readers}`);
    assert.match(await disc.textContent(), /Your own reads are left out \([1-9]\d* of them so far\)/);
    // ten at a time; the season's staff read far more than that
    assert.equal(await disc.locator("tbody tr").count(), 10);
    await disc.locator("button:text('Show earlier reads')").click();
    await until(async () => (await disc.locator("tbody tr").count()) === 20, "ten earlier reads");
    await disc.screenshot({ path: join(ARTIFACTS, "student-disclosures.png") });
    // a phone's width: nothing wider than the screen
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
    await accessible(page, "student");
    await shot(page, "student-phone");

    // the campus that asked gets the documents: the page shows it
    // moving without a reload
    await liveOn(page);
    await page.evaluate(() => { window.__notReloaded = true; });
    const campus = me.incomplete.data.campus;
    await cairnd.call(me.token, "POST", `/v1/cases/${me.incomplete.id}/events`, { type: "submit_documents" });
    await cairnd.call(world.tk.admissions[campus], "POST", `/v1/cases/${me.incomplete.id}/events`, { type: "accept_documents" });
    await page.waitForFunction((id) => {
      const li = document.querySelector(`li[data-case="${id}"]`);
      return li && li.textContent.includes("Under review");
    }, me.incomplete.id, { timeout: T });
    assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was reloaded");
    await page.waitForFunction((t) => document.getElementById("announce").textContent.includes(t),
      `${campusName(campus)} is now Under review`, { timeout: T });
    await shot(page, "student-live-update");
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it("counselor: a stalled student's timeline, and an alert acknowledged", async () => {
    const st = world.stalled;
    const campus = campusName(st.incomplete.data.campus);
    const { ctx, page, errors } = await signedIn(st.counselorToken);
    await page.waitForSelector("text=A campus asked for more documents", { timeout: T });
    const stalled = await page.textContent("section[aria-labelledby=h-stalled]");
    assert.ok(stalled.includes(st.id), stalled);
    assert.match(stalled, /Incomplete/);
    await page.click(`section[aria-labelledby=h-stalled] button[aria-label='Open the timeline of ${st.id}']`);
    await page.waitForSelector(`#h-student:text('${st.id}: full timeline')`, { timeout: T });
    assert.equal(await page.evaluate(() => document.activeElement.id), "student-detail", "focus moves to the timeline");
    const tl = await page.textContent("#student-detail");
    assert.match(tl, /Asked for more documents/);
    assert.ok(tl.includes(campus), campus);
    await accessible(page, "counselor");
    await shot(page, "counselor");

    const alert = (await cairnd.call(st.counselorToken, "GET", "/v1/alerts?state=open&limit=500")).alerts
      .find((a) => a.kind === "documents_requested" && a.case_id === st.incomplete.id);
    assert.ok(alert && !alert.acked_at, "the season left the documents alert open");
    await page.getByRole("button", { name: `Acknowledge the ${alert.severity} alert about ${st.id}: ${alert.message}`, exact: true }).click();
    await until(async () => {
      const a = (await cairnd.call(st.counselorToken, "GET", "/v1/alerts?state=open&limit=500")).alerts.find((x) => x.id === alert.id);
      return a && a.acked_at;
    }, "the alert to be acknowledged");
    await page.waitForSelector("text=Acknowledged by", { timeout: T });
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it("aid officer: claims the next file, sees the lease, decides", async () => {
    const { ctx, page, errors } = await signedIn(world.officer);
    await page.waitForSelector("button[aria-label='Claim the next file in Isir review']", { timeout: T });
    await accessible(page, "officer queues");
    await page.click("button[aria-label='Claim the next file in Isir review']");
    await page.waitForSelector("#lease-line:text('Leased to you until')", { timeout: T });
    assert.ok((await page.textContent("#file")).includes(world.waiting.subject), "the file claimed is the one waiting");
    assert.match(await page.textContent("#file"), /52000/);
    const leased = await cairnd.call(world.officer, "GET", `/v1/cases/${world.waiting.id}`);
    assert.ok(leased.lease && leased.lease.until > Date.now(), "the API shows the lease");
    await page.click("button:text('Renew the lease')");
    await until(async () => {
      const c = await cairnd.call(world.officer, "GET", `/v1/cases/${world.waiting.id}`);
      return c.lease && c.lease.until > leased.lease.until;
    }, "the lease to be renewed");
    await accessible(page, "officer file");
    await shot(page, "officer-file");
    await page.selectOption("#decision", "review_isir");
    await page.selectOption("#choice", "package");
    await page.click("button:text('Record the decision')");
    await until(async () => (await cairnd.call(world.officer, "GET", `/v1/cases/${world.waiting.id}`)).status === "packaging",
      "the file to be packaged");
    const after = await cairnd.call(world.officer, "GET", `/v1/cases/${world.waiting.id}`);
    assert.ok(after.data.eligibility.cal_grant, "packaging decided Cal Grant");
    await page.waitForSelector("#file .pill:text('Packaging')", { timeout: T });
    await shot(page, "officer-decided");
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it("policy: edits a parameter, runs the tests, dry-runs, publishes, rolls back", async () => {
    const { ctx, page, errors } = await signedIn(world.policy);
    const live0 = (await cairnd.call(world.policy, "GET", "/v1/rules/cal_grant/versions")).live;
    await page.click("button[aria-label='Open the rule set Cal grant']");
    await page.waitForSelector("#rule-text", { timeout: T });
    await page.selectOption("#rule-file", "params/2025-26.yaml");
    const original = await page.inputValue("#rule-text");
    assert.match(original, /family_size: 3, a_c: 109800/);
    // a change that moves decisions: the tests catch it, the dry run counts it
    await page.fill("#rule-text", original.replace("family_size: 3, a_c: 109800", "family_size: 3, a_c: 39000"));
    await page.click("button:text('Run the tests')");
    await page.waitForSelector("#test-report :text('tests failed')", { timeout: T });
    await page.click("button:text('Dry run against stored cases')");
    await page.waitForSelector("#dry-report", { timeout: T });
    const dry = await page.textContent("#dry-report");
    assert.match(dry, /would change/);
    // policy staff see why (the reason's code), not the student's income
    assert.match(dry, /Income over ceiling \(the values are hidden from your role\)/);
    assert.doesNotMatch(dry, /\$40000/);
    await accessible(page, "policy");
    await shot(page, "policy-dry-run");
    // a change that keeps every test: published, then rolled back
    await page.fill("#rule-text", original.replace("# Rows from the largest family down", "# Rows from the largest family down (checked in the console)"));
    await page.click("button:text('Run the tests')");
    await page.waitForSelector("#test-report :text('tests passed')", { timeout: T });
    await page.click("button:text('Publish')");
    await page.waitForSelector("#report :text('Published')", { timeout: T });
    const live1 = (await cairnd.call(world.policy, "GET", "/v1/rules/cal_grant/versions")).live;
    assert.notEqual(live1, live0, "a new version is live");
    const files = await cairnd.call(world.policy, "GET", "/v1/rules/cal_grant/files");
    assert.match(files.files["params/2025-26.yaml"], /checked in the console/);
    await page.click("button:text('Roll back to the previous version')");
    await page.waitForSelector("#report :text('Rolled back')", { timeout: T });
    const live2 = (await cairnd.call(world.policy, "GET", "/v1/rules/cal_grant/versions")).live;
    assert.equal(live2, live0, "the first version is live again");
    await shot(page, "policy-rolled-back");
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it("admin: redrives a dead letter, creates a token, sees metrics and a workflow drawn", async () => {
    // the campus calls went to a closed port with one attempt each
    await until(async () => {
      const a = (await cairnd.call(cairnd.admin, "GET", "/v1/adapters")).adapters.find((x) => x.name === "uc_campus");
      return a && a.dead_letters > 0;
    }, "uc_campus to have dead letters", 60000);
    const { ctx, page, errors } = await signedIn(cairnd.admin);
    await page.waitForSelector("svg[role=img]", { timeout: T });
    assert.ok(await page.$$eval("svg .node", (n) => n.length) >= 5, "the statuses are drawn");
    assert.match(await page.textContent("section[aria-labelledby=h-metrics]"), /Requests served/);
    await page.waitForSelector("button[aria-label='Redrive the dead letters of uc_campus']:not([disabled])", { timeout: T });
    await accessible(page, "admin");
    await shot(page, "admin");
    await page.click("button[aria-label='Redrive the dead letters of uc_campus']");
    await page.waitForSelector("#redrive-result", { timeout: T });
    assert.match(await page.textContent("#redrive-result"), /[1-9]\d* dead letter\(s\) of uc_campus are due again/);

    await page.selectOption("#new-role", "student");
    await page.fill("#new-scope", "S-2001");
    await page.fill("#new-label", "Made in the console");
    await page.click("#token-form button[type=submit]");
    await page.waitForSelector("#new-token", { timeout: T });
    const made = (await page.textContent("#new-token")).trim();
    const who = await cairnd.call(made, "GET", "/v1/whoami");
    assert.equal(who.role, "student");
    assert.equal(who.scope, "S-2001");
    const listed = (await cairnd.call(cairnd.admin, "GET", "/v1/tokens")).tokens.find((x) => x.id === who.token_id);
    assert.equal(listed.label, "Made in the console");
    // the new token in another tab: revoked, that tab signs itself out
    const other = await signedIn(made);
    await liveOn(other.page);
    await cairnd.call(cairnd.admin, "DELETE", `/v1/tokens/${who.token_id}`, undefined, 204);
    await other.page.waitForSelector("#sign-in:not([hidden])", { timeout: T });
    assert.match(await other.page.textContent("#token-error"), /revoked/);
    assert.equal(await other.page.evaluate(() => sessionStorage.getItem("cairn.token")), null);
    await other.ctx.close();
    await page.selectOption("#wf-pick", "campus_application");
    await page.waitForSelector("svg title:text('Workflow campus_application')", { state: "attached", timeout: T });
    await shot(page, "admin-workflow");
    assert.deepEqual(errors, []);
    await ctx.close();
  });
});
