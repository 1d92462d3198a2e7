// Where the phone is: the Geolocation API (WGS-84), watched while the app is open.
let last = null;
let watching = null;
const listeners = new Set();

export function here() {
  return last;
}

export function onFix(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function watch() {
  if (watching !== null || !navigator.geolocation) return;
  watching = navigator.geolocation.watchPosition((pos) => {
    last = { lat: pos.coords.latitude, lon: pos.coords.longitude,
      accuracy_m: Math.round(pos.coords.accuracy * 10) / 10, at: pos.timestamp };
    for (const listener of listeners) listener(last);
  }, () => {
    for (const listener of listeners) listener(last);
  }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 });
}

/** A fix no older than `maxAgeMs`, asking the phone once more if needed (null: none). */
export function currentFix(maxAgeMs = 120000) {
  if (last && Date.now() - last.at <= maxAgeMs) return Promise.resolve(last);
  if (!navigator.geolocation) return Promise.resolve(last);
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition((pos) => {
      last = { lat: pos.coords.latitude, lon: pos.coords.longitude,
        accuracy_m: Math.round(pos.coords.accuracy * 10) / 10, at: pos.timestamp };
      resolve(last);
    }, () => resolve(last), { enableHighAccuracy: true, maximumAge: 10000, timeout: 10000 });
  });
}

export function point(fix) {
  return { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m, crs: "wgs84" };
}
