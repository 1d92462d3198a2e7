// Pull (/sync/changes) into IndexedDB and push the outbox (/sync/batch, tus, case moves),
// with client_sync's rules (client_sync/push.py):
//   no connection, 408, 429, 5xx   -> ready again after full-jitter backoff (>= Retry-After)
//   401                            -> everything kept; back to the login page
//   409 dependency_missing         -> retried after a backoff; refused after 8 tries
//   other 4xx                      -> refused, with the server's problem; its dependants wait
import { api, errorFor, nextDelay } from "./api.js";
import { db, getMeta, setMeta } from "./db.js";
import { isDue, listOutbox, update } from "./outbox.js";
import { uploadPhoto } from "./photos.js";

const MAX_BATCH = 200;
const MAX_DEPENDENCY_TRIES = 8;
const MAX_RECORD_SERVER_ERRORS = 5;
const GIVE_UP_AFTER_TRANSIENT = 3;
const PHOTO_WORKERS = 2;

export const progress = new Map(); // photo client_uuid -> fraction sent (this session)
const inFlight = new Map(); // photo client_uuid -> promise
let running = null;
let again = false;
let timer = null;
let onAuthLost = () => {};
let batchKinds = ["household", "visit", "report"];

export function configure({ authLost, kinds }) {
  if (authLost) onAuthLost = authLost;
  if (kinds) batchKinds = kinds;
}

/** Pull every page of changes since the kept cursor; apply each page with its cursor. */
export async function pull() {
  let cursor = await getMeta("cursor");
  for (;;) {
    const since = cursor ? `&since=${encodeURIComponent(cursor)}` : "";
    const page = await api("GET", `/sync/changes?limit=500${since}`);
    const tx = (await db()).transaction(["households", "reports", "categories", "meta"],
      "readwrite");
    const stores = { household: "households", report: "reports", category: "categories" };
    if (page.reset) {
      for (const name of Object.values(stores)) tx.objectStore(name).clear();
    }
    for (const change of page.changes) {
      const name = stores[change.kind];
      if (!name) continue;
      if (change.op === "delete") tx.objectStore(name).delete(change.id);
      else if (change.kind === "category") tx.objectStore(name).put({ ...change.data, code: change.id });
      else tx.objectStore(name).put({ ...change.data, id: change.id });
    }
    tx.objectStore("meta").put(page.next_cursor, "cursor");
    if (!page.has_more) tx.objectStore("meta").put(new Date().toISOString(), "pulled_at");
    await tx.done;
    cursor = page.next_cursor;
    if (!page.has_more) return;
  }
}

/** Push whatever is due, now or when the running pass ends. */
export function pushSoon() {
  if (!navigator.onLine) return Promise.resolve(); // the "online" event pushes
  if (running) { again = true; return running; }
  running = (async () => {
    try {
      do { again = false; await pushPass(); } while (again);
    } finally {
      running = null;
      schedule();
      window.dispatchEvent(new CustomEvent("push-idle"));
    }
  })();
  return running;
}

async function schedule() {
  clearTimeout(timer);
  const records = await listOutbox();
  const byId = new Map(records.map((r) => [r.client_uuid, r]));
  const times = records.filter((r) => r.state === "ready"
    && r.deps.every((d) => (byId.get(d) || {}).state === "done")).map((r) => r.next_at);
  if (!times.length) return;
  const wait = Math.max(0, Math.min(...times) - Date.now());
  timer = setTimeout(() => { if (navigator.onLine) pushSoon(); }, Math.min(wait + 50, 2 ** 31 - 1));
}

async function pushPass() {
  const state = { streak: 0, stop: false };
  while (!state.stop) {
    const records = await listOutbox();
    const byId = new Map(records.map((r) => [r.client_uuid, r]));
    const now = Date.now();
    const due = records.filter((r) => isDue(r, byId, now) && !inFlight.has(r.client_uuid));
    for (const photo of due.filter((r) => r.kind === "photo")) {
      if (inFlight.size >= PHOTO_WORKERS) break;
      inFlight.set(photo.client_uuid, pushPhoto(photo, state)
        .finally(() => inFlight.delete(photo.client_uuid)));
    }
    const batch = due.filter((r) => batchKinds.includes(r.kind)).slice(0, MAX_BATCH);
    if (batch.length) { await pushBatch(batch, state); continue; }
    const move = due.find((r) => r.kind === "move");
    if (move) { await pushMove(move, state); continue; }
    if (!inFlight.size) return;
    await Promise.race(inFlight.values());
  }
  await Promise.allSettled(inFlight.values());
}

async function pushPhoto(rec, state) {
  try {
    const id = await uploadPhoto(rec, { onProgress: (sent, total) => {
      progress.set(rec.client_uuid, total ? sent / total : 0);
      window.dispatchEvent(new CustomEvent("photo-progress"));
    } });
    await update({ [rec.client_uuid]: { state: "done", server_id: id, problem: null } });
    state.streak = 0;
  } catch (error) {
    await update({ [rec.client_uuid]: settle(rec, error, state) });
  }
}

async function pushBatch(batch, state) {
  const body = { records: batch.map((r) => ({ kind: r.kind, client_uuid: r.client_uuid,
    body: r.body })) };
  let answer;
  try {
    answer = await api("POST", "/sync/batch", { json: body });
  } catch (error) {
    const updates = {};
    const named = error.status === 422 ? namedRecords(error) : null;
    batch.forEach((r, i) => {
      if (named && named.has(i)) {
        updates[r.client_uuid] = failed(r, { ...error.problem, errors: named.get(i) });
      } else {
        updates[r.client_uuid] = settle(r, named ? errorFor(503, null) : error, state, false);
      }
    });
    await update(updates);
    return;
  }
  const results = new Map((answer.results || []).map((r) => [r.client_uuid, r]));
  const updates = {};
  for (const rec of batch) {
    const result = results.get(rec.client_uuid);
    if (!result) { updates[rec.client_uuid] = settle(rec, errorFor(503, null), state, false); continue; }
    if (result.status >= 200 && result.status < 300) {
      updates[rec.client_uuid] = { state: "done", server_id: result.id, problem: null };
    } else {
      updates[rec.client_uuid] = settle(rec, errorFor(result.status, result.problem), state,
        true, true);
    }
  }
  state.streak = 0;
  await update(updates);
}

function namedRecords(error) {
  const found = ((error.problem || {}).errors || {}).records;
  if (!found || typeof found !== "object") return null;
  const named = new Map();
  for (const [key, value] of Object.entries(found)) if (/^\d+$/.test(key)) named.set(Number(key), value);
  return named.size ? named : null;
}

async function pushMove(rec, state) {
  try {
    const result = await api("POST", `/reports/${rec.report_id}/transitions`, { json: rec.body });
    await update({ [rec.client_uuid]: { state: "done", server_id: (result.step || {}).id || null,
      problem: null } });
    state.streak = 0;
    const tx = (await db()).transaction("reports", "readwrite");
    const report = await tx.store.get(rec.report_id);
    if (report) await tx.store.put({ ...report, status: result.status, version: result.version });
    await tx.done;
  } catch (error) {
    await update({ [rec.client_uuid]: settle(rec, error, state) });
  }
}

function failed(rec, problem) {
  return { state: "failed", attempts: rec.attempts + 1, problem: problem || { title: "refused" } };
}

/** The fields of `rec` after `error` (see the table at the top). */
function settle(rec, error, state, streak = true, ownAnswer = false) {
  if (error.authRequired) {
    state.stop = true;
    onAuthLost(error);
    return {};
  }
  if (error.dependencyMissing && rec.attempts + 1 < MAX_DEPENDENCY_TRIES) return retryLater(rec, error);
  const serverFault = ownAnswer && error.status >= 500 && rec.attempts + 1 >= MAX_RECORD_SERVER_ERRORS;
  if (!error.transient || serverFault) return failed(rec, error.problem || { title: error.message });
  if (streak) {
    state.streak += 1;
    if (state.streak >= GIVE_UP_AFTER_TRANSIENT) state.stop = true;
  }
  return retryLater(rec, error);
}

function retryLater(rec, error) {
  let delay = nextDelay(rec.attempts);
  if (error.retryAfter !== null && error.retryAfter !== undefined) delay = Math.max(delay, error.retryAfter);
  return { state: "ready", attempts: rec.attempts + 1, next_at: Date.now() + delay * 1000,
    problem: error.problem || { title: error.message } };
}
