// api.js: the console's only way to the server: the public API, with the
// signed-in person's token in the Authorization header (never in a URL).
// The token lives in sessionStorage, so it is gone when the tab closes.

const KEY = "cairn.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

// An error from the API: the problem+json's detail for a person, and the
// status and type for code.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// Calls the API. body (an object) is sent as JSON. Resolves to the parsed
// reply, or null for 204; rejects with ApiError.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: "application/json" };
  const t = opts.token || token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new ApiError(0, { detail: "Cairn cannot be reached. Check the connection and try again." });
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      parsed = { detail: text };
    }
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

export const get = (p, o) => api("GET", p, undefined, o);
export const post = (p, b, o) => api("POST", p, b === undefined ? {} : b, o);
export const postEmpty = (p, o) => api("POST", p, undefined, o);
export const put = (p, b, o) => api("PUT", p, b, o);
export const del = (p, o) => api("DELETE", p, undefined, o);

// Every page of a keyset listing (GET /v1/cases), up to max items.
export async function all(path, member, max = 1000) {
  const out = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    out.push(...(page[member] || []));
    cursor = page.next;
  } while (cursor && out.length < max);
  return out;
}
