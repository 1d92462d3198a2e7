// The outbox: every record a worker captures, in IndexedDB before the screen says "saved".
// A record moves ready -> done | failed (as client_sync's Outbox; "in flight" lives only in
// memory, so a closed tab simply finds it ready again). A record is due when it is ready,
// its backoff has passed and every record it depends on (its photos, its household) is done.
import { db } from "./db.js";

let lastSeq = 0;
function nextSeq() {
  lastSeq = Math.max(Date.now() * 1000, lastSeq + 1);
  return lastSeq;
}

export function changed() {
  window.dispatchEvent(new CustomEvent("outbox-changed"));
}

/**
 * Store records (and the bytes of their photos) in one transaction; resolve when it is
 * durable. Each record: {kind, client_uuid, body, deps, label, blob?, report_id?}.
 */
export async function queue(records) {
  const store = await db();
  const tx = store.transaction(["outbox", "blobs"], "readwrite");
  const now = new Date().toISOString();
  for (const rec of records) {
    const { blob, ...row } = rec;
    if (blob) tx.objectStore("blobs").put(blob, rec.client_uuid);
    tx.objectStore("outbox").add({ deps: [], label: "", ...row, seq: nextSeq(), created_at: now,
      state: "ready", attempts: 0, next_at: 0, problem: null, size: blob ? blob.size : 0 });
  }
  await tx.done;
  changed();
}

export async function listOutbox() {
  return (await db()).getAllFromIndex("outbox", "seq");
}

/** Records held back by a refused or discarded parent, directly or through a chain. */
export function heldSet(records) {
  const byId = new Map(records.map((r) => [r.client_uuid, r]));
  const held = new Set();
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of records) {
      if (r.state === "done" || held.has(r.client_uuid)) continue;
      const stuck = r.deps.some((d) => {
        const parent = byId.get(d);
        return !parent || parent.state === "failed" || held.has(d);
      });
      if (stuck) { held.add(r.client_uuid); grew = true; }
    }
  }
  return held;
}

export function isDue(rec, byId, now) {
  return rec.state === "ready" && rec.next_at <= now
    && rec.deps.every((d) => (byId.get(d) || {}).state === "done");
}

export async function summary() {
  const records = await listOutbox();
  const waiting = records.filter((r) => r.state !== "done");
  return { waiting: waiting.length, failed: waiting.filter((r) => r.state === "failed").length,
    held: heldSet(records).size, records };
}

/** Apply `updates` ({client_uuid: fields}) in one transaction. */
export async function update(updates) {
  const tx = (await db()).transaction(["outbox", "blobs"], "readwrite");
  const outbox = tx.objectStore("outbox");
  for (const [uuid, fields] of Object.entries(updates)) {
    const row = await outbox.get(uuid);
    if (!row) continue;
    Object.assign(row, fields);
    await outbox.put(row);
    if (row.state === "done" && row.kind === "photo") await tx.objectStore("blobs").delete(uuid);
  }
  await tx.done;
  changed();
}

export async function retry(uuid) {
  await update({ [uuid]: { state: "ready", attempts: 0, next_at: 0, problem: null } });
}

export async function discard(uuid) {
  const tx = (await db()).transaction(["outbox", "blobs", "uploads"], "readwrite");
  const row = await tx.objectStore("outbox").get(uuid);
  if (row && row.state !== "done") {
    await tx.objectStore("outbox").delete(uuid);
    await tx.objectStore("blobs").delete(uuid);
    await tx.objectStore("uploads").delete(`photo:${uuid}`);
  }
  await tx.done;
  changed();
}

/** Every waiting record due at once (the worker asked to send now). */
export async function dueNow() {
  const records = await listOutbox();
  const updates = {};
  for (const r of records) if (r.state === "ready" && r.next_at > 0) updates[r.client_uuid] = { next_at: 0 };
  if (Object.keys(updates).length) await update(updates);
}

export async function photoBlob(uuid) {
  return (await db()).get("blobs", uuid);
}

/** Forget records sent more than `days` ago (none a waiting record still depends on). */
export async function prune(days = 14) {
  const records = await listOutbox();
  const needed = new Set(records.filter((r) => r.state !== "done").flatMap((r) => r.deps));
  const before = new Date(Date.now() - days * 86400000).toISOString();
  const old = records.filter((r) => r.state === "done" && r.created_at < before
    && !needed.has(r.client_uuid));
  if (!old.length) return 0;
  const tx = (await db()).transaction(["outbox", "blobs"], "readwrite");
  for (const r of old) {
    tx.objectStore("outbox").delete(r.client_uuid);
    tx.objectStore("blobs").delete(r.client_uuid);
  }
  await tx.done;
  return old.length;
}
