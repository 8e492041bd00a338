// How values are shown: numbers, units, times, fingerprints, file names. Pure functions
// (the language is a parameter), so they are tested with Node's test runner.

const UNITS = {
  "5.001": "%",
  "5.004": "%",
  "6.001": "%",
  "8.010": "%",
  "9.001": "°C",
  "9.002": "K",
  "9.004": "lx",
  "9.005": "m/s",
  "9.006": "Pa",
  "9.007": "%",
  "9.008": "ppm",
  "9.020": "mV",
  "9.021": "mA",
  "9.024": "kW",
  "9.025": "l/h",
  "9.027": "°F",
  "12.1200": "l",
  "13.010": "Wh",
  "13.013": "kWh",
  "14.019": "A",
  "14.027": "V",
  "14.056": "W",
  "14.065": "m/s",
  "14.068": "°C",
};

/** The unit of a KNX datapoint type ("9.001" → "°C"), or "". */
export function unitOf(dpt) {
  return UNITS[dpt] || "";
}

export function formatNumber(value, lang, digits = 1) {
  return new Intl.NumberFormat(lang, {
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  }).format(value);
}

/** A read-only attribute's value: "—" when unknown, on/off words, a number with its unit. */
export function formatValue(value, dpt, lang, words) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? words.on : words.off;
  if (typeof value === "number") {
    const unit = unitOf(dpt);
    return `${formatNumber(value, lang, 2)}${unit ? ` ${unit}` : ""}`;
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A thermostat's set point: "21.5 °C", or "—" while unknown. */
export function formatTarget(value, lang) {
  return typeof value === "number" ? `${formatNumber(value, lang, 1)} °C` : "—";
}

/** The set point one step away: steps of 0.5 °C from the current one (20 °C when unknown). */
export function stepTarget(current, delta) {
  const base = typeof current === "number" ? current : 20;
  return Math.round((base + delta) * 2) / 2;
}

/** A scene number as typed → 1…64. */
export function sceneNumber(raw) {
  return Math.min(64, Math.max(1, Math.round(Number(raw) || 1)));
}

/** A time: hours and minutes today, with the day and month otherwise; "" when not a time. */
export function formatTime(iso, lang, now = new Date()) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const sameDay = date.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(lang, opts).format(date);
}

/** A certificate fingerprint in hex → "ab:cd:…"; null stays null. */
export function formatFingerprint(hex) {
  return hex ? hex.match(/.{1,2}/g).join(":") : null;
}

/** The file name (without extension) of a client's QR code downloads. */
export function qrFileBase(name) {
  return `domogate-${name.replace(/[^A-Za-z0-9_-]+/g, "_")}`;
}

/** The file name of the exported audit log, dated in UTC. */
export function auditFileName(date) {
  return `domogate-audit-${date.toISOString().slice(0, 10)}.jsonl`;
}

/** Who and from where, for one audit event: "alice · → bob · 127.0.0.1 · local". */
export function auditWho(event) {
  const who = [
    event.actor_name,
    event.target_name && event.target_name !== event.actor_name ? `→ ${event.target_name}` : null,
    event.source,
    event.path,
  ];
  return who.filter(Boolean).join(" · ");
}
