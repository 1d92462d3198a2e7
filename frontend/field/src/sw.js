// The field app's service worker: keeps the shell so the app opens with no signal.
// The bundle, worker, stylesheet and icons are versioned (cache first); the shell page, the
// strings and the settings are served from the cache at once and refreshed behind it
// (stale-while-revalidate). The API is never cached here: the app keeps its data in IndexedDB.
/* global __PRECACHE__, __VERSION__ */
const VERSION = __VERSION__;
const PRECACHE = __PRECACHE__;
const CACHE = `gridwork-field-${VERSION}`;
const REFRESHED = new Set(["/field/", "/field/manifest.webmanifest", "/field/config.json",
  "/field/i18n/zh-CN.json", "/field/i18n/en.json"]);

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("gridwork-field-") && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

function refresh(cache, request) {
  return fetch(request).then((response) => {
    if (response.ok) cache.put(request, response.clone());
    return response;
  });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith("/field/")) return;
  if (url.pathname === "/field/sw.js") return;
  const isPage = request.mode === "navigate";
  const key = isPage ? "/field/" : url.pathname + url.search;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(key);
    if (cached) {
      if (REFRESHED.has(key)) event.waitUntil(refresh(cache, key).catch(() => undefined));
      return cached;
    }
    return fetch(request);
  })());
});
