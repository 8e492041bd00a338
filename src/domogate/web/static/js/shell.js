// The signed-in page around the views: the top bar (project name and version, connection,
// the path chip (Local / Cloud / switching), bus and cloud-link status, Advanced settings,
// the user menu), the main area that shows the router's view, and toasts.

import { advancedView } from "./advanced.js";
import { auditView } from "./audit.js";
import { clientsView } from "./clients.js";
import { clear, h, icon } from "./dom.js";
import { availableLanguages, currentLanguage, setLanguage, t } from "./i18n.js";
import { liveOpen, sendCommand } from "./livesession.js";
import { pathIcon } from "./pathchoice.js";
import { chipOf } from "./pathview.js";
import { dropCards, projectView } from "./projectview.js";
import { currentView, onNavigate, parentOf, settleView, show } from "./router.js";
import { session } from "./session.js";
import { on, state } from "./state.js";

const root = document.getElementById("app");
const parts = {}; // connection, bus, main, toasts, closeMenu
let signOut = () => undefined;

/** `onSignOut` runs when the user presses Sign out in the user menu. */
export function configureShell({ onSignOut }) {
  signOut = onSignOut;
}

onNavigate(() => render());
on("bus", () => renderBus());
on("cloud", () => renderCloud());
on("path", () => renderPath());
document.addEventListener("click", (event) => {
  if (parts.closeMenu) parts.closeMenu(event);
});

export function render() {
  clear(root);
  dropCards();
  const p = state.project;
  const view = settleView(Boolean(session.user?.admin));
  parts.connection = h("span", { class: "conn", role: "status" });
  parts.path = h("span", { class: "path-chip", role: "status", hidden: true });
  parts.bus = h("span", { class: "bus-state", hidden: true });
  parts.cloud = h("span", { class: "bus-state cloud-state", hidden: true });
  const actions = h("div", { class: "top-actions" }, parts.connection, parts.path, parts.bus, parts.cloud);
  if (session.user?.admin) {
    actions.append(
      h(
        "button",
        {
          type: "button",
          class: "ghost",
          "aria-pressed": view !== "project" ? "true" : "false",
          onclick: () => show(currentView() === "project" ? "advanced" : "project"),
        },
        icon("gear"),
        h("span", { class: "label", text: t("app.advanced") }),
      ),
    );
  }
  actions.append(userMenu());
  const header = h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "brand" },
      h("img", { src: "/static/icons/icon.svg", alt: "", width: "32", height: "32" }),
      h(
        "div",
        {},
        h("h1", { text: p ? p.name : session.info.name || "domogate" }),
        h("span", { class: "version", text: p ? t("app.version", { version: p.version }) : t("app.no_project") }),
      ),
    ),
    actions,
  );
  parts.main = h("main", { id: "main", tabindex: "-1" });
  parts.toasts = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
  root.append(h("a", { class: "skip", href: "#main", text: t("app.skip") }), header, parts.main, parts.toasts);
  renderPath();
  renderBus();
  renderCloud();
  setConnection(liveOpen());
  parts.main.append(viewOf(view));
}

function viewOf(view) {
  const onBack = () => show(parentOf(view));
  if (view === "clients") return clientsView({ onBack });
  if (view === "audit") return auditView({ onBack });
  if (view === "advanced") return advancedView();
  return projectView(sendCommand);
}

function userMenu() {
  const langSelect = h(
    "select",
    { id: "lang-select" },
    Object.entries(availableLanguages()).map(([code, name]) =>
      h("option", { value: code, text: name, selected: code === currentLanguage() }),
    ),
  );
  langSelect.addEventListener("change", async () => {
    await setLanguage(langSelect.value);
    render();
  });
  const user = session.user || {};
  const menu = h(
    "div",
    { class: "menu", id: "user-menu", hidden: true },
    h(
      "p",
      { class: "menu-user" },
      h("strong", { text: user.name || "" }),
      h("span", { class: "muted", text: ` · ${user.group || ""}` }),
    ),
    h("div", { class: "field" }, h("label", { for: "lang-select", text: t("app.language") }), langSelect),
    h("button", { type: "button", class: "wide", onclick: () => signOut(), text: t("app.sign_out") }),
  );
  const button = h(
    "button",
    { type: "button", class: "ghost user-button", "aria-expanded": "false", "aria-controls": "user-menu" },
    icon("user"),
    h("span", { class: "label", text: user.name || "" }),
  );
  const setOpen = (open) => {
    menu.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
  };
  button.addEventListener("click", () => setOpen(menu.hidden));
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      setOpen(false);
      button.focus();
    }
  });
  parts.closeMenu = (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !button.contains(event.target)) setOpen(false);
  };
  return h("div", { class: "menu-wrap" }, button, menu);
}

function renderBus() {
  if (!parts.bus) return;
  const bus = state.bus;
  parts.bus.hidden = !(bus && session.user?.admin);
  if (!bus) return;
  parts.bus.className = `bus-state ${bus.connected ? "up" : "down"}`;
  const text = bus.connected ? t("bus.up", { adapter: bus.adapter }) : t("bus.down", { adapter: bus.adapter });
  clear(parts.bus).append(h("span", { class: "label", text }));
  parts.bus.title = bus.detail ? `${text} — ${bus.detail}` : text;
}

// The path chip: "Local" or "Cloud" (an icon and the word, never colour alone), and
// "Switching to Cloud…" while a switch is under way (phones show "Cloud…" and the turning
// icon). A status region: a screen reader reads "Connection: Local" and each change, in
// the long form on every screen.
function renderPath() {
  if (!parts.path) return;
  const chip = session.user ? chipOf(state.path, session.path, session.info) : null;
  parts.path.hidden = !chip;
  if (!chip) return;
  const kind = chip.switching ? "switching" : chip.path;
  parts.path.className = `path-chip ${kind}`;
  parts.path.dataset.path = chip.path || "";
  parts.path.dataset.switching = chip.switching || "";
  const target = chip.switching ? t(`path.${chip.switching}`) : "";
  const long = chip.switching ? t("path.switching", { path: target }) : t(`path.${chip.path}`);
  const short = chip.switching ? t("path.switching_short", { path: target }) : long;
  clear(parts.path).append(
    pathIcon(kind),
    h("span", { class: "sr-only", text: t("path.chip") }),
    h("span", { class: "path-long", text: long }),
    h("span", { class: "path-short", "aria-hidden": "true", text: short }),
  );
  parts.path.title = chip.switching
    ? t("path.switching_title", { from: chip.path ? t(`path.${chip.path}`) : "—", path: target })
    : t(`path.${chip.path}_title`);
}

function renderCloud() {
  if (!parts.cloud) return;
  const cloud = state.cloud;
  parts.cloud.hidden = !(cloud && cloud.status !== "disabled" && session.user?.admin);
  if (!cloud) return;
  const up = cloud.status === "linked";
  parts.cloud.className = `bus-state cloud-state ${up ? "up" : "down"}`;
  const text = t(`cloud.${cloud.status}`);
  clear(parts.cloud).append(h("span", { class: "label", text }));
  const detail = up ? cloud.url : cloud.message;
  parts.cloud.title = detail ? `${text} — ${detail}` : text;
}

export function setConnection(up) {
  if (!parts.connection) return;
  parts.connection.textContent = up ? "" : t("app.reconnecting");
  parts.connection.classList.toggle("visible", !up);
}

export function toast(text, kind = "info") {
  if (!parts.toasts) return;
  const item = h("div", { class: `toast ${kind}`, text });
  parts.toasts.append(item);
  setTimeout(() => item.remove(), 6000);
}
