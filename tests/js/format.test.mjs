// How values, times, fingerprints and file names are shown.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  auditFileName,
  auditWho,
  formatFingerprint,
  formatTarget,
  formatTime,
  formatValue,
  qrFileBase,
  sceneNumber,
  stepTarget,
  unitOf,
} from "../../src/domogate/web/static/js/format.js";

const words = { on: "On", off: "Off" };

test("units come from the datapoint type", () => {
  assert.equal(unitOf("9.001"), "°C");
  assert.equal(unitOf("5.001"), "%");
  assert.equal(unitOf("13.013"), "kWh");
  // keys with trailing zeros are not numbers: "9.020" is not "9.02"
  assert.equal(unitOf("9.020"), "mV");
  assert.equal(unitOf("12.1200"), "l");
  assert.equal(unitOf("9.02"), "");
  assert.equal(unitOf("1.001"), "");
  assert.equal(unitOf(undefined), "");
});

test("read-only values: unknown, on/off, numbers with unit and language, objects, text", () => {
  assert.equal(formatValue(null, "9.001", "en", words), "—");
  assert.equal(formatValue(undefined, "9.001", "en", words), "—");
  assert.equal(formatValue(true, "1.001", "en", words), "On");
  assert.equal(formatValue(false, "1.001", "en", words), "Off");
  assert.equal(formatValue(21.456, "9.001", "en", words), "21.46 °C");
  assert.equal(formatValue(21.5, "9.001", "fr", words), "21,5 °C");
  assert.equal(formatValue(40, "5.001", "en", words), "40 %");
  assert.equal(formatValue(3, "7.001", "en", words), "3");
  assert.equal(formatValue({ a: 1 }, null, "en", words), '{"a":1}');
  assert.equal(formatValue("auto", null, "en", words), "auto");
});

test("thermostat set points: one decimal, steps of 0.5 °C from 20 °C when unknown", () => {
  assert.equal(formatTarget(21.5, "en"), "21.5 °C");
  assert.equal(formatTarget(null, "en"), "—");
  assert.equal(stepTarget(21, 0.5), 21.5);
  assert.equal(stepTarget(21.3, 0.5), 22);
  assert.equal(stepTarget(null, -0.5), 19.5);
});

test("scene numbers are whole numbers from 1 to 64", () => {
  assert.equal(sceneNumber("5"), 5);
  assert.equal(sceneNumber("2.6"), 3);
  assert.equal(sceneNumber("0"), 1);
  assert.equal(sceneNumber("200"), 64);
  assert.equal(sceneNumber(""), 1);
  assert.equal(sceneNumber("abc"), 1);
});

test("times: the hour today, the day and month otherwise, nothing for no time", () => {
  const now = new Date(2025, 5, 14, 18, 0);
  assert.equal(formatTime(new Date(2025, 5, 14, 9, 5).toISOString(), "en-GB", now), "09:05");
  assert.equal(formatTime(new Date(2025, 2, 3, 9, 5).toISOString(), "en-GB", now), "3 Mar, 09:05");
  assert.equal(formatTime("", "en", now), "");
  assert.equal(formatTime(null, "en", now), "");
  assert.equal(formatTime("not a date", "en", now), "");
});

test("fingerprints in pairs, file names without odd characters", () => {
  assert.equal(formatFingerprint("ab12cd3"), "ab:12:cd:3");
  assert.equal(formatFingerprint(null), null);
  assert.equal(qrFileBase("Ann Lee/../x"), "domogate-Ann_Lee_x");
  assert.equal(qrFileBase("K7QM-2XPA"), "domogate-K7QM-2XPA");
  assert.equal(auditFileName(new Date("2025-06-14T23:30:00Z")), "domogate-audit-2025-06-14.jsonl");
});

test("an audit event's who and where", () => {
  const e = { actor_name: "alice", target_name: "bob", source: "127.0.0.1", path: "local" };
  assert.equal(auditWho(e), "alice · → bob · 127.0.0.1 · local");
  assert.equal(auditWho({ ...e, target_name: "alice" }), "alice · 127.0.0.1 · local");
  assert.equal(auditWho({ actor_name: null, source: "10.0.0.2" }), "10.0.0.2");
});
