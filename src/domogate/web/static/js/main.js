// The domogate web client's start-up: the join link, automatic sign-in or the popup,
// loading the project, and what happens when the session ends. The pieces: shell.js
// (page and views), livesession.js (live channel), state.js, router.js.

import { api } from "./api.js";
import { authIsOpen, closeAuth, openAuth } from "./auth.js";
import { clear, h } from "./dom.js";
import { initI18n, t } from "./i18n.js";
import { joinLinkProblem, parseJoinLink } from "./joinlink.js";
import { beginLive, configureLive, connectLive, stopLive } from "./livesession.js";
import { errorMessage } from "./messages.js";
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
import { configureShell, render, setConnection, toast } from "./shell.js";
import { setProject, state } from "./state.js";

const root = document.getElementById("app");

// --- start ---------------------------------------------------------------------------

function readJoinFragment() {
  const join = parseJoinLink(location.pathname, location.hash);
  // Take the OTP out of the address bar and the history at once.
  if (join) history.replaceState(null, "", "/");
  return join;
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
    const error = joinLinkProblem(join, session.serverId, otpEnabled());
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
  beginLive();
  await loadProject();
  connectLive();
}

async function loadProject() {
  try {
    setProject(await api("GET", "/api/project", { token: session.token }));
  } catch (err) {
    if (err.code === "not_found") setProject(null);
    else if (["unauthenticated", "revoked", "account_expired"].includes(err.code)) return signedOut(err);
    else toast(errorMessage(err), "error");
  }
  render();
}

async function projectChanged(version) {
  if (state.project && state.project.version === version) return;
  await loadProject();
  toast(t("app.updated", { version }));
}

async function signedOut(error) {
  stopLive();
  dropSession();
  if (error && error.code === "revoked") await forgetDevice();
  const record = await storedDevice();
  openAuth({ username: record?.username || session.user?.name || "", error, onSignedIn: enterApp });
}

async function signOutClicked() {
  stopLive();
  await logout();
  renderSplash();
  const record = await storedDevice();
  openAuth({ username: record?.username || "", onSignedIn: enterApp });
}

configureLive({ signedOut, projectChanged, connection: setConnection });
configureShell({ onSignOut: signOutClicked });

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js").catch(() => undefined);
}

boot().catch((err) => {
  if (!authIsOpen()) renderUnreachable(err, null);
});
