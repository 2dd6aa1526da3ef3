// live.js: live updates from GET /v1/stream (Server-Sent Events), read
// with fetch() and a ReadableStream so the token travels in the
// Authorization header: EventSource cannot send headers, and a token
// must never be put in a URL. Reconnects with a growing pause; after a
// reconnect the page reloads its data, since events missed meanwhile are
// not replayed.

import { token } from "./api.js";

export class Live {
  constructor({ onEvent, onState, onReconnect, onRevoked }) {
    this.onEvent = onEvent;
    this.onRevoked = onRevoked || (() => {});
    this.onState = onState || (() => {});
    this.onReconnect = onReconnect || (() => {});
    this.abort = null;
    this.stopped = false;
    this.delay = 1000;
    this.connectedOnce = false;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
    this.onState("off");
  }

  async loop() {
    while (!this.stopped) {
      const ok = await this.once();
      if (this.stopped || ok === "final") break;
      this.onState("reconnecting");
      await new Promise((r) => setTimeout(r, this.delay));
      this.delay = Math.min(this.delay * 2, 30000);
    }
  }

  // One connection; resolves when it ends. "final" means do not retry.
  async once() {
    this.abort = new AbortController();
    let res;
    try {
      res = await fetch("/v1/stream", {
        headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" },
        signal: this.abort.signal,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      return "retry";
    }
    if (res.status === 401 || res.status === 403) {
      this.onState("unavailable");
      return "final";
    }
    if (!res.ok || !res.body) return "retry";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const ev = parse(block);
          if (ev) this.dispatch(ev);
        }
      }
    } catch (e) {
      // aborted or cut off: the loop decides
    }
    return this.finalReason ? "final" : "retry";
  }

  dispatch(ev) {
    if (ev.event === "ready") {
      this.delay = 1000;
      this.onState("on");
      if (this.connectedOnce) this.onReconnect();
      this.connectedOnce = true;
      return;
    }
    if (ev.event === "revoked") {
      this.finalReason = "revoked";
      this.onState("unavailable");
      this.onRevoked();
      return;
    }
    if (ev.event === "shutdown") {
      this.onState("reconnecting");
      return;
    }
    if (ev.event === "case" && ev.data) {
      try {
        this.onEvent(JSON.parse(ev.data));
      } catch (e) {
        // a malformed event is skipped; the next reload corrects the page
      }
    }
  }
}

// One event block: "event:", "data:" (joined by newlines), "id:";
// comment lines (heartbeats) give null.
export function parse(block) {
  let event = "message";
  const data = [];
  let seen = false;
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") { event = value; seen = true; }
    else if (field === "data") { data.push(value); seen = true; }
  }
  return seen ? { event, data: data.join("\n") } : null;
}
