// Building the page without HTML strings: every piece of text goes in as a text node,
// so names and labels chosen by people can never become markup or script. Also the shared
// pieces built from them: icons, modal dialogs, downloads.

import { t } from "./i18n.js";

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Close"}, "text", child)
 * Attributes: `class`, `text`, `on<event>` handlers, booleans (true → present), others as-is.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value") el.value = value;
    else if (key === "checked") {
      el.checked = Boolean(value);
      el.defaultChecked = Boolean(value); // form.reset() comes back to it
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let counter = 0;
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** A small inline SVG icon from the sprite (static/icons/sprite.svg is not used: CSP-safe paths). */
const ICONS = {
  bulb: "M9 21h6v-1H9v1zm3-19a7 7 0 0 0-4 12.74V17a1 1 0 0 0 1 1h6a1 1 0 0 0 1-1v-2.26A7 7 0 0 0 12 2z",
  dimmer: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm0 16V5a7 7 0 0 1 0 14z",
  shutter: "M4 3h16v2H4V3zm1 3h14v3H5V6zm0 4h14v3H5v-3zm0 4h14v3H5v-3zm-1 4h16v2H4v-2z",
  thermostat: "M15 13V5a3 3 0 0 0-6 0v8a5 5 0 1 0 6 0zm-3-9a1 1 0 0 1 1 1v3h-2V5a1 1 0 0 1 1-1z",
  scene: "M12 2l2.9 6.9L22 9.6l-5.5 4.8L18.2 22 12 18.3 5.8 22l1.7-7.6L2 9.6l7.1-.7L12 2z",
  sensor: "M3 12h4l3-8 4 16 3-8h4",
  gear: "M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.6 7.6 0 0 0-1.7-1L15 3h-4l-.3 2.9a7.6 7.6 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1a7.6 7.6 0 0 0 1.7 1L11 21h4l.3-2.9a7.6 7.6 0 0 0 1.7-1l2.5 1 2-3.5-2.1-1.6zM13 15.5a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z",
  user: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-4 0-8 2-8 5v1h16v-1c0-3-4-5-8-5z",
  up: "M12 6l-7 7h14z",
  down: "M12 18l7-7H5z",
  stop: "M7 7h10v10H7z",
  minus: "M5 11h14v2H5z",
  plus: "M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z",
  back: "M15 5l-7 7 7 7",
  close: "M6 6l12 12M18 6L6 18",
};

export function icon(name, cls = "icon") {
  return svgIcon(ICONS[name] || ICONS.sensor, cls, ["sensor", "back", "close"].includes(name));
}

/** A decorative 24×24 inline SVG drawing the path `d` (stroked rather than filled). */
export function svgIcon(d, cls = "icon", stroke = false) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  if (stroke) path.setAttribute("class", "stroke");
  svg.append(path);
  return svg;
}

/** A modal dialog with a title and a Close button; removed from the page once closed. */
export function modal(title, ...content) {
  const titleId = uid("dlg");
  const dialog = h(
    "dialog",
    { class: "sheet", "aria-labelledby": titleId },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: titleId, text: title }),
      h(
        "button",
        { type: "button", class: "icon-button ghost", "aria-label": t("common.close"), onclick: () => dialog.close() },
        icon("close"),
      ),
    ),
    ...content,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    document.body.classList.remove("printing");
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Save `blob` as `filename` (through a temporary link). */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
