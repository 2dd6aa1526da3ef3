// harness.mjs: what the console's end-to-end tests stand on: a cairnd
// started on a free port in a fresh directory (the example workflows,
// rules and campuses; adapters pointed at a closed port with one attempt,
// so their calls dead-letter at once), seeded through the public API, and
// headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.

import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD = process.env.CAIRN_BUILD_DIR || join(ROOT, "build");
export const ARTIFACTS = join(BUILD, "e2e-artifacts");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns something truthy (the machine is shared and
// slow at times: generous limits, never a fixed sleep).
export async function until(fn, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await sleep(200);
  }
}

export class Cairnd {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), "cairn-e2e-"));
    const adapters = join(this.dir, "adapters");
    mkdirSync(adapters);
    for (const f of readdirSync(join(ROOT, "examples/adapters"))) {
      if (!f.endsWith(".yaml")) continue;
      const text = readFileSync(join(ROOT, "examples/adapters", f), "utf8")
        .replace(/^base_url: http:\/\/127\.0\.0\.1:\d+/m, "base_url: http://127.0.0.1:9")
        .replace(/^retry: .*$/m, "retry: {max_attempts: 1, initial: 1s, max: 1s, multiplier: 1, jitter: 0}");
      writeFileSync(join(adapters, f), text);
    }
    copyFileSync(join(ROOT, "examples/campuses.yaml"), join(this.dir, "campuses.yaml"));
    this.cfg = join(this.dir, "cairnd.yaml");
    writeFileSync(this.cfg, [
      "listen: 127.0.0.1:0",
      `database: ${join(this.dir, "cairn.db")}`,
      "definitions:",
      `  workflows: [${join(ROOT, "examples/workflows")}]`,
      `  rules: [${join(ROOT, "examples/rules")}]`,
      `  adapters: [${adapters}]`,
      `  campuses: ${join(this.dir, "campuses.yaml")}`,
      "log_level: info",
      "",
    ].join("\n"));
    this.log = "";
    this.proc = spawn(join(BUILD, "cairnd"), ["-c", this.cfg], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout.on("data", (d) => { this.log += d; });
    this.proc.stderr.on("data", (d) => { this.log += d; });
    this.exited = new Promise((r) => this.proc.on("exit", (code, sig) => r({ code, sig })));
    const port = await until(() => {
      const m = /"port":(\d+)/.exec(this.log);
      return m && Number(m[1]);
    }, "cairnd to listen", 60000);
    this.url = `http://127.0.0.1:${port}`;
    this.admin = await until(() => readFileSync(join(this.dir, "admin.token"), "utf8").trim(), "the admin token");
    await until(async () => (await fetch(`${this.url}/healthz`)).ok, "/healthz");
    return this;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 10000);
      const r = await this.exited;
      clearTimeout(t);
      this.exit = r;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  // One API call; resolves to {status, body}; throws unless status is
  // in want (a number or an array).
  async call(token, method, path, body, want = [200, 201, 204]) {
    const res = await fetch(this.url + path, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : null;
    const ok = Array.isArray(want) ? want.includes(res.status) : res.status === want;
    if (!ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return parsed;
  }

  async token(role, scope, label) {
    const r = await this.call(this.admin, "POST", "/v1/tokens", { role, ...(scope ? { scope } : {}), label: label || role }, 201);
    return r.token;
  }
}

export const STUDENT_DATA = {
  dependency: "dependent", married: false, has_dependents: false, family_size: 3,
  income: 40000, assets: 0, hs_gpa: 3.5, college_gpa: null, ca_resident: true,
  ab540: false, citizenship: "citizen", segment: "uc", program_months: 24,
  application_date: "2025-03-01",
};

// The demo season (tools/demo.c, README "The demo season"): cairn-demo
// --url plays a season through this cairnd's API (students applying to
// campuses, ISIRs matched to their aid files, campuses asking for
// documents and deciding, aid officers working the queues, a policy
// change published and rolled back) and writes its people's tokens
// (--tokens) and its figures (--summary). The adapters point at a closed
// port, so every campus call dead-letters: the admin has something to
// redrive. Returns {tokens, summary, seconds}.
export async function season(c, students) {
  const tokensFile = join(c.dir, "season-tokens.json");
  const summaryFile = join(c.dir, "season-summary.json");
  const t0 = Date.now();
  const proc = spawn(join(BUILD, "cairn-demo"), ["--url", c.url, "--token", c.admin, "--students", String(students),
    "--tokens", tokensFile, "--summary", summaryFile], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d) => { out += d; });
  proc.stderr.on("data", (d) => { out += d; });
  const killer = setTimeout(() => proc.kill("SIGKILL"), 120000);
  const { code, sig } = await new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`cairn-demo exited ${code ?? sig}:\n${out.slice(-3000)}`);
  return {
    tokens: JSON.parse(readFileSync(tokensFile, "utf8")),
    summary: JSON.parse(readFileSync(summaryFile, "utf8")),
    seconds: (Date.now() - t0) / 1000,
  };
}

// "csu-san-diego" -> "CSU San Diego", as the console writes a campus.
export function campusName(id) {
  const [head, ...rest] = id.split("-");
  const words = rest.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join(" ");
  return ["uc", "csu", "ccc"].includes(head) ? `${head.toUpperCase()} ${words}` : id;
}
