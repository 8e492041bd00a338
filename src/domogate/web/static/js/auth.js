// The authentication popup: dialog "Authentication", a switch "One-time password" at the
// right end of its title bar, the username/password view and the OTP view.

import { h, uid } from "./dom.js";
import { availableLanguages, currentLanguage, setLanguage, t } from "./i18n.js";
import { secureContextReady } from "./keys.js";
import { errorMessage } from "./messages.js";
import { enrol, otpEnabled, session } from "./session.js";

let dialog = null;
let onSignedIn = null;
let busy = false;
let mode = "password";
const f = {};

function field(label, attrs) {
  const id = uid("f");
  const input = h("input", { id, ...attrs });
  return { input, row: h("div", { class: "field" }, h("label", { for: id, text: label }), input) };
}

function build() {
  const titleId = uid("auth-title");
  f.alert = h("div", { role: "alert", class: "alert" });
  f.switch = h(
    "button",
    {
      type: "button",
      role: "switch",
      "aria-checked": "false",
      class: "switch",
      onclick: () => setMode(mode === "otp" ? "password" : "otp"),
    },
    h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
    h("span", { class: "switch-label", text: t("auth.otp_switch") }),
  );
  const user = field(t("auth.username"), {
    name: "username",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
  });
  const pass = field(t("auth.password"), { name: "password", type: "password", autocomplete: "current-password" });
  const otp = field(t("auth.otp"), {
    name: "otp",
    autocomplete: "one-time-code",
    autocapitalize: "characters",
    spellcheck: "false",
    class: "otp-input",
  });
  const name = field(t("auth.your_name"), { name: "name", autocomplete: "name", maxlength: "100" });
  f.username = user.input;
  f.password = pass.input;
  f.otp = otp.input;
  f.name = name.input;
  f.passwordView = h("div", { class: "auth-view" }, user.row, pass.row);
  f.otpView = h(
    "div",
    { class: "auth-view", hidden: true },
    otp.row,
    h("p", { class: "hint", text: t("auth.otp_hint") }),
    name.row,
  );
  f.submit = h("button", { type: "submit", class: "primary wide", text: t("auth.connect") });
  f.server = h("p", { class: "auth-server" });
  const form = h(
    "form",
    { class: "auth-form", novalidate: true, onsubmit: submit },
    h("div", { class: "dialog-head" }, h("h2", { id: titleId, text: t("auth.title") }), f.switch),
    f.server,
    f.passwordView,
    f.otpView,
    f.alert,
    f.submit,
    languageFooter(),
  );
  dialog = h(
    "dialog",
    { class: "auth-dialog", "aria-labelledby": titleId },
    h("div", { class: "auth-brand" }, h("img", { src: "/static/icons/icon.svg", alt: "", width: "40", height: "40" })),
    form,
  );
  // Nothing lies behind this popup: Escape must not close it.
  dialog.addEventListener("cancel", (event) => event.preventDefault());
  document.body.append(dialog);
}

function languageFooter() {
  const languages = Object.entries(availableLanguages());
  if (languages.length < 2) return null;
  const select = h(
    "select",
    { "aria-label": t("app.language") },
    languages.map(([code, name]) => h("option", { value: code, text: name, selected: code === currentLanguage() })),
  );
  select.addEventListener("change", async () => {
    const keep = { mode, otp: f.otp.value, username: f.username.value, name: f.name.value, onSignedIn };
    await setLanguage(select.value);
    openAuth(keep);
  });
  return h("div", { class: "auth-foot" }, select);
}

function setMode(next) {
  mode = next === "otp" && otpEnabled() ? "otp" : "password";
  f.switch.setAttribute("aria-checked", mode === "otp" ? "true" : "false");
  f.passwordView.hidden = mode === "otp";
  f.otpView.hidden = mode !== "otp";
  showError(null);
}

export function showError(error) {
  if (!f.alert) return;
  f.alert.textContent = error ? errorMessage(error) : "";
}

async function submit(event) {
  event.preventDefault();
  if (busy) return;
  showError(null);
  if (!secureContextReady()) {
    showError({ code: "insecure_context" });
    return;
  }
  let fields;
  if (mode === "otp") {
    fields = { otp: f.otp.value.trim(), name: f.name.value.trim() };
    if (!fields.otp) {
      f.alert.textContent = t("auth.need_otp");
      f.otp.focus();
      return;
    }
  } else {
    fields = { username: f.username.value.trim(), password: f.password.value };
    if (!fields.username || !fields.password) {
      f.alert.textContent = t("auth.need_password");
      (fields.username ? f.password : f.username).focus();
      return;
    }
  }
  busy = true;
  f.submit.disabled = true;
  f.submit.textContent = t("auth.connecting");
  try {
    const auth = await enrol(mode, fields);
    f.password.value = "";
    f.otp.value = "";
    close();
    if (onSignedIn) onSignedIn(auth);
  } catch (err) {
    showError(err);
    f.password.value = "";
  } finally {
    busy = false;
    f.submit.disabled = false;
    f.submit.textContent = t("auth.connect");
  }
}

function close() {
  if (dialog?.open) dialog.close();
}

/**
 * Open the popup. options: {mode: "otp"|"password", otp, username, error, onSignedIn}.
 */
export function openAuth(options = {}) {
  if (dialog) dialog.remove();
  build();
  onSignedIn = options.onSignedIn || null;
  const info = session.info || {};
  f.server.textContent = info.name ? t("auth.server", { name: info.name, host: location.host }) : location.host;
  f.switch.hidden = !otpEnabled();
  f.otpView.hidden = true;
  setMode(options.mode || "password");
  if (options.otp) f.otp.value = options.otp;
  if (options.username) f.username.value = options.username;
  if (options.name) f.name.value = options.name;
  if (options.error) showError(options.error);
  dialog.showModal();
  const focus = mode === "otp" ? (f.otp.value ? f.name : f.otp) : f.username.value ? f.password : f.username;
  focus.focus();
}

export function closeAuth() {
  close();
}

export function authIsOpen() {
  return Boolean(dialog?.open);
}
