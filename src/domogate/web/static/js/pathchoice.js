// The Local/Cloud choice (automatic connection off): a short modal dialog, the same look
// as the authentication popup, with one button per path offered. Each button says whether
// its path answers (checking… → answers / does not answer); a path that does not answer can
// still be chosen. Also the paths' icons, shared with the header's path chip.
//
// choosePath stands alone: the failover code imports it dynamically, before or after the
// catalogues are loaded.

import { h, svgIcon, uid } from "./dom.js";
import { initI18n, t } from "./i18n.js";
import { answerKind } from "./pathview.js";

export const PATHS = ["local", "cloud"];

const ICONS = {
  // a house; a cloud; two arrows turning (a switch under way)
  local: "M12 3 2 11.5h3V21h5.5v-6h3v6H19v-9.5h3z",
  cloud: "M18.5 10.2A6.5 6.5 0 0 0 6 8.6 5 5 0 0 0 6.5 19h12a4.5 4.5 0 0 0 0-8.8z",
  switching:
    "M4 12a8 8 0 0 1 13.7-5.6L20 4v6h-6l2.3-2.3A6 6 0 0 0 6 12zm16 0a8 8 0 0 1-13.7 5.6L4 20v-6h6l-2.3 2.3A6 6 0 0 0 18 12z",
  yes: "M9.5 16.2 5.3 12l-1.4 1.4 5.6 5.6 11-11-1.4-1.4z",
  no: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-2h2zm0-4h-2V7h2z",
};

/** A small inline SVG icon for a path ("local", "cloud", "switching") or an answer ("yes", "no"). */
export function pathIcon(name, cls = "icon") {
  return svgIcon(ICONS[name] || ICONS.local, cls);
}

async function catalogueReady() {
  // On a page that has not loaded its catalogues yet, every key reads as itself.
  if (t("pathchoice.title") === "pathchoice.title") await initI18n();
}

let open = null; // the dialog on the page, at most one

/**
 * Ask the person which path to connect by. `local` and `cloud`: null (the path is not
 * offered) or a Promise<boolean> (does it answer). Resolves to "local" or "cloud" when a
 * button is pressed. Escape does not close the dialog: a path must be chosen.
 */
export async function choosePath({ local = null, cloud = null } = {}) {
  const offered = { local, cloud };
  const names = PATHS.filter((p) => offered[p] !== null && offered[p] !== undefined);
  if (!names.length) throw new Error("choosePath: neither path is offered");
  await catalogueReady();
  if (open) open.remove();
  const titleId = uid("path-title");
  const hintId = uid("path-hint");
  let done;
  const chosen = new Promise((resolve) => {
    done = resolve;
  });
  const buttons = names.map((name) => {
    const statusId = uid("path-status");
    const answer = h("span", { class: "path-answer", id: statusId, "aria-live": "polite" });
    const button = h(
      "button",
      {
        type: "button",
        class: "path-option checking",
        "data-path": name,
        "aria-describedby": statusId,
        onclick: () => {
          dialog.close();
          dialog.remove();
          if (open === dialog) open = null;
          done(name);
        },
      },
      pathIcon(name, "icon big"),
      h(
        "span",
        { class: "path-text" },
        h("span", { class: "path-name", text: t(`path.${name}`) }),
        h("span", { class: "path-where", text: t(`pathchoice.${name}_hint`) }),
      ),
      answer,
    );
    showAnswer(button, answer, "checking");
    Promise.resolve(offered[name]).then(
      (value) => showAnswer(button, answer, answerKind(true, value)),
      () => showAnswer(button, answer, "silent"),
    );
    return button;
  });
  const dialog = h(
    "dialog",
    { class: "auth-dialog path-dialog", "aria-labelledby": titleId, "aria-describedby": hintId },
    h("div", { class: "auth-brand" }, h("img", { src: "/static/icons/icon.svg", alt: "", width: "40", height: "40" })),
    h("div", { class: "dialog-head" }, h("h2", { id: titleId, text: t("pathchoice.title") })),
    h("p", { class: "auth-server", id: hintId, text: t("pathchoice.hint") }),
    h("div", { class: "path-options", role: "group", "aria-labelledby": titleId }, buttons),
  );
  // Nothing lies behind this dialog yet: Escape must not close it.
  dialog.addEventListener("cancel", (event) => event.preventDefault());
  dialog.addEventListener("keydown", (event) => moveFocus(event, buttons));
  document.body.append(dialog);
  open = dialog;
  dialog.showModal();
  buttons[0].focus();
  return chosen;
}

function showAnswer(button, answer, kind) {
  button.classList.remove("checking", "answers", "silent");
  button.classList.add(kind);
  answer.replaceChildren(
    kind === "checking"
      ? h("span", { class: "spinner", "aria-hidden": "true" })
      : pathIcon(kind === "answers" ? "yes" : "no"),
    h("span", { text: t(`pathchoice.${kind}`) }),
  );
}

// Arrow keys move between the options, as in a group of buttons.
function moveFocus(event, buttons) {
  const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
  const at = buttons.indexOf(document.activeElement);
  if (!step || at < 0) return;
  event.preventDefault();
  buttons[(at + step + buttons.length) % buttons.length].focus();
}
