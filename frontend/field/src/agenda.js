// Today's agenda from the phone's copy, ordered as `gridsync agenda` orders it
// (client_sync/cache.py): overdue first, then open yellow ribbons, priority households, the
// most overdue, the nearest. A household met by a visit captured here since the last pull
// is left out.
const DAY = 86400000;

function time(text) {
  if (!text) return null;
  const value = Date.parse(text);
  return Number.isNaN(value) ? null : value;
}

/** Metres between two WGS-84 points (haversine on the mean radius: ordering and display). */
export function distanceM(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180;
  const a = Math.sin((lat2 - lat1) * rad / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin((lon2 - lon1) * rad / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

export function metHere(outbox) {
  const met = new Map();
  for (const r of outbox) {
    if (r.kind !== "visit" || r.body.outcome !== "met") continue;
    const key = r.body.household_id ? `id:${r.body.household_id}` : `uuid:${r.body.household_client_uuid}`;
    const at = time(r.body.visited_at);
    if (!met.has(key) || at > met.get(key)) met.set(key, at);
  }
  return met;
}

function item(household, here, now, met) {
  if (household.moved_out_at) return null;
  const lastMet = time(household.last_met_at);
  for (const key of [`id:${household.id}`, `uuid:${household.client_uuid}`]) {
    if (met.has(key) && (lastMet === null || met.get(key) > lastMet)) return null;
  }
  const overdueAt = time(household.next_due_at);
  const dueAt = time(household.due_from_at);
  let status;
  let days = 0;
  if (overdueAt !== null && dueAt !== null) {
    status = overdueAt <= now ? "overdue" : dueAt <= now ? "due" : "ok";
    days = Math.floor((now - overdueAt) / DAY);
  } else {
    status = household.status || "ok";
  }
  if (status === "ok") return null;
  const reasons = [status];
  const followUp = time(household.follow_up_at);
  if (followUp !== null && followUp <= now) reasons.unshift("follow_up");
  if (household.open_yellow_ribbon) reasons.unshift("yellow_ribbon_open");
  if (!household.last_visit_at) reasons.push("never_visited");
  for (const tag of household.tags || []) reasons.push(`tag:${tag}`);
  const place = household.location || {};
  let distance = null;
  if (here && place.lat !== undefined && place.lat !== null) {
    distance = distanceM(here.lat, here.lon, place.lat, place.lon);
  }
  return { household, status, days, distance, reasons };
}

export function agenda(households, outbox, here, now = Date.now()) {
  const met = metHere(outbox);
  const items = households.map((h) => item(h, here, now, met)).filter(Boolean);
  const key = (i) => [i.status !== "overdue", !i.reasons.includes("yellow_ribbon_open"),
    !i.household.priority, -i.days, i.distance === null ? Infinity : i.distance];
  items.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let n = 0; n < ka.length; n += 1) {
      if (ka[n] < kb[n]) return -1;
      if (ka[n] > kb[n]) return 1;
    }
    return 0;
  });
  return items;
}
