// The domogate web client's start-up: the join link, the path (by the policy, or asked
// when automatic connection is off), automatic sign-in or the popup, loading the project,
// and what happens when the session ends. The pieces: shell.js (page and views),
// livesession.js (live channel and failover), paths.js (path rules), state.js, router.js.

import { api } from "./api.js";
import { authIsOpen, closeAuth, openAuth } from "./auth.js";
import { clear, h } from "./dom.js";
import { initI18n, t } from "./i18n.js";
import { joinLinkProblem, parseJoinLink } from "./joinlink.js";
import { beginLive, configureLive, connectLive, stopLive, usePaths } from "./livesession.js";
import { errorMessage } from "./messages.js";
import { mustAsk, offeredPaths, PROBE_TIMEOUT } from "./paths.js";
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
  if (join) {
    join.fragment = location.hash.slice(1);
    history.replaceState(null, "", "/");
  }
  return join;
}

/** Whether `origin` answers GET /api/info within PROBE_TIMEOUT (a Promise<boolean>). */
function answers(origin) {
  return api("GET", "/api/info", { origin, timeoutMs: PROBE_TIMEOUT }).then(
    () => true,
    () => false,
  );
}

/** Ask the person which path (pathchoice.js); without that module, the first of local
 * then cloud that answers. Each of `local`/`cloud` is an origin or null (not offered). */
async function askPath({ local, cloud }) {
  const probes = { local: local ? answers(local) : null, cloud: cloud ? answers(cloud) : null };
  let choosePath = null;
  try {
    ({ choosePath } = await import("./pathchoice.js"));
  } catch {
    choosePath = null;
  }
  if (choosePath) return choosePath(probes);
  if (probes.local && (await probes.local)) return "local";
  return probes.cloud ? "cloud" : "local";
}

/** A join link opened with automatic connection off, carrying both paths: the person
 * picks one; the OTP is redeemed on that path's origin only (this page goes there with
 * the fragment, and does not redeem it itself). True when the page is leaving. */
async function joinElsewhere(join) {
  if (session.info.automatic_connection !== false || !join.local || !join.cloud || join.asked) return false;
  const path = await askPath({ local: join.local, cloud: join.cloud });
  const target = path === "local" ? join.local : join.cloud;
  if (target === location.origin) return false;
  // The link's l=/c= are only what the link says: go there only when that origin is this
  // same server (the CSP lets the page reach the server's own origins only, and the answer
  // must carry this server's id); otherwise the OTP is redeemed here.
  if (!(await sameServer(target))) return false;
  location.replace(`${target}/join#${join.fragment}&asked=1`);
  return true;
}

/** Whether `origin` answers GET /api/info as this same server. */
async function sameServer(origin) {
  try {
    const info = await api("GET", "/api/info", { origin, timeoutMs: PROBE_TIMEOUT });
    return info?.server_id === session.serverId;
  } catch {
    return false;
  }
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
  if (join?.otp && (await joinElsewhere(join))) return;
  const offered = offeredPaths(session.info, location.origin);
  const path = join?.otp || !mustAsk(session.info, offered) ? offered.start : await askPath(offered);
  usePaths(offered, path);
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
