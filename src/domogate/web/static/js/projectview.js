// The project view: one tab per page (arrow keys, Home and End move between them) and one
// card per object on the selected page. Cards follow the objects' states in state.js.

import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { objectCard } from "./objects.js";
import { on, state } from "./state.js";

const cards = new Map(); // object id → card of the page shown
let page = null; // the selected page's id, kept across renders

on("states", () => {
  for (const [id, card] of cards) card.update(state.states[id]);
});
on("state", (id) => {
  if (cards.has(id)) cards.get(id).update(state.states[id]);
});

/** The view is gone (another screen): its cards no longer follow the states. */
export function dropCards() {
  cards.clear();
}

function emptyState(title, hint) {
  return h("div", { class: "empty-state" }, h("h2", { text: title }), h("p", { class: "muted", text: hint }));
}

/** The tab index that `key` moves to from `index` among `count` tabs, or null. */
export function tabTarget(key, index, count) {
  if (key === "ArrowRight") return (index + 1) % count;
  if (key === "ArrowLeft") return (index - 1 + count) % count;
  if (key === "Home") return 0;
  if (key === "End") return count - 1;
  return null;
}

/** `send(objectId, attribute, value)` carries the cards' commands (livesession.sendCommand). */
export function projectView(send) {
  const p = state.project;
  if (!p) return emptyState(t("app.no_project"), t("app.no_project_hint"));
  const pages = p.pages.filter((pg) => p.objects.some((o) => o.page === pg.id));
  if (!pages.length) return emptyState(t("app.nothing"), t("app.nothing_hint"));
  if (!pages.some((pg) => pg.id === page)) page = pages[0].id;
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("app.pages") });
  const panel = h("section", { class: "page", role: "tabpanel", id: "page-panel", tabindex: "0" });
  const buttons = pages.map((pg) =>
    h("button", {
      type: "button",
      role: "tab",
      id: `tab-${pg.id}`,
      "aria-controls": "page-panel",
      "aria-selected": pg.id === page ? "true" : "false",
      tabindex: pg.id === page ? "0" : "-1",
      text: pg.title,
      onclick: () => selectPage(pg.id),
    }),
  );
  tabs.append(...buttons);
  tabs.addEventListener("keydown", (event) => {
    const next = tabTarget(
      event.key,
      pages.findIndex((pg) => pg.id === page),
      pages.length,
    );
    if (next === null) return;
    event.preventDefault();
    selectPage(pages[next].id);
    document.getElementById(`tab-${pages[next].id}`).focus();
  });
  function selectPage(id) {
    page = id;
    for (const b of buttons) {
      const selected = b.id === `tab-${id}`;
      b.setAttribute("aria-selected", selected ? "true" : "false");
      b.tabIndex = selected ? 0 : -1;
    }
    fillPanel();
  }
  function fillPanel() {
    clear(panel);
    cards.clear();
    panel.setAttribute("aria-labelledby", `tab-${page}`);
    const grid = h("div", { class: "grid" });
    for (const obj of p.objects.filter((o) => o.page === page)) {
      const card = objectCard(obj, send);
      card.update(state.states[obj.id]);
      cards.set(obj.id, card);
      grid.append(card.el);
    }
    panel.append(grid);
  }
  fillPanel();
  return h("div", { class: "project" }, pages.length > 1 ? tabs : null, panel);
}
