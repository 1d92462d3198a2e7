// The field app: boot, the router, login and logout, the outbox badge, the service worker.
import { api } from "./api.js";
import { delMeta, getMeta, setMeta, uuid4 } from "./db.js";
import { watch } from "./geo.js";
import { bootData, currentLang, esc, loadMessages, otherLang, t } from "./i18n.js";
import { prune, summary } from "./outbox.js";
import { warmUp } from "./photos.js";
import { configure, pull, pushSoon } from "./sync.js";
import { installPatrol } from "./patrol.js";
import {
  agendaView, app, caseView, casesView, loginView, outboxView, reportView, toast, visitView,
} from "./views.js";

const root = document.getElementById("app");
let cleanup = null;
let loginNotice = null;

function frame() {
  root.innerHTML = `<header class="bar">
      <h1 id="title"></h1>
      <button type="button" id="lang" class="link" lang="${otherLang()}">${otherLang() === "en" ? "English" : "中文"}</button>
    </header>
    <main id="view" tabindex="-1"></main>
    <div id="toast" class="toast" role="status" hidden></div>
    <nav class="tabs" aria-label="${esc(t("nav.main"))}">
      <a href="#/agenda" data-tab="agenda">${esc(t("nav.agenda"))}</a>
      <a href="#/report" data-tab="report">${esc(t("nav.report"))}</a>
      <a href="#/cases" data-tab="cases">${esc(t("nav.cases"))}</a>
      <a href="#/outbox" data-tab="outbox">${esc(t("nav.outbox"))} <span id="badge" class="badge" hidden></span></a>
    </nav>`;
  // Large system fonts make the tab bar taller: the action above it follows.
  const nav = root.querySelector(".tabs");
  new ResizeObserver(() => document.body.style.setProperty("--tabs", `${nav.offsetHeight}px`))
    .observe(nav);
  document.getElementById("lang").addEventListener("click", async () => {
    await setMeta("lang", otherLang());
    await loadMessages(otherLang());
    frame();
    route();
  });
}

async function badge() {
  const { waiting, failed } = await summary();
  document.body.dataset.waiting = String(waiting);
  document.body.dataset.failed = String(failed);
  const el = document.getElementById("badge");
  if (!el) return;
  el.hidden = waiting === 0;
  el.textContent = String(waiting);
  el.classList.toggle("badge-failed", failed > 0);
  el.setAttribute("aria-label", t("outbox.badge", { n: waiting }));
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const token = await getMeta("token");
  const hash = location.hash || "#/agenda";
  const [, name, arg] = hash.split("/");
  let view;
  if (!token || name === "login") {
    document.body.dataset.view = "login";
    view = await loginView(loginNotice);
  } else {
    document.body.dataset.view = name || "agenda";
    const views = { agenda: agendaView, visit: visitView, report: reportView, outbox: outboxView,
      cases: casesView, case: caseView };
    view = await (views[name] || agendaView)(arg);
  }
  document.title = `${view.title} · ${t("app.name")}`;
  document.getElementById("title").textContent = view.title;
  const main = document.getElementById("view");
  const action = view.action;
  main.innerHTML = view.html + (action ? `<div class="action"><button type="button" id="${action.id}"
    class="button primary${action.pressed ? " pressed" : ""}"${action.pressed === undefined ? "" : ` aria-pressed="${action.pressed}"`}>${esc(action.label)}</button></div>` : "");
  for (const a of document.querySelectorAll(".tabs a")) {
    const current = a.dataset.tab === (name || "agenda") || (a.dataset.tab === "agenda" && name === "visit")
      || (a.dataset.tab === "cases" && name === "case");
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.querySelector(".tabs").hidden = document.body.dataset.view === "login";
  cleanup = view.bind ? view.bind(main) || null : null;
  document.body.dataset.ready = hash;
  await badge();
}

app.go = (hash) => {
  if (location.hash === hash) route(); else location.hash = hash;
};

async function refresh() {
  if (!navigator.onLine || !(await getMeta("token"))) return;
  try {
    await pull();
    document.body.dataset.pulled = new Date().toISOString();
    if (["agenda", "cases"].includes(document.body.dataset.view)) route();
  } catch (error) {
    if (error.authRequired) authLost(error);
  }
  pushSoon();
}

async function authLost(error) {
  // The token was revoked or expired: back to the login page, the outbox untouched. A 401
  // that arrives after the worker logged in again answered the old token: it ends nothing.
  if (error && error.token && error.token !== (await getMeta("token"))) return;
  await delMeta("token");
  loginNotice = t("login.revoked");
  // A pull and a push may both meet the 401: draw the login page once, not over a form
  // the worker is already filling in.
  if (document.body.dataset.view !== "login") app.go("#/login");
}

app.login = async (username, password) => {
  let deviceId = await getMeta("device_id");
  if (!deviceId) { deviceId = uuid4(); await setMeta("device_id", deviceId); }
  const answer = await api("POST", "/auth/tokens", { json: { username, password,
    device_id: `field-${deviceId}` }, token: null });
  const me = await api("GET", "/me", { token: answer.token });
  const previous = await getMeta("user");
  if (previous && previous.id !== me.id) {
    // What waits was captured by someone else: it must go with their login, not this one.
    const { waiting } = await summary();
    if (waiting) {
      await api("DELETE", "/auth/tokens/current", { token: answer.token }).catch(() => null);
      const error = new Error(t("login.other_user", { n: waiting, name: previous.display_name }));
      error.status = 409;
      throw error;
    }
    await delMeta("cursor"); // another worker's scope: the next pull starts afresh
  }
  await setMeta("token", answer.token);
  await setMeta("user", me);
  app.user = me;
  loginNotice = null;
  app.go("#/agenda");
  refresh();
};

app.logout = async () => {
  const { waiting } = await summary();
  if (waiting && !window.confirm(t("login.logout_waiting", { n: waiting }))) return;
  await api("DELETE", "/auth/tokens/current").catch(() => null); // offline: it expires
  await delMeta("token");
  loginNotice = null;
  app.go("#/login");
};

async function boot() {
  // The shell carries the settings and the Chinese strings inline.
  const inline = bootData().config;
  const settings = inline ? Promise.resolve(inline)
    : fetch("/field/config.json").then((r) => r.json()).catch(() => ({}));
  await loadMessages((await getMeta("lang")) || "zh-CN");
  app.config = await settings;
  app.user = (await getMeta("user")) || null;
  configure({ authLost, kinds: app.config.batch_kinds });
  installPatrol(app);
  frame();
  window.addEventListener("hashchange", route);
  window.addEventListener("outbox-changed", badge);
  window.addEventListener("online", refresh);
  window.addEventListener("offline", badge);
  watch();
  warmUp();
  prune().catch((error) => console.warn("prune:", error));
  await route();
  document.body.dataset.booted = currentLang();
  document.body.dataset.bootMs = performance.now().toFixed(0); // from navigation start
  refresh();
  setInterval(() => { if (navigator.onLine) pushSoon(); }, 30000);
  setInterval(refresh, 5 * 60000); // new households and cases while the app stays open
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).then(() => {
      document.body.dataset.sw = "registered";
    }, (error) => console.warn("service worker:", error));
  }
}

boot().catch((error) => {
  console.error(error);
  toast(t("error.generic", { why: error.message }));
});
