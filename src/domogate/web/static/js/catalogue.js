// Catalogue lookups without fetch, storage or DOM (i18n.js loads the catalogues and keeps
// the current language). Placeholders become plain text, never markup.

/** `text` with every `{name}` replaced by `String(vars[name])`. */
export function interpolate(text, vars = {}) {
  let out = text;
  for (const [name, value] of Object.entries(vars)) {
    out = out.split(`{${name}}`).join(String(value));
  }
  return out;
}

/** The text for `key` in `catalogue`, else in `fallback` (English), else the key itself. */
export function lookup(catalogue, fallback, key, vars = {}) {
  return interpolate(catalogue[key] ?? fallback[key] ?? key, vars);
}

/** The language to use: the stored choice, else the first browser language we have, else English. */
export function pickLanguage(stored, browserTags, languages) {
  if (stored && stored in languages) return stored;
  for (const tag of browserTags) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in languages) return base;
  }
  return "en";
}
