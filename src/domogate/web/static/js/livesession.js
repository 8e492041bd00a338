// The live session: the WebSocket's messages into the state, commands and their results,
// reconnection with back-off, renewing the session token before it ends (handed to the
// open channel, so it stays open), and the page's path: with failover (paths.js), a dead
// local channel moves to the cloud origin (a new session there, states read again) and
// comes back to local once it answers again. docs/cloud-browser.md tells the rules.

import { api, serverNow, setApiBase } from "./api.js";
import { Live } from "./live.js";
import { BackToLocal, ChannelWatch, COMMAND_BOUND, PING_EVERY, PROBE_TIMEOUT, withinBound } from "./paths.js";
import { adoptSession, deviceSession, logoutAt, session, signInWithDevice } from "./session.js";
import { mergeStates, setBus, setClients, setCloud, setObjectState, setPath, setUpdate, state } from "./state.js";
import { FIRST_RECONNECT_DELAY, needsNewSession, nextReconnectDelay, refreshDelay } from "./timing.js";

let live = null; // the channel in use (a Live with .path and .watch)
let ready = false; // it said hello
let started = false; // signed in and meant to stay connected
let switching = null; // the path a switch is moving to
let warm = null; // a cloud session and channel made ready while local is suspect
const pending = new Map(); // command id → {message, queuedAt, sentOn, resolve, timers}
let commandSeq = 0;
const TAB = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
let refreshTimer = null;
let reconnectTimer = null;
let healthTimer = null;
let probeTimer = null;
let reconnectDelay = FIRST_RECONNECT_DELAY;

// The paths this page may use (paths.offeredPaths) and the one in use.
const route = { local: null, cloud: null, failover: false, current: "local" };

// Set by main.js: what the rest of the client does when the session ends, the project
// changes or the connection comes and goes.
const hooks = {
  signedOut: () => undefined,
  projectChanged: () => undefined,
  connection: () => undefined,
};

export function configureLive({ signedOut, projectChanged, connection }) {
  Object.assign(hooks, { signedOut, projectChanged, connection });
}

/** The paths offered and the one to use (before signing in: API calls go there now). */
export function usePaths(offered, path) {
  Object.assign(route, { local: offered.local, cloud: offered.cloud, failover: offered.failover, current: path });
  setApiBase(originOf(path));
}

function originOf(path) {
  return (path === "cloud" ? route.cloud : route.local) || location.origin;
}

/** Signed in: from now on keep the session renewed and the channel connected. */
export function beginLive() {
  started = true;
  scheduleRefresh();
  clearInterval(healthTimer);
  healthTimer = setInterval(checkHealth, PING_EVERY / 5);
}

/** Signed out: no more renewal, no reconnection, no switch, the channel closed. */
export function stopLive() {
  started = false;
  switching = null;
  clearTimeout(refreshTimer);
  clearTimeout(reconnectTimer);
  clearTimeout(probeTimer);
  clearInterval(healthTimer);
  dropWarm();
  if (live) live.close();
  live = null;
  ready = false;
  setPath({ current: null, switching: null });
}

export function liveOpen() {
  return Boolean(live?.open);
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session.expiresAt) return;
  refreshTimer = setTimeout(refreshSession, refreshDelay(session.expiresAt, serverNow()));
}

async function refreshSession() {
  try {
    const auth = await signInWithDevice();
    if (!auth) return;
    live?.send({ type: "auth", token: session.token });
    scheduleRefresh();
  } catch (err) {
    if (err.code === "revoked" || err.code === "account_expired") hooks.signedOut(err);
    // Otherwise the session runs to its end; the live channel then says so (4401).
  }
}

/** Open the live channel on the path in use (with the current session). */
export function connectLive() {
  open(route.current);
}

function open(path) {
  if (live) live.close();
  ready = false;
  const channel = new Live({
    onMessage: (message) => onMessage(channel, message),
    onClose: (code, error) => onClose(channel, code, error),
  });
  channel.path = path;
  channel.watch = new ChannelWatch(Date.now());
  live = channel;
  channel.connect(session.token, originOf(path));
  return channel;
}

function onMessage(channel, message) {
  if (channel !== live) {
    // A channel being left still answers the commands it carried (see backToLocal).
    if (channel.draining && message.type === "result") settleFrom(channel, message);
    return;
  }
  channel.watch.heard(Date.now(), message.type === "hello");
  switch (message.type) {
    case "hello":
      greeted(channel, message);
      break;
    case "clients":
      setClients(message.clients);
      break;
    case "project":
      hooks.projectChanged(message.version);
      break;
    case "states":
      mergeStates(message.states);
      break;
    case "state":
      setObjectState(message.object, message.state);
      break;
    case "bus":
      setBus(message);
      break;
    case "cloud":
      setCloud(message);
      break;
    case "update":
      setUpdate(message);
      break;
    case "result":
      settleFrom(channel, message);
      break;
    default:
      break;
  }
}

function greeted(channel, message) {
  const first = !ready;
  ready = true;
  reconnectDelay = FIRST_RECONNECT_DELAY;
  if (first) {
    switching = null;
    setPath({ current: channel.path, switching: null });
    hooks.connection(true);
    flushCommands(channel);
    if (channel.path === "cloud" && route.failover && route.local) probeLocalLater(new BackToLocal(Date.now()));
  }
  if (message.session?.expires_at) {
    session.expiresAt = message.session.expires_at;
    scheduleRefresh();
  }
  if (state.project && message.project_version !== undefined && message.project_version !== state.project.version) {
    hooks.projectChanged(message.project_version);
  }
}

function onClose(channel, code, error) {
  if (channel !== live) return;
  channel.lost = true;
  live = null;
  ready = false;
  if (!started) return;
  if (code >= 4400 && code < 4500 && code !== 4408 && code !== 4429) {
    dropCommands();
    if (code === 4403) return hooks.signedOut(error || { code: "revoked" });
  }
  pathLost(code);
}

/** Every PING_EVERY / 5: a channel silent for SUSPECT_AFTER has the cloud made ready;
 * silent for DEAD_AFTER, it is dead (the Wi-Fi is gone). */
function checkHealth() {
  if (!started || switching || !live) return;
  const now = Date.now();
  if (!live.watch.dead(now)) {
    if (live.watch.suspect(now)) warmUp();
    else if (warm) dropWarm(); // local answers again
    return;
  }
  const dead = live;
  live = null;
  ready = false;
  dead.lost = true;
  dead.close();
  pathLost(1006);
}

/** The channel in use is gone: move to the other path when failover allows, else
 * reconnect on this one after a back-off. */
function pathLost(code) {
  if (code === 1006 && route.failover && route.current === "local" && route.cloud) {
    switchTo("cloud", code);
    return;
  }
  setPath({ current: null });
  hooks.connection(false);
  scheduleReconnect(code);
}

function scheduleReconnect(code) {
  const delay = reconnectDelay;
  reconnectDelay = nextReconnectDelay(reconnectDelay);
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => reconnect(code), delay);
}

async function reconnect(code) {
  if (!started) return;
  let origin; // undefined: a renewal on the path in use
  if (route.failover && route.current === "cloud" && route.local) {
    route.current = "local"; // cloud died too: try local first again, then cloud
    setApiBase(originOf("local"));
    origin = originOf("local");
    code = 4401; // a session of the other path is no use here
  }
  if (needsNewSession(code, session.expiresAt, serverNow())) {
    try {
      const auth = await signInWithDevice({ origin });
      if (!auth) return hooks.signedOut({ code: "session_ended" });
      scheduleRefresh();
    } catch (err) {
      if (err.code === "unreachable") return pathLost(1006);
      return hooks.signedOut(err.code === "automatic_authentication_disabled" ? { code: "session_ended" } : err);
    }
  }
  open(route.current);
}

/** Move to `target`: a new session there (this browser's device key), its channel, the
 * states read again (the hello and states it sends); commands meanwhile wait for it. */
async function switchTo(target, code) {
  switching = target;
  setPath({ switching: target });
  if (target === "cloud" && adoptWarm()) return;
  try {
    const auth = await signInWithDevice({ origin: originOf(target) });
    if (!auth) throw Object.assign(new Error("no device key"), { code: "session_ended" });
  } catch (err) {
    switching = null;
    setPath({ switching: null, current: null });
    if (!started) return;
    if (["revoked", "account_expired"].includes(err.code)) return hooks.signedOut(err);
    hooks.connection(false);
    return scheduleReconnect(code); // tried again from local, then here
  }
  if (!started) return;
  route.current = target;
  setApiBase(originOf(target));
  scheduleRefresh();
  open(target); // its hello ends the switch
}

// --- the cloud made ready while local is suspect ---------------------------------------

/** Sign in on the cloud and open its channel without using it yet (its messages are
 * kept): if local dies, the switch only has to adopt it. */
async function warmUp() {
  if (warm || !route.failover || route.current !== "local" || !route.cloud) return;
  const w = { channel: null, auth: null, buffer: [] };
  warm = w;
  try {
    w.auth = await deviceSession(originOf("cloud"));
  } catch {
    w.auth = null; // the switch signs in again itself
  }
  if (warm !== w) {
    if (w.auth) logoutAt(originOf("cloud"), w.auth.session.token);
    return;
  }
  if (!w.auth) return;
  const channel = new Live({
    onMessage: (message) => {
      if (live === channel) return onMessage(channel, message);
      channel.watch.heard(Date.now(), message.type === "hello");
      w.buffer.push(message);
    },
    onClose: (code, error) => {
      channel.lost = true;
      if (live === channel) onClose(channel, code, error);
    },
  });
  channel.path = "cloud";
  channel.watch = new ChannelWatch(Date.now());
  w.channel = channel;
  channel.connect(w.auth.session.token, originOf("cloud"));
}

/** Local answered again: the ready cloud session and channel are not needed. */
function dropWarm() {
  const w = warm;
  warm = null;
  if (!w) return;
  if (w.channel) w.channel.close();
  if (w.auth) logoutAt(originOf("cloud"), w.auth.session.token);
}

/** Switch to the ready cloud channel, if there is one that still works. */
function adoptWarm() {
  const w = warm;
  if (!w?.channel || w.channel.lost) {
    dropWarm();
    return false;
  }
  warm = null;
  adoptSession(w.auth);
  route.current = "cloud";
  setApiBase(originOf("cloud"));
  scheduleRefresh();
  live = w.channel;
  ready = false;
  for (const message of w.buffer) onMessage(w.channel, message); // its hello ends the switch
  return true;
}

// --- back to local ----------------------------------------------------------------

function probeLocalLater(back) {
  clearTimeout(probeTimer);
  probeTimer = setTimeout(() => probeLocal(back), back.nextProbeIn(Date.now()));
}

/** On cloud: ask local (same origin, short bound); after BACK_AFTER of answers, go back. */
async function probeLocal(back) {
  if (!started || route.current !== "cloud" || switching) return;
  let ok = false;
  try {
    await api("GET", "/api/info", { origin: originOf("local"), timeoutMs: PROBE_TIMEOUT });
    ok = true;
  } catch {
    ok = false;
  }
  if (!started || route.current !== "cloud") return;
  if (back.answered(ok, Date.now())) backToLocal(back);
  else probeLocalLater(back);
}

/** Sign in locally again, open the local channel, and only once it says hello close the
 * cloud one (and end its session). */
async function backToLocal(back) {
  const cloudChannel = live;
  const cloudToken = session.token;
  switching = "local";
  setPath({ switching: "local" });
  const restore = { token: session.token, expiresAt: session.expiresAt, path: session.path };
  try {
    const auth = await signInWithDevice({ origin: originOf("local") });
    if (!auth) throw new Error("no device key");
  } catch {
    Object.assign(session, restore); // stay on cloud with its session
    switching = null;
    setPath({ switching: null });
    return probeLocalLater(back);
  }
  const channel = new Live({
    onMessage: (message) => {
      if (live !== channel && message.type === "hello") {
        // Local is up: it becomes the channel; the cloud one is closed.
        route.current = "local";
        setApiBase(originOf("local"));
        live = channel;
        ready = false;
        if (cloudChannel) leave(cloudChannel, cloudToken);
        scheduleRefresh();
      }
      onMessage(channel, message);
    },
    onClose: (code, error) => {
      if (live === channel) return onClose(channel, code, error);
      switching = null; // local failed again before hello: stay on cloud
      setPath({ switching: null });
      Object.assign(session, restore);
      probeLocalLater(new BackToLocal(Date.now()));
    },
  });
  channel.path = "local";
  channel.watch = new ChannelWatch(Date.now());
  channel.connect(session.token, originOf("local"));
}

/** Close a channel that still works once the commands it carried are answered (at most
 * 10 s), then end its session. */
function leave(channel, token) {
  const close = () => {
    channel.close();
    logoutAt(originOf("cloud"), token);
  };
  if (![...pending.values()].some((e) => e.sentOn === channel)) return close();
  channel.draining = true;
  const closeOnce = channel.close.bind(channel);
  channel.close = () => {
    channel.close = closeOnce;
    close();
  };
  setTimeout(() => channel.close(), 10000);
}

// --- commands ------------------------------------------------------------------------

function settleFrom(channel, message) {
  const entry = pending.get(message.id);
  if (entry && entry.sentOn === channel) settle(message.id, message);
  if (channel.draining && ![...pending.values()].some((e) => e.sentOn === channel)) channel.close();
}

function settle(id, message) {
  const entry = pending.get(id);
  if (!entry) return;
  pending.delete(id);
  clearTimeout(entry.timer);
  clearTimeout(entry.boundTimer);
  entry.resolve(message);
}

/** The session ended: nothing waiting will be sent. */
function dropCommands() {
  for (const [id, entry] of [...pending]) {
    settle(id, { ok: false, error: { code: entry.sentOn ? "timeout" : "offline" } });
  }
}

/** A channel said hello: send what waited for it (within COMMAND_BOUND of being asked;
 * a command sent on a path that died is sent again — commands carry absolute values). */
function flushCommands(channel) {
  const now = Date.now();
  for (const [id, entry] of [...pending]) {
    if (entry.sentOn && !entry.sentOn.lost) continue; // its channel still answers
    if (!withinBound(entry.queuedAt, now)) {
      settle(id, { ok: false, error: { code: entry.sentOn ? "timeout" : "offline" } });
    } else if (channel.send(entry.message)) {
      entry.sentOn = channel;
    }
  }
}

/** Send a command; resolves to the server's `result` message, or `{ok: false}` with
 * "offline" (nothing was sent: no channel within COMMAND_BOUND) or "timeout" (sent, no
 * answer within 10 s). */
export function sendCommand(objectId, attribute, value) {
  commandSeq += 1;
  const id = `c${commandSeq}`;
  // tab and seq: the server runs this page's commands in its order on whichever path
  // delivers them, and a command sent again on the other path only once (docs/api.md).
  const message = { type: "command", id, object: objectId, attribute, value, tab: TAB, seq: commandSeq };
  return new Promise((resolve) => {
    const entry = { message, queuedAt: Date.now(), sentOn: null, resolve };
    pending.set(id, entry);
    entry.timer = setTimeout(() => settle(id, { ok: false, error: { code: "timeout" } }), 10000);
    entry.boundTimer = setTimeout(() => {
      if (!entry.sentOn || entry.sentOn.lost) {
        settle(id, { ok: false, error: { code: entry.sentOn ? "timeout" : "offline" } });
      }
    }, COMMAND_BOUND);
    if (ready && live?.send(message)) entry.sentOn = live;
  });
}
