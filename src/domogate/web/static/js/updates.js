// Published versions as administrators are told of them (the live `update` message, the
// maintenance page's `update`): which lines to show, as i18n keys with their values. Pure.

/**
 * The notices of an update status `{available, published_at, refused}` (or null):
 * `[{key, vars}]`, the available version first, then the last refusal.
 * `where`: "advanced" (apply it from the maintenance page) or "maintenance" (here).
 */
export function updateNotices(update, where = "advanced") {
  const notices = [];
  if (!update) return notices;
  if (Number.isInteger(update.available)) {
    const key = where === "maintenance" ? "update.available_here" : "update.available";
    notices.push({ key, vars: { version: update.available } });
  }
  const refused = update.refused;
  if (refused && Number.isInteger(refused.version)) {
    notices.push({
      key: "update.refused",
      vars: { version: refused.version, message: refused.message || refused.code || "" },
    });
  }
  return notices;
}
