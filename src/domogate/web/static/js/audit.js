// The audit trail: one list item per event, Advanced settings → Audit log (the latest
// events, and the whole log as JSON lines), and a user's history in Manage clients. The
// maintenance page shows its recent events with the same items.

import { api, apiBlob } from "./api.js";
import { clear, download, h, icon, modal } from "./dom.js";
import { auditFileName, auditWho } from "./format.js";
import { formatTime, t } from "./i18n.js";
import { errorMessage } from "./messages.js";
import { session } from "./session.js";

export function auditItem(e) {
  return h(
    "li",
    { class: `audit ${e.outcome === "ok" ? "ok" : "failed"}` },
    h("time", { datetime: e.at, text: formatTime(e.at) }),
    h("span", { class: "audit-action", text: e.action }),
    h("span", { class: "audit-outcome", text: e.outcome }),
    h("span", { class: "muted", text: auditWho(e) }),
  );
}

function fill(list, events) {
  clear(list);
  if (!events.length) list.append(h("li", { class: "muted", text: t("history.empty") }));
  for (const e of events) list.append(auditItem(e));
}

function failed(list, err) {
  clear(list).append(h("li", { class: "form-error", text: errorMessage(err) }));
}

/** Manage clients → History: the audit trail of one client (user). */
export async function historyDialog(c) {
  const list = h("ol", { class: "audit-list" }, h("li", { class: "muted", text: t("common.loading") }));
  modal(t("history.title", { label: c.label }), list);
  try {
    const data = await api("GET", `/api/audit?limit=100&user_id=${encodeURIComponent(c.id)}`, { token: session.token });
    fill(list, data.events);
  } catch (err) {
    failed(list, err);
  }
}

/** Advanced settings → Audit log: the latest events, and the whole log as JSON lines. */
export function auditView({ onBack }) {
  const list = h("ol", { class: "audit-list tall" }, h("li", { class: "muted", text: t("common.loading") }));
  const status = h("p", { class: "form-error", role: "alert" });
  const exportButton = h("button", { type: "button", class: "secondary", text: t("audit.export") });
  exportButton.addEventListener("click", async () => {
    status.textContent = "";
    try {
      const blob = await apiBlob("/api/audit.jsonl", session.token);
      download(blob, auditFileName(new Date()));
    } catch (err) {
      status.textContent = errorMessage(err);
    }
  });
  api("GET", "/api/audit?limit=200", { token: session.token })
    .then((data) => fill(list, data.events))
    .catch((err) => failed(list, err));
  return h(
    "section",
    { class: "panel", "aria-labelledby": "audit-title" },
    h(
      "div",
      { class: "panel-head" },
      h(
        "button",
        { type: "button", class: "ghost", onclick: onBack },
        icon("back"),
        h("span", { text: t("common.back") }),
      ),
      h("h2", { id: "audit-title", text: t("adv.audit") }),
      exportButton,
    ),
    status,
    h("div", { class: "card" }, list),
  );
}
