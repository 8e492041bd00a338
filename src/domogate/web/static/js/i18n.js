// One catalogue per language (static/i18n/LANG.json); static/i18n/index.json lists them.
// Adding a language: copy en.json to xx.json, translate the values, add "xx" to index.json.
// The lookups themselves are pure (catalogue.js, format.js); this module loads and remembers.

import { lookup, pickLanguage } from "./catalogue.js";
import * as format from "./format.js";

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
  const tags = navigator.languages || [navigator.language || "en"];
  return pickLanguage(localStorage.getItem(STORAGE_KEY), tags, languages);
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
  return lookup(catalogue, fallback, key, vars);
}

export function formatTime(iso) {
  return format.formatTime(iso, current);
}

export function formatNumber(value, digits = 1) {
  return format.formatNumber(value, current, digits);
}
