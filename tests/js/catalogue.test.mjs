// i18n: catalogue lookup, English fallback, placeholders, the language choice.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { interpolate, lookup, pickLanguage } from "../../src/domogate/web/static/js/catalogue.js";

const I18N = new URL("../../src/domogate/web/static/i18n/", import.meta.url);
const en = JSON.parse(readFileSync(new URL("en.json", I18N), "utf-8"));
const fr = JSON.parse(readFileSync(new URL("fr.json", I18N), "utf-8"));

test("placeholders are replaced, every occurrence, as text", () => {
  assert.equal(interpolate("{n} + {n} = {sum}", { n: 1, sum: 2 }), "1 + 1 = 2");
  assert.equal(interpolate("Hi {name}", { name: "<b>x</b>" }), "Hi <b>x</b>");
  assert.equal(interpolate("no {vars}"), "no {vars}");
  assert.equal(interpolate("{a}", { a: 0 }), "0");
});

test("the current catalogue first, then English, then the key itself", () => {
  assert.equal(lookup({ k: "fr" }, { k: "en" }, "k"), "fr");
  assert.equal(lookup({}, { k: "en" }, "k"), "en");
  assert.equal(lookup({ k: "" }, { k: "en" }, "k"), "", "an empty translation is a translation");
  assert.equal(lookup({}, {}, "missing.key"), "missing.key");
});

test("the real catalogues: French text with English fallback and placeholders", () => {
  assert.equal(lookup(fr, en, "app.updated", { version: 7 }), fr["app.updated"].replace("{version}", "7"));
  assert.match(lookup(en, en, "app.updated", { version: 7 }), /7/);
  assert.doesNotMatch(lookup(en, en, "app.updated", { version: 7 }), /\{version\}/);
  assert.equal(lookup({}, en, "auth.title"), "Authentication");
});

test("the stored language wins, then the browser's languages by base tag, then English", () => {
  const languages = { en: "English", fr: "Français" };
  assert.equal(pickLanguage("fr", ["en-GB"], languages), "fr");
  assert.equal(pickLanguage(null, ["de-DE", "FR-ca", "en"], languages), "fr");
  assert.equal(pickLanguage("xx", ["de"], languages), "en");
  assert.equal(pickLanguage(null, [], languages), "en");
});
