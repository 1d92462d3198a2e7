// Strings from the pages' catalogue (/field/i18n/<lang>.json, kept by the service worker).
const LANGS = ["zh-CN", "en"];
let messages = {};
let lang = "zh-CN";

export function currentLang() {
  return lang;
}

export function otherLang() {
  return lang === "zh-CN" ? "en" : "zh-CN";
}

/** What the shell carries inline: {lang, messages, config} (one round trip on a slow link). */
export function bootData() {
  const block = document.getElementById("field-boot");
  try { return block ? JSON.parse(block.textContent) : {}; } catch { return {}; }
}

export async function loadMessages(wanted) {
  lang = LANGS.includes(wanted) ? wanted : "zh-CN";
  const inline = bootData();
  if (inline.lang === lang && inline.messages) {
    messages = inline.messages;
  } else {
    messages = await (await fetch(`/field/i18n/${lang}.json`)).json();
  }
  document.documentElement.lang = lang;
}

/** The string for `key`, with %(name)s filled from `params` (a missing key logs an error). */
export function t(key, params) {
  let text = messages[key];
  if (text === undefined) {
    console.error(`Gridwork field: no message for ${key}`);
    text = key;
  }
  if (params) {
    text = text.replace(/%\((\w+)\)s/g, (_m, name) =>
      params[name] === undefined || params[name] === null ? "" : String(params[name]));
  }
  return text.replace(/%%/g, "%");
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(messages, key);
}

export function esc(value) {
  return String(value === undefined || value === null ? "" : value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const zone = "Asia/Shanghai";
export function localTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang, { timeZone: zone, month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date(iso));
}

/** Today's date in Asia/Shanghai as YYYY-MM-DD. */
export function localDay(date = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(date);
}
