// One catalogue per language (static/i18n/LANG.json); static/i18n/index.json lists them.
// Adding a language: copy en.json to xx.json, translate the values, add "xx" to index.json.

const STORAGE_KEY = "domogate.lang";
let languages = { en: "English" };
let current = "en";
let catalogue = {};
let fallback = {};

async function fetchJson(path) {
  const res = await fetch(path, { cache: "no-cache" });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

export function availableLanguages() {
  return languages;
}

export function currentLanguage() {
  return current;
}

function preferred() {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored && stored in languages) return stored;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in languages) return base;
  }
  return "en";
}

export async function initI18n() {
  try {
    languages = await fetchJson("/static/i18n/index.json");
  } catch {
    languages = { en: "English" };
  }
  fallback = await fetchJson("/static/i18n/en.json");
  await setLanguage(preferred(), false);
}

export async function setLanguage(lang, remember = true) {
  if (!(lang in languages)) lang = "en";
  catalogue = lang === "en" ? fallback : await fetchJson(`/static/i18n/${lang}.json`);
  current = lang;
  document.documentElement.lang = lang;
  if (remember) localStorage.setItem(STORAGE_KEY, lang);
}

/** The text for `key`, with {placeholders} replaced by `vars` (as text, never markup). */
export function t(key, vars = {}) {
  let text = catalogue[key] ?? fallback[key] ?? key;
  for (const [name, value] of Object.entries(vars)) {
    text = text.split(`{${name}}`).join(String(value));
  }
  return text;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(current, opts).format(date);
}

export function formatNumber(value, digits = 1) {
  return new Intl.NumberFormat(current, {
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  }).format(value);
}
