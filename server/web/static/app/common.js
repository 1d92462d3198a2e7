/* Gridwork pages: shared helpers (strings, API calls with the session cookie, times). */
(function () {
  "use strict";
  var body = document.body;
  var cfg = JSON.parse(body.getAttribute("data-config") || "{}");
  var messages = JSON.parse(body.getAttribute("data-i18n") || "{}");
  var meta = document.querySelector('meta[name="csrf-token"]');

  function has(key) { return Object.prototype.hasOwnProperty.call(messages, key); }

  /* The string for ``key`` in the page's language. A key missing from the catalogue shows as
   * itself and is logged as an error, so a browser test that meets it fails. */
  function t(key, params) {
    var text = messages[key];
    if (!has(key)) {
      if (window.console) { window.console.error("Gridwork: no message for " + key); }
      text = key;
    }
    if (params) {
      text = text.replace(/%\((\w+)\)s/g, function (_m, name) {
        return params[name] === undefined || params[name] === null ? "" : String(params[name]);
      });
    }
    return text;
  }

  function esc(value) {
    return String(value === undefined || value === null ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function query(params) {
    var parts = [];
    Object.keys(params || {}).forEach(function (key) {
      var value = params[key];
      if (value === undefined || value === null || value === "") { return; }
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  function handle(response) {
    if (response.status === 401) {
      window.location.assign("/app/login?next=" + encodeURIComponent(window.location.pathname));
      throw new Error(t("error.session"));
    }
    if (!response.ok) {
      return response.json().catch(function () { return {}; }).then(function (problem) {
        var error = new Error(problem.detail || problem.title || response.statusText);
        error.status = response.status;
        throw error;
      });
    }
    return response.json();
  }

  /* GET an API path (relative to /api/v1) with query parameters; resolves to the JSON. */
  function api(path, params) {
    return fetch(cfg.api + path + query(params), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(handle);
  }

  /* A state-changing API call: the session cookie plus the page's CSRF token. */
  function send(method, path, payload) {
    return fetch(cfg.api + path, {
      method: method, credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json",
                 "X-CSRFToken": meta ? meta.getAttribute("content") : "" },
      body: payload === undefined ? undefined : JSON.stringify(payload)
    }).then(handle);
  }

  var locale = cfg.locale || document.documentElement.lang || "zh-CN";
  var zone = cfg.timezone || "Asia/Shanghai";
  var timeFmt = new Intl.DateTimeFormat(locale, { timeZone: zone, year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
  var clockFmt = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit",
    minute: "2-digit", hour12: false });
  var dayFmt = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric",
    month: "2-digit", day: "2-digit" });
  var offsetFmt = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" });

  function fmtTime(iso) { return iso ? timeFmt.format(new Date(iso)) : "—"; }
  function fmtClock(iso) { return iso ? clockFmt.format(new Date(iso)) : "—"; }
  /* Today's date (YYYY-MM-DD) in the community's time zone. */
  function today() { return dayFmt.format(new Date()); }
  function addDays(day, n) {
    var d = new Date(day + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  /* "+08:00" for the community's zone on that day. */
  function zoneOffset(day) {
    var part = offsetFmt.formatToParts(new Date(day + "T12:00:00Z")).filter(function (p) {
      return p.type === "timeZoneName";
    })[0];
    var text = part ? part.value.replace("GMT", "") : "";
    return text || "+00:00";
  }
  /* The first instant of a local day, as ISO 8601 with offset. */
  function dayStart(day) { return day + "T00:00:00" + zoneOffset(day); }
  /* The first instant after a local day (periods are half-open: [from, to)). */
  function dayEnd(day) { return dayStart(addDays(day, 1)); }
  function pct(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }
  function num(value) {
    return value === null || value === undefined ? "—" : Number(value).toLocaleString(locale);
  }
  /* A patrol's length (850 m, 1.23 km) and time (1 h 5 min). */
  function fmtLength(metres) {
    return metres >= 1000 ? t("fmt.km", { n: (metres / 1000).toFixed(2) })
                          : t("fmt.m", { n: Math.round(metres || 0) });
  }
  function fmtDuration(seconds) {
    var minutes = Math.round((seconds || 0) / 60);
    return t("fmt.duration", { h: Math.floor(minutes / 60), m: minutes % 60 });
  }
  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }
  function can(permission) { return (cfg.perms || []).indexOf(permission) >= 0; }

  window.GW = {
    cfg: cfg, t: t, has: has, esc: esc, api: api, send: send, query: query, fmtTime: fmtTime,
    fmtClock: fmtClock, today: today, addDays: addDays, dayStart: dayStart, dayEnd: dayEnd,
    pct: pct, num: num, debounce: debounce, can: can, fmtLength: fmtLength,
    fmtDuration: fmtDuration
  };
}());
