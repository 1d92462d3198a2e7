// Patrol track (巡查轨迹): while a patrol is on and the app is open, a position every 30 s,
// or sooner after 25 m, kept in IndexedDB as it comes (a closed tab loses nothing). Every
// SEGMENT_POINTS points, and when the patrol ends, the segment goes into the outbox as a
// "track" record with its own client_uuid; the server joins a day's segments in time order.
// Offered only when the server takes track records (config.batch_kinds).
import { distanceM } from "./agenda.js";
import { getMeta, setMeta, delMeta, uuid4 } from "./db.js";
import { currentFix, onFix } from "./geo.js";
import { t } from "./i18n.js";
import { queue } from "./outbox.js";
import { pushSoon } from "./sync.js";
import { setPatrol } from "./views.js";

export const EVERY_MS = 30000;
export const EVERY_M = 25;
export const SEGMENT_POINTS = 20;

let patrol = null; // {segment: {client_uuid, started_at, points: [[lat, lon, acc, at]]}, total_m, count}
let timer = null;
let writing = Promise.resolve();

function newSegment(at) {
  return { client_uuid: uuid4(), started_at: at, points: [] };
}

async function store() {
  writing = writing.then(() => setMeta("patrol", patrol));
  return writing;
}

function status() {
  return patrol ? t("patrol.on", { n: patrol.count, km: (patrol.total_m / 1000).toFixed(2) }) : "";
}

function drawStatus() {
  const line = document.getElementById("patrol-status");
  if (line) line.textContent = status();
  document.body.dataset.patrolPoints = patrol ? String(patrol.count) : "";
}

async function closeSegment(at) {
  const seg = patrol.segment;
  if (seg.points.length) {
    await queue([{ kind: "track", client_uuid: seg.client_uuid, label: "",
      body: { client_uuid: seg.client_uuid, started_at: seg.started_at, ended_at: at,
        crs: "wgs84", points: seg.points } }]);
    pushSoon();
  }
  patrol.segment = newSegment(at);
}

async function addPoint(fix, force) {
  if (!patrol || !fix) return;
  const seg = patrol.segment;
  const lastPoint = patrol.last;
  const now = Date.now();
  if (lastPoint && !force) {
    const moved = distanceM(lastPoint[0], lastPoint[1], fix.lat, fix.lon);
    if (moved < EVERY_M && now - Date.parse(lastPoint[3]) < EVERY_MS) return;
  }
  const at = new Date(Math.max(now, lastPoint ? Date.parse(lastPoint[3]) : 0)).toISOString();
  const point = [fix.lat, fix.lon, fix.accuracy_m, at];
  if (lastPoint) patrol.total_m += distanceM(lastPoint[0], lastPoint[1], fix.lat, fix.lon);
  seg.points.push(point);
  patrol.last = point;
  patrol.count += 1;
  if (seg.points.length >= SEGMENT_POINTS) await closeSegment(at);
  await store();
  drawStatus();
}

function run() {
  clearInterval(timer);
  timer = setInterval(async () => addPoint(await currentFix(EVERY_MS), false), EVERY_MS / 3);
}

async function start() {
  const at = new Date().toISOString();
  patrol = { segment: newSegment(at), started_at: at, total_m: 0, count: 0, last: null };
  await store();
  run();
  await addPoint(await currentFix(), true);
}

async function stop() {
  clearInterval(timer);
  const fix = await currentFix(EVERY_MS);
  if (fix && patrol.last) await addPoint(fix, false);
  const end = patrol.last ? patrol.last[3] : new Date().toISOString();
  await closeSegment(end);
  patrol = null;
  await writing;
  await delMeta("patrol");
  drawStatus();
}

export async function installPatrol(app) {
  if (!(app.config.batch_kinds || []).includes("track")) return;
  patrol = (await getMeta("patrol")) || null;
  if (patrol) run();
  onFix((fix) => addPoint(fix, false));
  setPatrol({
    action: () => ({ id: "patrol", label: patrol ? t("patrol.stop") : t("patrol.start"),
      pressed: Boolean(patrol) }),
    bind(root) {
      const button = document.getElementById("patrol");
      if (!button) return;
      const box = document.createElement("p");
      box.id = "patrol-status";
      box.className = "patrol-status";
      box.setAttribute("role", "status");
      root.prepend(box);
      drawStatus();
      button.addEventListener("click", async () => {
        button.disabled = true;
        if (patrol) await stop(); else await start();
        button.disabled = false;
        button.textContent = patrol ? t("patrol.stop") : t("patrol.start");
        button.setAttribute("aria-pressed", String(Boolean(patrol)));
        button.classList.toggle("pressed", Boolean(patrol));
      });
    },
  });
}


