// The offline page (sw.js builds it when a page of the client cannot be loaded): it says
// the house cannot be reached, in the person's language, and tries again on "Try again"
// or when the device comes back online. The catalogues come from the service worker's cache.

import { clear, h } from "./dom.js";
import { initI18n, t } from "./i18n.js";

const root = document.getElementById("app");

async function reachable() {
  try {
    const res = await fetch("/api/info", { cache: "no-store", credentials: "omit" });
    return res.ok;
  } catch {
    return false;
  }
}

async function retry(button, status) {
  button.disabled = true;
  button.textContent = t("offline.trying");
  status.textContent = "";
  if (await reachable()) {
    location.reload();
    return;
  }
  button.disabled = false;
  button.textContent = t("offline.retry");
  status.textContent = t("offline.still");
}

function render() {
  const status = h("p", { class: "muted", role: "status" });
  const button = h("button", { type: "button", class: "primary", text: t("offline.retry") });
  button.addEventListener("click", () => retry(button, status));
  clear(root).append(
    h(
      "div",
      { class: "splash offline-page" },
      h("img", { src: "/static/icons/icon.svg", alt: "", width: "72", height: "72" }),
      h("h1", { text: t("offline.title") }),
      h("p", { class: "offline-text", text: t("offline.body") }),
      button,
      status,
    ),
  );
  document.title = `${t("offline.title")} · domogate`;
  window.addEventListener("online", () => retry(button, status));
  button.focus();
}

initI18n()
  .catch(() => undefined)
  .then(render);
