// The JSON API, called from the page. The API key (when the API has keys) is kept in this
// tab's sessionStorage and sent as "Authorization: Bearer"; no cookie is ever used, so no
// other site can make the browser act with it (no CSRF surface).
//
// GETs are conditional: the ETag of the last answer goes out as If-None-Match, and a 304
// means "unchanged", so a page polling an idle queue receives a few hundred bytes.

const KEY_ITEM = "taskq.apiKey";
// The page is served at <root>/ui/, so the API's root is one level up (this also holds
// behind a proxy that serves the API under a path).
const ROOT = new URL("..", document.baseURI);
const MAX_REMEMBERED = 64; // answers kept for conditional requests, least recent dropped
// A request that has no answer by then counts as unreachable (an API process that hangs must
// not freeze the page; the API itself answers 503 within about a second when Redis hangs).
const TIMEOUT_MS = 10000;

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** 401: no key, or a key the API does not accept. */
export class Unauthorized extends ApiError {}

/** The API could not be reached at all (network error). */
export class Unreachable extends Error {}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_ITEM),
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

const remembered = new Map(); // path -> {etag, data}

/** Forget every remembered answer (after the key changes: nothing shown from before). */
export function forgetAnswers() {
  remembered.clear();
}

function headers(extra) {
  const all = { Accept: "application/json", ...extra };
  const key = apiKey.get();
  if (key) all.Authorization = `Bearer ${key}`;
  return all;
}

async function call(method, path, { body, signal, extra } = {}) {
  const init = {
    method,
    headers: headers(extra),
    cache: "no-store", // the page keeps its own ETags; a 304 reaches this code as a 304
    credentials: "omit", // never cookies
    signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)])
      : AbortSignal.timeout(TIMEOUT_MS),
  };
  if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = "application/json";
  }
  try {
    return await fetch(new URL(path, ROOT), init);
  } catch (err) {
    if (err.name === "TimeoutError") throw new Unreachable(`no answer within ${TIMEOUT_MS / 1000} s`);
    if (err.name === "AbortError") throw err;
    throw new Unreachable(err.message || String(err));
  }
}

async function failure(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  const Kind = response.status === 401 ? Unauthorized : ApiError;
  return new Kind(response.status, problem);
}

/** GET a JSON document: {data, changed}; changed is false when the API answered 304. */
export async function get(path, signal) {
  const known = remembered.get(path);
  const extra = known && known.etag ? { "If-None-Match": known.etag } : {};
  const response = await call("GET", path, { signal, extra });
  if (response.status === 304 && known) {
    remembered.delete(path); // re-inserted: the most recently used
    remembered.set(path, known);
    return { data: known.data, changed: false };
  }
  if (!response.ok) throw await failure(response);
  const data = await response.json();
  remembered.delete(path);
  remembered.set(path, { etag: response.headers.get("ETag"), data });
  while (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value);
  return { data, changed: true };
}

/** POST a JSON body (given as JSON text, or undefined for none): {status, data}. */
export async function post(path, bodyText, signal) {
  const response = await call("POST", path, { body: bodyText, signal });
  if (!response.ok) throw await failure(response);
  return { status: response.status, data: await response.json() };
}

/** A path segment, escaped. */
export const seg = encodeURIComponent;
