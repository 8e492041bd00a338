// The domogate web client: start-up, sign-in, the project view and the live channel.

import { api, serverNow } from "./api.js";
import { authIsOpen, closeAuth, openAuth } from "./auth.js";
import { auditView, clientsView, setClients } from "./clients.js";
import { clear, h, icon, uid } from "./dom.js";
import { availableLanguages, currentLanguage, initI18n, setLanguage, t } from "./i18n.js";
import { Live } from "./live.js";
import { errorMessage } from "./messages.js";
import { objectCard } from "./objects.js";
import {
  automaticEnabled,
  dropSession,
  fetchInfo,
  forgetDevice,
  logout,
  otpEnabled,
  session,
  signInWithDevice,
  storedDevice,
} from "./session.js";

const app = {
  project: null,
  states: {},
  cards: new Map(),
  page: null,
  view: "project", // "project" | "advanced" | "clients" | "audit"
  bus: null,
  live: null,
  liveReady: false,
  pending: new Map(),
  commandSeq: 0,
  refreshTimer: null,
  reconnectTimer: null,
  reconnectDelay: 1000,
  started: false,
};

const root = document.getElementById("app");

// --- start ---------------------------------------------------------------------------

function readJoinFragment() {
  if (location.pathname !== "/join" || !location.hash) return null;
  const fields = new URLSearchParams(location.hash.slice(1));
  // Take the OTP out of the address bar and the history at once.
  history.replaceState(null, "", "/");
  return { server: fields.get("s"), otp: fields.get("otp"), name: fields.get("n") };
}

async function boot(pendingJoin = null) {
  await initI18n();
  // The fragment is read once and then removed from the address bar: a retry keeps it here.
  const join = pendingJoin || readJoinFragment();
  renderSplash();
  try {
    await fetchInfo();
  } catch (err) {
    renderUnreachable(err, join);
    return;
  }
  document.title = session.info.name ? `${session.info.name} · domogate` : "domogate";
  if (join?.otp) {
    const other = join.server && join.server !== session.serverId;
    let error = other ? { code: "join_other_server" } : null;
    if (!otpEnabled()) error = { code: "otp_disabled" };
    openAuth({ mode: "otp", otp: join.otp, error, onSignedIn: enterApp });
    return;
  }
  await signInOrAsk();
}

async function signInOrAsk(error = null) {
  const record = await storedDevice();
  if (!error && record && record.deviceId && automaticEnabled()) {
    try {
      const auth = await signInWithDevice();
      if (auth) {
        enterApp();
        return;
      }
    } catch (err) {
      if (err.code === "revoked" || err.code === "not_found" || err.code === "signature_invalid") await forgetDevice();
      error = err;
    }
  }
  renderSplash();
  openAuth({ username: record ? record.username : "", error, onSignedIn: enterApp });
}

function renderSplash() {
  clear(root).append(
    h(
      "div",
      { class: "splash" },
      h("img", { src: "/static/icons/icon.svg", alt: "", width: "72", height: "72" }),
      h("p", { class: "muted", text: t("app.loading") }),
    ),
  );
}

function renderUnreachable(err, join) {
  clear(root).append(
    h(
      "div",
      { class: "splash" },
      h("img", { src: "/static/icons/icon.svg", alt: "", width: "72", height: "72" }),
      h("p", { role: "alert", class: "alert", text: errorMessage(err) }),
      h("button", { type: "button", class: "primary", text: t("common.retry"), onclick: () => boot(join) }),
    ),
  );
}

// --- signed in -----------------------------------------------------------------------

async function enterApp() {
  closeAuth();
  app.started = true;
  scheduleRefresh();
  await loadProject();
  connectLive();
}

async function loadProject() {
  try {
    app.project = await api("GET", "/api/project", { token: session.token });
  } catch (err) {
    if (err.code === "not_found") app.project = null;
    else if (["unauthenticated", "revoked", "account_expired"].includes(err.code)) return signedOut(err);
    else toast(errorMessage(err), "error");
  }
  render();
}

function scheduleRefresh() {
  clearTimeout(app.refreshTimer);
  if (!session.expiresAt) return;
  const due = new Date(session.expiresAt).getTime() - serverNow() - 60000;
  app.refreshTimer = setTimeout(refreshSession, Math.max(5000, due));
}

async function refreshSession() {
  try {
    const auth = await signInWithDevice();
    if (!auth) return;
    app.live.send({ type: "auth", token: session.token });
    scheduleRefresh();
  } catch (err) {
    if (err.code === "revoked" || err.code === "account_expired") signedOut(err);
    // Otherwise the session runs to its end; the live channel then says so (4401).
  }
}

async function signedOut(error) {
  app.started = false;
  clearTimeout(app.refreshTimer);
  clearTimeout(app.reconnectTimer);
  if (app.live) app.live.close();
  dropSession();
  if (error && error.code === "revoked") await forgetDevice();
  const record = await storedDevice();
  openAuth({
    username: record?.username || session.user?.name || "",
    error,
    onSignedIn: enterApp,
  });
}

// --- live channel --------------------------------------------------------------------

function connectLive() {
  app.liveReady = false;
  if (!app.live) app.live = new Live({ onMessage, onClose });
  app.live.connect(session.token);
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      app.liveReady = true;
      app.reconnectDelay = 1000;
      setConnection(true);
      if (message.session?.expires_at) {
        session.expiresAt = message.session.expires_at;
        scheduleRefresh();
      }
      if (app.project && message.project_version !== undefined && message.project_version !== app.project.version) {
        projectChanged(message.project_version);
      }
      break;
    case "clients":
      setClients(message.clients);
      break;
    case "project":
      projectChanged(message.version);
      break;
    case "states":
      app.states = { ...app.states, ...(message.states || {}) };
      for (const [id, card] of app.cards) card.update(app.states[id]);
      break;
    case "state":
      app.states[message.object] = message.state;
      if (app.cards.has(message.object)) app.cards.get(message.object).update(message.state);
      break;
    case "bus":
      app.bus = message;
      renderBus();
      break;
    case "result": {
      const waiter = app.pending.get(message.id);
      if (waiter) {
        app.pending.delete(message.id);
        waiter(message);
      }
      break;
    }
    default:
      break;
  }
}

function onClose(code, error) {
  app.liveReady = false;
  for (const waiter of app.pending.values()) waiter({ ok: false, error: { code: "offline" } });
  app.pending.clear();
  if (!app.started) return;
  if (code === 4403) {
    signedOut(error || { code: "revoked" });
    return;
  }
  setConnection(false);
  const delay = app.reconnectDelay;
  app.reconnectDelay = Math.min(30000, app.reconnectDelay * 2);
  clearTimeout(app.reconnectTimer);
  app.reconnectTimer = setTimeout(() => reconnect(code), delay);
}

async function reconnect(code) {
  if (!app.started) return;
  const expired = code === 4401 || (session.expiresAt && new Date(session.expiresAt).getTime() < serverNow() + 5000);
  if (expired) {
    try {
      const auth = await signInWithDevice();
      if (!auth) return signedOut({ code: "session_ended" });
      scheduleRefresh();
    } catch (err) {
      if (err.code === "unreachable") return onClose(1006, null);
      return signedOut(err.code === "automatic_authentication_disabled" ? { code: "session_ended" } : err);
    }
  }
  connectLive();
}

async function projectChanged(version) {
  if (app.project && app.project.version === version) return;
  await loadProject();
  toast(t("app.updated", { version }));
}

/** Resolves true once the live channel has said hello (or false after `ms`). */
function liveReady(ms) {
  if (app.liveReady) return Promise.resolve(true);
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = () => {
      if (app.liveReady) resolve(true);
      else if (Date.now() - started > ms) resolve(false);
      else setTimeout(poll, 50);
    };
    poll();
  });
}

async function sendCommand(objectId, attribute, value) {
  app.commandSeq += 1;
  const id = `c${app.commandSeq}`;
  await liveReady(3000);
  return new Promise((resolve) => {
    if (!app.live?.send({ type: "command", id, object: objectId, attribute, value })) {
      resolve({ ok: false, error: { code: "offline" } });
      return;
    }
    const timer = setTimeout(() => {
      app.pending.delete(id);
      resolve({ ok: false, error: { code: "timeout" } });
    }, 10000);
    app.pending.set(id, (message) => {
      clearTimeout(timer);
      resolve(message);
    });
  });
}

// --- rendering -----------------------------------------------------------------------

const shell = {};

function render() {
  clear(root);
  app.cards.clear();
  const p = app.project;
  shell.connection = h("span", { class: "conn", role: "status" });
  shell.bus = h("span", { class: "bus-state", hidden: true });
  const actions = h("div", { class: "top-actions" }, shell.connection, shell.bus);
  if (session.user?.admin) {
    actions.append(
      h(
        "button",
        {
          type: "button",
          class: "ghost",
          "aria-pressed": app.view !== "project" ? "true" : "false",
          onclick: () => show(app.view === "project" ? "advanced" : "project"),
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
  shell.main = h("main", { id: "main", tabindex: "-1" });
  shell.toasts = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
  root.append(h("a", { class: "skip", href: "#main", text: t("app.skip") }), header, shell.main, shell.toasts);
  renderBus();
  setConnection(Boolean(app.live?.open));
  renderView();
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
    h("button", { type: "button", class: "wide", onclick: signOutClicked, text: t("app.sign_out") }),
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
  shell.closeMenu = (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !button.contains(event.target)) setOpen(false);
  };
  return h("div", { class: "menu-wrap" }, button, menu);
}

function show(view) {
  app.view = view;
  render();
}

function renderView() {
  const main = shell.main;
  clear(main);
  if (app.view === "clients" && session.user && session.user.admin) {
    main.append(clientsView({ onBack: () => show("advanced") }));
    return;
  }
  if (app.view === "audit" && session.user && session.user.admin) {
    main.append(auditView({ onBack: () => show("advanced") }));
    return;
  }
  if (app.view === "advanced" && session.user && session.user.admin) {
    main.append(advancedView());
    return;
  }
  app.view = "project";
  main.append(projectView());
}

function advancedView() {
  const info = session.info || {};
  const rows = [
    [t("adv.server"), info.name || "—"],
    [t("adv.version"), app.project ? String(app.project.version) : "—"],
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

function projectView() {
  const p = app.project;
  if (!p)
    return h(
      "div",
      { class: "empty-state" },
      h("h2", { text: t("app.no_project") }),
      h("p", { class: "muted", text: t("app.no_project_hint") }),
    );
  const pages = p.pages.filter((pg) => p.objects.some((o) => o.page === pg.id));
  if (!pages.length)
    return h(
      "div",
      { class: "empty-state" },
      h("h2", { text: t("app.nothing") }),
      h("p", { class: "muted", text: t("app.nothing_hint") }),
    );
  if (!pages.some((pg) => pg.id === app.page)) app.page = pages[0].id;
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("app.pages") });
  const panel = h("section", { class: "page", role: "tabpanel", id: "page-panel", tabindex: "0" });
  const buttons = pages.map((pg) =>
    h("button", {
      type: "button",
      role: "tab",
      id: `tab-${pg.id}`,
      "aria-controls": "page-panel",
      "aria-selected": pg.id === app.page ? "true" : "false",
      tabindex: pg.id === app.page ? "0" : "-1",
      text: pg.title,
      onclick: () => selectPage(pg.id),
    }),
  );
  tabs.append(...buttons);
  tabs.addEventListener("keydown", (event) => {
    const i = pages.findIndex((pg) => pg.id === app.page);
    let next = null;
    if (event.key === "ArrowRight") next = (i + 1) % pages.length;
    else if (event.key === "ArrowLeft") next = (i - 1 + pages.length) % pages.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = pages.length - 1;
    if (next === null) return;
    event.preventDefault();
    selectPage(pages[next].id);
    document.getElementById(`tab-${pages[next].id}`).focus();
  });
  function selectPage(id) {
    app.page = id;
    for (const b of buttons) {
      const on = b.id === `tab-${id}`;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
    }
    fillPanel();
  }
  function fillPanel() {
    clear(panel);
    app.cards.clear();
    panel.setAttribute("aria-labelledby", `tab-${app.page}`);
    const grid = h("div", { class: "grid" });
    for (const obj of p.objects.filter((o) => o.page === app.page)) {
      const card = objectCard(obj, sendCommand);
      card.update(app.states[obj.id]);
      app.cards.set(obj.id, card);
      grid.append(card.el);
    }
    panel.append(grid);
  }
  fillPanel();
  return h("div", { class: "project" }, pages.length > 1 ? tabs : null, panel);
}

function renderBus() {
  if (!shell.bus) return;
  const bus = app.bus;
  shell.bus.hidden = !(bus && session.user?.admin);
  if (!bus) return;
  shell.bus.className = `bus-state ${bus.connected ? "up" : "down"}`;
  const text = bus.connected ? t("bus.up", { adapter: bus.adapter }) : t("bus.down", { adapter: bus.adapter });
  clear(shell.bus).append(h("span", { class: "label", text }));
  shell.bus.title = bus.detail ? `${text} — ${bus.detail}` : text;
}

function setConnection(up) {
  if (!shell.connection) return;
  shell.connection.textContent = up ? "" : t("app.reconnecting");
  shell.connection.classList.toggle("visible", !up);
}

function toast(text, kind = "info") {
  if (!shell.toasts) return;
  const item = h("div", { class: `toast ${kind}`, text });
  shell.toasts.append(item);
  setTimeout(() => item.remove(), 6000);
}

async function signOutClicked() {
  app.started = false;
  if (app.live) app.live.close();
  clearTimeout(app.refreshTimer);
  await logout();
  renderSplash();
  const record = await storedDevice();
  openAuth({ username: record?.username || "", onSignedIn: enterApp });
}

document.addEventListener("click", (event) => {
  if (shell.closeMenu) shell.closeMenu(event);
});

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js").catch(() => undefined);
}

boot().catch((err) => {
  if (!authIsOpen()) renderUnreachable(err, null);
});
