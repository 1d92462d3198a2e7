// Photos: shrunk in a worker (createImageBitmap + OffscreenCanvas), sent over tus in 512 KB
// chunks; the upload's address is kept in IndexedDB under the photo's client_uuid, so a
// cut connection or a closed tab resumes from the server's offset.
import { Upload } from "tus-js-client";
import { errorFor, retryAfterSeconds, SyncError } from "./api.js";
import { db, getMeta } from "./db.js";

export const MAX_SIDE = 2048;
export const QUALITY = 0.85;
export const CHUNK_SIZE = 512 * 1024;

let worker = null;
const waiting = new Map();
let nextId = 0;

function shrinkWorker() {
  if (!worker) {
    worker = new Worker(document.body.dataset.worker);
    worker.onmessage = ({ data }) => {
      const done = waiting.get(data.id);
      waiting.delete(data.id);
      if (data.error) done.reject(new Error(data.error)); else done.resolve(data);
    };
  }
  return worker;
}

/** Start the worker now (while online), so the first photo of an offline tab needs nothing. */
export function warmUp() {
  shrinkWorker();
}

/** A photo as the phone will send it: {blob, width, height, kept}. */
export function shrink(file) {
  nextId += 1;
  const id = nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    shrinkWorker().postMessage({ id, file, max: MAX_SIDE, quality: QUALITY });
  });
}

// tus-js-client's urlStorage, in IndexedDB (its own default is localStorage).
export const uploadStore = {
  async findAllUploads() {
    return (await db()).getAll("uploads");
  },
  async findUploadsByFingerprint(fingerprint) {
    const found = await (await db()).get("uploads", fingerprint);
    return found ? [found] : [];
  },
  async removeUpload(key) {
    await (await db()).delete("uploads", key);
  },
  async addUpload(fingerprint, upload) {
    await (await db()).put("uploads", { ...upload, urlStorageKey: fingerprint }, fingerprint);
    return fingerprint;
  },
};

function uploadError(error) {
  const response = error && error.originalResponse;
  if (!response) return new SyncError(String(error && error.message || error), { status: 0 });
  let problem = null;
  try { problem = JSON.parse(response.getBody() || "null"); } catch { problem = null; }
  const status = response.getStatus();
  // 460: a chunk damaged on the way; 404/410: the server lost the upload (it starts again).
  const transient = status === 460 || status === 404 || status === 410;
  return errorFor(transient ? 503 : status, problem,
    retryAfterSeconds(response.getHeader("Retry-After")));
}

/** Upload (or resume) one outbox photo; resolve to the server's photo id. */
export async function uploadPhoto(rec, { onProgress, signal } = {}) {
  const blob = await (await db()).get("blobs", rec.client_uuid);
  if (!blob) throw new SyncError("photo bytes missing on the phone", { status: 422 });
  const token = await getMeta("token");
  return new Promise((resolve, reject) => {
    let photoId = null;
    const upload = new Upload(blob, {
      endpoint: `${location.origin}/api/v1/uploads/`,
      chunkSize: CHUNK_SIZE,
      retryDelays: null, // the outbox retries, with full-jitter backoff
      metadata: { filename: `${rec.client_uuid}.jpg`, content_type: blob.type || "image/jpeg",
        client_uuid: rec.client_uuid },
      headers: { Authorization: `Bearer ${token}` },
      fingerprint: () => Promise.resolve(`photo:${rec.client_uuid}`),
      urlStorage: uploadStore,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => onProgress && onProgress(sent, total),
      onAfterResponse: (_req, res) => {
        const id = res.getHeader("Photo-Id");
        if (id) photoId = id;
      },
      onSuccess: () => resolve(photoId || rec.client_uuid),
      onError: (error) => reject(uploadError(error)),
    });
    if (signal) signal.addEventListener("abort", () => upload.abort(false));
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
}
