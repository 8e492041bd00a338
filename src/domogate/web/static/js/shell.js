// The signed-in page around the views: the top bar (project name and version, connection
// and bus status, Advanced settings, the user menu), the main area that shows the router's
// view, and toasts.

import { advancedView } from "./advanced.js";
import { auditView } from "./audit.js";
import { clientsView } from "./clients.js";
import { clear, h, icon } from "./dom.js";
import { availableLanguages, currentLanguage, setLanguage, t } from "./i18n.js";
import { liveOpen, sendCommand } from "./livesession.js";
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
document.addEventListener("click", (event) => {
  if (parts.closeMenu) parts.closeMenu(event);
});

export function render() {
  clear(root);
  dropCards();
  const p = state.project;
  const view = settleView(Boolean(session.user?.admin));
  parts.connection = h("span", { class: "conn", role: "status" });
  parts.bus = h("span", { class: "bus-state", hidden: true });
  parts.cloud = h("span", { class: "bus-state cloud-state", hidden: true });
  const actions = h("div", { class: "top-actions" }, parts.connection, parts.bus, parts.cloud);
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
