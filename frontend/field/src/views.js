// The screens: login, agenda (串百家门), visit, report (巡查), outbox, my cases.
import { agenda, distanceM } from "./agenda.js";
import { api } from "./api.js";
import { all, db, get, getMeta, uuid4 } from "./db.js";
import { currentFix, here, onFix, point } from "./geo.js";
import { esc, localDay, localTime, t } from "./i18n.js";
import { discard, dueNow, heldSet, listOutbox, queue, retry } from "./outbox.js";
import { shrink } from "./photos.js";
import { progress, pushSoon } from "./sync.js";

export const app = { config: {}, user: null, go: () => {}, login: async () => {} };

// -- shared pieces ---------------------------------------------------------------------

function placeLine(fix) {
  if (!fix) return `<span class="warn">${esc(t("place.waiting"))}</span>`;
  return `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)} · ${esc(t("place.fix", { m: Math.round(fix.accuracy_m) }))}`;
}

function placeBlock() {
  return `<section class="field"><h2 class="label">${esc(t("place.title"))}</h2>
    <p id="place" class="place">${placeLine(here())}</p>
    ${app.config.tiles ? '<div id="place-map" class="place-map"></div>' : ""}</section>`;
}

let mapModule = null;
function loadMap() {
  if (!mapModule) {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = document.body.dataset.mapCss;
    document.head.appendChild(css);
    mapModule = import(document.body.dataset.map);
  }
  return mapModule;
}

function bindPlace(root) {
  const line = root.querySelector("#place");
  const box = root.querySelector("#place-map");
  let draw = null;
  if (box) {
    loadMap().then(({ positionMap }) => {
      if (!box.isConnected) return;
      draw = positionMap(box, app.config.tiles);
      draw(here());
    }, (error) => console.warn("map:", error));
  }
  return onFix((fix) => {
    if (line.isConnected) line.innerHTML = placeLine(fix);
    if (draw && box.isConnected) draw(fix);
  });
}

function categoryName(cat) {
  if (!cat) return "";
  return document.documentElement.lang === "en" ? (cat.name_en || cat.name_zh || cat.code)
    : (cat.name_zh || cat.code);
}

async function reportCategories() {
  const cats = (await all("categories")).filter((c) => c.active !== false);
  cats.sort((a, b) => (a.sort || 0) - (b.sort || 0) || String(a.code).localeCompare(b.code));
  return cats;
}

function householdTitle(h) {
  return esc(h.code);
}

/** The photo picker: files from the camera shrunk at once; returns the list it fills. */
function photoPicker(root, id) {
  const photos = [];
  const input = root.querySelector(`#${id}`);
  const list = root.querySelector(`#${id}-list`);
  const draw = () => {
    list.innerHTML = photos.map((p, i) => `<li><img src="${p.url}" alt="${esc(t("photo.alt", { n: i + 1 }))}">
      <button type="button" class="remove" data-i="${i}" aria-label="${esc(t("photo.remove", { n: i + 1 }))}">×</button></li>`).join("");
  };
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button.remove");
    if (!button) return;
    const [gone] = photos.splice(Number(button.dataset.i), 1);
    URL.revokeObjectURL(gone.url);
    draw();
  });
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    root.dataset.shrinking = String(Number(root.dataset.shrinking || 0) + files.length);
    for (const file of files) {
      try {
        const out = await shrink(file);
        photos.push({ client_uuid: uuid4(), blob: out.blob, url: URL.createObjectURL(out.blob) });
      } catch (error) {
        toast(t("photo.failed"));
      }
      root.dataset.shrinking = String(Number(root.dataset.shrinking) - 1);
      draw();
    }
  });
  return photos;
}

function photoField(id, required) {
  return `<section class="field"><h2 class="label">${esc(t("report.photos"))}${required ? " *" : ""}</h2>
    <ul id="${id}-list" class="photos"></ul>
    <label class="button secondary file"><input id="${id}" type="file" accept="image/*"
      capture="environment" multiple> ${esc(t("report.add_photo"))}</label></section>`;
}

export function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function photoRecords(photos, label) {
  return photos.map((p) => ({ kind: "photo", client_uuid: p.client_uuid, blob: p.blob,
    body: { filename: `${p.client_uuid}.jpg` }, deps: [], label }));
}

/** Store the records, time it (tap to durable), tell the worker, push in the background. */
async function save(records, started, message, next) {
  await queue(records);
  const ms = performance.now() - started;
  document.body.dataset.saveMs = ms.toFixed(1);
  toast(message);
  app.go(next);
  pushSoon();
}

// -- login -------------------------------------------------------------------------------

export async function loginView(notice) {
  const { waiting } = await import("./outbox.js").then((m) => m.summary());
  return {
    title: t("login.title"),
    html: `<form id="login-form" class="stack" novalidate>
      ${notice ? `<p class="notice" role="alert">${esc(notice)}</p>` : ""}
      ${waiting ? `<p class="notice">${esc(t("login.kept", { n: waiting }))}</p>` : ""}
      <label class="field">${esc(t("login.username"))}
        <input id="username" name="username" autocomplete="username" required></label>
      <label class="field">${esc(t("login.password"))}
        <input id="password" name="password" type="password" autocomplete="current-password" required></label>
      <p id="login-error" class="error" role="alert"></p>
      <div class="action"><button type="submit" class="button primary">${esc(t("login.submit"))}</button></div>
    </form>`,
    bind(root) {
      root.querySelector("#login-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        const error = root.querySelector("#login-error");
        error.textContent = "";
        if (!root.querySelector("#username").value.trim() || !root.querySelector("#password").value) {
          error.textContent = t("login.missing");
          return;
        }
        try {
          await app.login(root.querySelector("#username").value.trim(),
            root.querySelector("#password").value);
        } catch (e) {
          error.textContent = e.status === 0 ? t("login.offline")
            : e.status === 429 ? t("login.locked") : e.status === 409 ? e.message : t("login.wrong");
        }
      });
    },
  };
}

// -- agenda --------------------------------------------------------------------------------

export async function agendaView() {
  const [households, outbox, pulledAt] = await Promise.all([all("households"),
    listOutbox(), getMeta("pulled_at")]);
  const render = (fix) => {
    const items = agenda(households, outbox, fix);
    const overdue = items.filter((i) => i.status === "overdue").length;
    const rows = items.map((i) => {
      const h = i.household;
      const chips = i.reasons.filter((r) => !r.startsWith("tag:")
        || (r === "tag:yellow_ribbon" && !i.reasons.includes("yellow_ribbon_open")))
        .map((r) => {
          const key = r === "yellow_ribbon_open" ? "status.yellow_ribbon"
            : r === "follow_up" ? "agenda.follow_up" : r === "never_visited" ? "agenda.never_visited"
              : r.startsWith("tag:") ? `tag.${r.slice(4)}` : `status.${r}`;
          return `<span class="chip chip-${esc(r.replace(":", "-"))}">${esc(t(key))}</span>`;
        }).join("");
      const tags = (h.tags || []).filter((x) => x !== "yellow_ribbon").map((x) => esc(t(`tag.${x}`))).join(" · ");
      const far = i.distance === null ? "" : i.distance < 1000
        ? t("agenda.distance", { m: Math.round(i.distance) })
        : t("agenda.distance_km", { km: (i.distance / 1000).toFixed(1) });
      return `<li><a class="card hh" href="#/visit/${h.id}" data-household="${h.id}">
        <span class="line1"><strong>${householdTitle(h)}</strong><span class="far">${esc(far)}</span></span>
        <span class="line2">${esc(h.head_name)}${tags ? ` · ${tags}` : ""}</span>
        <span class="chips">${chips}${i.days > 0 ? `<span class="chip">${esc(t("agenda.days_overdue", { n: i.days }))}</span>` : ""}</span>
      </a></li>`;
    }).join("");
    const empty = households.length ? t("agenda.empty") : t("agenda.never_pulled");
    return `<p class="summary">${esc(t("agenda.count", { n: items.length, overdue }))}
      ${pulledAt ? `<span class="muted">${esc(t("agenda.pulled_at", { when: localTime(pulledAt) }))}</span>` : ""}</p>
      ${items.length ? `<ul id="agenda" class="cards">${rows}</ul>` : `<p class="empty">${esc(empty)}</p>`}`;
  };
  return {
    title: t("agenda.title"),
    html: `<div id="agenda-box">${render(here())}</div>`,
    action: patrolAction(),
    bind(root) {
      let drawnAt = here();
      bindPatrol(root);
      return onFix((fix) => {
        // Re-sort when the worker has moved 25 m, not on every fix.
        if (drawnAt && distanceM(drawnAt.lat, drawnAt.lon, fix.lat, fix.lon) < 25) return;
        drawnAt = fix;
        const box = root.querySelector("#agenda-box");
        if (box) box.innerHTML = render(fix);
      });
    },
  };
}

// Patrol (巡查轨迹): offered once the server takes track records.
let patrolHooks = { action: () => null, bind: () => {} };
export function setPatrol(hooks) { patrolHooks = hooks; }
function patrolAction() { return patrolHooks.action(); }
function bindPatrol(root) { patrolHooks.bind(root); }

// -- visit ---------------------------------------------------------------------------------

export async function visitView(id) {
  const household = await get("households", Number(id));
  if (!household) return { title: t("visit.title"), html: `<p class="empty">${esc(t("visit.unknown"))}</p>` };
  const cats = await reportCategories();
  const needOptions = [...cats.map((c) => [c.code, categoryName(c), true]),
    ...(app.config.service_needs || []).map((n) => [n, t(`need.${n}`), false])];
  const outcomes = (app.config.outcomes || []).map((o, i) => `<label class="choice">
      <input type="radio" name="outcome" value="${esc(o)}"${i === 0 ? " checked" : ""}> ${esc(t(`outcome.${o}`))}</label>`).join("");
  return {
    title: `${t("visit.title")} ${household.code}`,
    html: `<form id="visit-form" class="stack" novalidate>
      <p class="hh-head"><strong>${householdTitle(household)}</strong><br>${esc(household.head_name)}</p>
      <fieldset class="field choices"><legend class="label">${esc(t("visit.outcome"))}</legend>${outcomes}</fieldset>
      <label class="field">${esc(t("visit.notes"))}<textarea id="notes" rows="3" maxlength="4000"></textarea></label>
      <section class="field"><h2 class="label">${esc(t("visit.needs"))}</h2><ul id="needs" class="needs"></ul>
        <button type="button" id="add-need" class="button secondary">${esc(t("visit.add_need"))}</button></section>
      ${photoField("visit-photos", false)}
      <label class="field">${esc(t("visit.follow_up"))}<input id="follow-up" type="date" min="${localDay()}"></label>
      ${placeBlock()}
      <p id="form-error" class="error" role="alert"></p>
      <div class="action"><button type="submit" id="save" class="button primary">${esc(t("visit.save"))}</button></div>
    </form>`,
    bind(root) {
      const photos = photoPicker(root, "visit-photos");
      const needs = root.querySelector("#needs");
      let count = 0;
      root.querySelector("#add-need").addEventListener("click", () => {
        count += 1;
        const li = document.createElement("li");
        li.className = "need";
        li.innerHTML = `<label>${esc(t("visit.need_category"))}<select class="need-category">
          ${needOptions.map(([code, name, rep]) => `<option value="${esc(code)}" data-report="${rep}">${esc(name)}</option>`).join("")}</select></label>
          <label>${esc(t("visit.need_text"))}<input class="need-text" maxlength="2000"></label>
          <label class="check"><input type="checkbox" class="need-report"> ${esc(t("visit.need_report"))}</label>
          <button type="button" class="button link remove-need">${esc(t("visit.remove_need"))}</button>`;
        needs.appendChild(li);
        const select = li.querySelector(".need-category");
        const box = li.querySelector(".need-report");
        const sync = () => {
          const canReport = select.selectedOptions[0].dataset.report === "true";
          box.disabled = !canReport;
          if (!canReport) box.checked = false;
        };
        select.addEventListener("change", sync);
        sync();
        li.querySelector(".remove-need").addEventListener("click", () => li.remove());
        li.querySelector(".need-text").focus();
      });
      const off = bindPlace(root);
      root.querySelector("#visit-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        const started = performance.now();
        const fix = here() || await currentFix();
        if (!fix) { root.querySelector("#form-error").textContent = t("place.required"); return; }
        const uuid = uuid4();
        const body = {
          client_uuid: uuid, household_id: household.id, visited_at: new Date().toISOString(),
          location: point(fix), outcome: root.querySelector("input[name=outcome]:checked").value,
          notes: root.querySelector("#notes").value.trim(),
          needs: [...needs.querySelectorAll("li")].map((li) => ({
            category: li.querySelector(".need-category").value,
            text: li.querySelector(".need-text").value.trim(),
            create_report: li.querySelector(".need-report").checked })),
          photo_ids: photos.map((p) => p.client_uuid),
          follow_up_on: root.querySelector("#follow-up").value || null,
        };
        await save([...photoRecords(photos, household.code), { kind: "visit", client_uuid: uuid,
          body, deps: photos.map((p) => p.client_uuid), label: household.code }],
        started, t("visit.saved"), "#/agenda");
      });
      return off;
    },
  };
}

// -- report (巡查) ----------------------------------------------------------------------------

export async function reportView() {
  const cats = await reportCategories();
  return {
    title: t("report.title"),
    html: `<form id="report-form" class="stack" novalidate>
      <label class="field">${esc(t("report.category"))}
        <select id="category" required>${cats.map((c) => `<option value="${esc(c.code)}">${esc(categoryName(c))}</option>`).join("")}</select></label>
      <label class="field">${esc(t("report.description"))}<textarea id="description" rows="3" maxlength="2000"></textarea></label>
      ${photoField("report-photos", true)}
      ${placeBlock()}
      <p id="form-error" class="error" role="alert"></p>
      <div class="action"><button type="submit" id="save" class="button primary">${esc(t("report.save"))}</button></div>
    </form>`,
    bind(root) {
      const photos = photoPicker(root, "report-photos");
      const off = bindPlace(root);
      root.querySelector("#report-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        const started = performance.now();
        const error = root.querySelector("#form-error");
        if (!photos.length) { error.textContent = t("report.need_photo"); return; }
        const fix = here() || await currentFix();
        if (!fix) { error.textContent = t("place.required"); return; }
        const uuid = uuid4();
        const select = root.querySelector("#category");
        const category = select.value;
        const label = select.selectedOptions[0] ? select.selectedOptions[0].textContent : category;
        const body = { client_uuid: uuid, category, location: point(fix),
          description: root.querySelector("#description").value.trim(),
          captured_at: new Date().toISOString(), photo_ids: photos.map((p) => p.client_uuid) };
        await save([...photoRecords(photos, label), { kind: "report", client_uuid: uuid, body,
          deps: photos.map((p) => p.client_uuid), label }],
        started, t("report.saved"), "#/outbox");
      });
      return off;
    },
  };
}

// -- outbox --------------------------------------------------------------------------------

export async function outboxView() {
  const draw = async () => {
    const records = await listOutbox();
    const held = heldSet(records);
    const byId = new Map(records.map((r) => [r.client_uuid, r]));
    const waiting = records.filter((r) => r.state !== "done");
    const sent = records.length - waiting.length;
    const rows = waiting.map((r) => {
      let status = "";
      let buttons = "";
      if (r.state === "failed") {
        const p = r.problem || {};
        const fields = p.errors ? Object.entries(p.errors).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : "";
        status = `<span class="refused">${esc(t("outbox.refused"))}: ${esc(p.detail || p.title || "")} ${esc(fields)}</span>`;
        buttons = `<span class="row-actions"><button type="button" class="button secondary retry" data-id="${r.client_uuid}">${esc(t("outbox.retry"))}</button>
          <button type="button" class="button danger discard" data-id="${r.client_uuid}">${esc(t("outbox.discard"))}</button></span>`;
      } else if (held.has(r.client_uuid)) {
        status = `<span class="held">${esc(t("outbox.held"))}</span>`;
        buttons = `<span class="row-actions"><button type="button" class="button danger discard" data-id="${r.client_uuid}">${esc(t("outbox.discard"))}</button></span>`;
      } else if (r.deps.some((d) => (byId.get(d) || {}).state !== "done")) {
        status = `<span class="muted">${esc(t("outbox.waiting_parent"))}</span>`;
      } else if (r.next_at > Date.now()) {
        status = `<span class="muted">${esc(t("outbox.next_try", { s: Math.ceil((r.next_at - Date.now()) / 1000) }))}</span>`;
      }
      if (r.kind === "photo" && progress.has(r.client_uuid)) {
        status += ` <span class="muted">${esc(t("outbox.uploaded", { pct: Math.round(progress.get(r.client_uuid) * 100) }))}</span>`;
      }
      return `<li class="card rec rec-${r.state}${held.has(r.client_uuid) ? " rec-held" : ""}" data-kind="${r.kind}" data-uuid="${r.client_uuid}">
        <span class="line1"><strong>${esc(t(`kind.${r.kind}`))}</strong> ${esc(r.label || "")}<span class="far">${esc(localTime(r.created_at))}</span></span>
        <span class="line2">${status}</span>${buttons}</li>`;
    }).join("");
    return `<p class="summary who">${esc((app.user || {}).display_name || "")}
      <button type="button" id="logout" class="button link">${esc(t("login.logout"))}</button></p>
      <p class="summary">${esc(t("outbox.badge", { n: waiting.length }))} · ${esc(t("outbox.sent_today", { n: sent }))}
      ${navigator.onLine ? "" : `<br><span class="warn">${esc(t("outbox.offline"))}</span>`}</p>
      ${waiting.length ? `<ul id="outbox" class="cards">${rows}</ul>` : `<p class="empty">${esc(t("outbox.empty"))}</p>`}`;
  };
  return {
    title: t("outbox.title"),
    html: `<div id="outbox-box">${await draw()}</div>`,
    action: { id: "send-now", label: t("outbox.send_now") },
    bind(root) {
      const box = root.querySelector("#outbox-box");
      const redraw = async () => { if (box.isConnected) box.innerHTML = await draw(); };
      box.addEventListener("click", async (event) => {
        const button = event.target.closest("button");
        if (!button) return;
        if (button.id === "logout") { await app.logout(); return; }
        if (button.classList.contains("retry")) { await retry(button.dataset.id); pushSoon(); }
        if (button.classList.contains("discard") && window.confirm(t("outbox.discard_confirm"))) {
          await discard(button.dataset.id);
        }
      });
      document.getElementById("send-now").addEventListener("click", async () => {
        await dueNow();
        pushSoon();
      });
      let pending = false;
      const soon = () => { if (!pending) { pending = true; setTimeout(() => { pending = false; redraw(); }, 150); } };
      window.addEventListener("outbox-changed", soon);
      window.addEventListener("photo-progress", soon);
      return () => { window.removeEventListener("outbox-changed", soon); window.removeEventListener("photo-progress", soon); };
    },
  };
}

// -- my cases ------------------------------------------------------------------------------

function caseLine(r, cats) {
  const cat = cats.find((c) => c.code === r.category);
  return `<span class="line1"><strong>#${r.id} ${esc(categoryName(cat) || r.category)}</strong>
    <span class="chip status-${esc(r.status)}">${esc(t(`case.${r.status}`))}</span></span>
    <span class="line2">${esc(r.description || "")}</span>`;
}

export async function casesView() {
  const [reports, cats] = await Promise.all([all("reports"), all("categories")]);
  reports.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  const rows = reports.map((r) => `<li><a class="card" href="#/case/${r.id}">${caseLine(r, cats)}
    <span class="line2 muted">${esc((r.reporter || {}).id === (app.user || {}).id ? t("cases.reported_by_me") : t("cases.assigned"))} · ${esc(localTime(r.created_at))}</span></a></li>`).join("");
  return { title: t("cases.title"),
    html: reports.length ? `<ul id="cases" class="cards">${rows}</ul>` : `<p class="empty">${esc(t("cases.empty"))}</p>` };
}

export async function caseView(id) {
  const reportId = Number(id);
  const [report, cats] = await Promise.all([get("reports", reportId), all("categories")]);
  if (!report) return { title: t("cases.title"), html: `<p class="empty">${esc(t("cases.empty"))}</p>` };
  let timeline = await get("timelines", reportId);
  if (navigator.onLine) {
    try {
      timeline = { ...(await api("GET", `/reports/${reportId}/timeline`)), id: reportId };
      const tx = (await db()).transaction("timelines", "readwrite");
      await tx.store.put(timeline);
      await tx.done;
    } catch (error) { /* offline or refused: the kept copy */ }
  }
  const steps = timeline ? (timeline.steps || []).map((s) => `<li><strong>${esc(t(`action.${s.action}`))}</strong>
      <span class="muted">${esc(localTime(s.at || s.created_at))} · ${esc(s.actor_name || (s.actor || {}).display_name || "")}</span>
      ${s.note ? `<br>${esc(s.note)}` : ""}</li>`).join("") : "";
  const role = (app.user || {}).role;
  const moves = (app.config.moves || []).filter((m) => m.from === report.status && m.roles.includes(role));
  const queued = (await listOutbox()).filter((r) => r.kind === "move" && r.report_id === reportId && r.state !== "done");
  const needsPhoto = (action) => action === "handle" || action === "fail_verify";
  return {
    title: `#${report.id}`,
    html: `<div class="stack"><div class="card">${caseLine(report, cats)}</div>
      <section class="field"><h2 class="label">${esc(t("cases.timeline"))}</h2>
        ${steps ? `<ol id="case-steps" class="timeline">${steps}</ol>` : `<p class="muted">${esc(t("cases.timeline_offline"))}</p>`}</section>
      ${queued.length ? `<p class="notice">${queued.map((q) => esc(t(`action.${q.body.action}`))).join(", ")} · ${esc(t("outbox.badge", { n: queued.length }))}</p>` : ""}
      ${moves.length && !queued.length ? `<form id="move-form" class="stack" novalidate>
        <fieldset class="field choices"><legend class="label">${esc(t("cases.moves"))}</legend>
          ${moves.map((m, i) => `<label class="choice"><input type="radio" name="action" value="${esc(m.action)}"${i === 0 ? " checked" : ""}> ${esc(t(`action.${m.action}`))}</label>`).join("")}</fieldset>
        <label class="field">${esc(t("cases.note"))}<textarea id="move-note" rows="3" maxlength="2000"></textarea></label>
        ${photoField("move-photos", false)}
        ${placeBlock()}
        <p id="form-error" class="error" role="alert"></p>
        <div class="action"><button type="submit" class="button primary">${esc(t("cases.send_move"))}</button></div>
      </form>` : ""}</div>`,
    bind(root) {
      const form = root.querySelector("#move-form");
      if (!form) return undefined;
      const photos = photoPicker(root, "move-photos");
      const off = bindPlace(root);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const started = performance.now();
        const action = form.querySelector("input[name=action]:checked").value;
        if (needsPhoto(action) && !photos.length) {
          root.querySelector("#form-error").textContent = t("report.need_photo");
          return;
        }
        const fix = here() || await currentFix();
        const uuid = uuid4();
        const body = { client_uuid: uuid, action, note: form.querySelector("#move-note").value.trim(),
          photo_ids: photos.map((p) => p.client_uuid), expected_version: report.version || null,
          location: fix ? point(fix) : null };
        await save([...photoRecords(photos, `#${report.id}`), { kind: "move", client_uuid: uuid,
          body, report_id: reportId, deps: photos.map((p) => p.client_uuid), label: `#${report.id}` }],
        started, t("cases.move_saved"), `#/case/${reportId}`);
      });
      return off;
    },
  };
}

