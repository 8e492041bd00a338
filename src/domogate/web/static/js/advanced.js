// Advanced settings (administrators): tiles to Manage clients, the Audit log and the
// maintenance page, facts about this session, and a published version waiting (live).

import { h, icon, uid } from "./dom.js";
import { t } from "./i18n.js";
import { show } from "./router.js";
import { session } from "./session.js";
import { on, state } from "./state.js";
import { updateNotices } from "./updates.js";

export function advancedView() {
  const info = session.info || {};
  const rows = [
    [t("adv.server"), info.name || "—"],
    [t("adv.version"), state.project ? String(state.project.version) : "—"],
    [t("adv.you"), `${session.user.name || ""} (${session.user.group})`],
    [t("adv.device"), session.device ? session.device.name : "—"],
    [t("adv.path"), session.path ? t(`path.${session.path}`) : "—"],
  ];
  return h(
    "section",
    { class: "panel", "aria-labelledby": "adv-title" },
    h(
      "div",
      { class: "panel-head" },
      h(
        "button",
        { type: "button", class: "ghost", onclick: () => show("project") },
        icon("back"),
        h("span", { text: t("common.back") }),
      ),
      h("h2", { id: "adv-title", text: t("app.advanced") }),
    ),
    updateNotice(),
    h(
      "div",
      { class: "tiles" },
      tile("button", { onclick: () => show("clients") }, "user", t("adv.manage_clients"), t("adv.manage_clients_hint")),
      tile("button", { onclick: () => show("audit") }, "sensor", t("adv.audit"), t("adv.audit_hint")),
      tile("a", { href: "/maintenance" }, "gear", t("adv.maintenance"), t("adv.maintenance_hint")),
    ),
    h(
      "dl",
      { class: "facts" },
      rows.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]),
    ),
  );
}

/** "Update available: version N" (and the last refusal), kept current by the live
 * `update` message while the view is shown. */
function updateNotice() {
  const box = h("div", { class: "notice update-notice", role: "status", id: "update-notice" });
  const fill = () => {
    const notices = updateNotices(state.update, "advanced");
    box.replaceChildren(...notices.map((n) => h("p", { text: t(n.key, n.vars) })));
    box.hidden = notices.length === 0;
  };
  fill();
  const off = on("update", () => {
    if (!box.isConnected) {
      off();
      return;
    }
    fill();
  });
  return box;
}

/** A big tile whose accessible name is its title alone; the hint is its description. */
function tile(tag, attrs, iconName, title, hint) {
  const hintId = uid("hint");
  return h(
    tag,
    {
      ...attrs,
      type: tag === "button" ? "button" : undefined,
      class: "tile",
      "aria-label": title,
      "aria-describedby": hintId,
    },
    icon(iconName, "icon big"),
    h("span", { class: "tile-title", text: title }),
    h("span", { class: "muted", id: hintId, text: hint }),
  );
}
