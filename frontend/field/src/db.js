// The phone's store (IndexedDB through idb): pulled data, the outbox, photo bytes, uploads.
import { openDB } from "idb";

export const DB_NAME = "gridwork-field";

let opening = null;

export function db() {
  if (!opening) {
    opening = openDB(DB_NAME, 1, {
      upgrade(store) {
        store.createObjectStore("meta");
        store.createObjectStore("households", { keyPath: "id" });
        store.createObjectStore("reports", { keyPath: "id" });
        store.createObjectStore("categories", { keyPath: "code" });
        store.createObjectStore("timelines", { keyPath: "id" });
        const outbox = store.createObjectStore("outbox", { keyPath: "client_uuid" });
        outbox.createIndex("seq", "seq");
        store.createObjectStore("blobs");   // photo bytes, by the photo's client_uuid
        store.createObjectStore("uploads"); // tus resume state, by fingerprint
      },
    });
  }
  return opening;
}

export async function getMeta(key) {
  return (await db()).get("meta", key);
}

export async function setMeta(key, value) {
  return (await db()).put("meta", value, key);
}

export async function delMeta(key) {
  return (await db()).delete("meta", key);
}

export async function all(store) {
  return (await db()).getAll(store);
}

export async function get(store, key) {
  return (await db()).get(store, key);
}

/** A UUID4 made here (crypto.randomUUID needs https; getRandomValues does not). */
export function uuid4() {
  if (self.crypto && crypto.randomUUID && self.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
