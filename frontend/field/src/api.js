// The JSON API with the worker's bearer token; every failure sorted as client_sync sorts it.
import { getMeta } from "./db.js";

export class SyncError extends Error {
  constructor(message, { status = 0, problem = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
  /** No connection, a timeout, 408, 429 or 5xx: try again later. */
  get transient() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
  get authRequired() {
    return this.status === 401;
  }
  get dependencyMissing() {
    return this.status === 409 && /dependency_missing$/.test((this.problem || {}).type || "");
  }
}

export function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

export function errorFor(status, problem, retryAfter = null) {
  const text = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
  return new SyncError(text, { status, problem, retryAfter });
}

/** Call the API; resolve to the JSON answer, reject with a SyncError. */
export async function api(method, path, { json, token, timeoutMs = 30000 } = {}) {
  const bearer = token === undefined ? await getMeta("token") : token;
  const headers = { Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, signal: abort.signal,
      body: json === undefined ? undefined : JSON.stringify(json), cache: "no-store" });
  } catch (error) {
    throw new SyncError(String(error && error.message || error), { status: 0 });
  } finally {
    clearTimeout(timer);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = errorFor(response.status, body,
      retryAfterSeconds(response.headers.get("Retry-After")));
    error.token = bearer; // a 401 ends this login only, not one made since
    throw error;
  }
  return body;
}

/** Full jitter: uniform(0, min(cap, base * 2**attempt)) seconds (client_sync.backoff). */
export function nextDelay(attempt, base = 2, cap = 900) {
  return Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 64));
}
