// The live session: the WebSocket's messages into the state, commands and their results,
// reconnection with back-off, and renewing the session token before it ends (handed to
// the open channel, so it stays open).

import { serverNow } from "./api.js";
import { Live } from "./live.js";
import { session, signInWithDevice } from "./session.js";
import { mergeStates, setBus, setClients, setCloud, setObjectState, state } from "./state.js";
import { FIRST_RECONNECT_DELAY, needsNewSession, nextReconnectDelay, refreshDelay } from "./timing.js";

let live = null;
let ready = false; // the server said hello
let started = false; // signed in and meant to stay connected
const pending = new Map(); // command id → waiter
let commandSeq = 0;
let refreshTimer = null;
let reconnectTimer = null;
let reconnectDelay = FIRST_RECONNECT_DELAY;

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

/** Signed in: from now on keep the session renewed and the channel connected. */
export function beginLive() {
  started = true;
  scheduleRefresh();
}

/** Signed out: no more renewal, no reconnection, the channel closed. */
export function stopLive() {
  started = false;
  clearTimeout(refreshTimer);
  clearTimeout(reconnectTimer);
  if (live) live.close();
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
    live.send({ type: "auth", token: session.token });
    scheduleRefresh();
  } catch (err) {
    if (err.code === "revoked" || err.code === "account_expired") hooks.signedOut(err);
    // Otherwise the session runs to its end; the live channel then says so (4401).
  }
}

export function connectLive() {
  ready = false;
  if (!live) live = new Live({ onMessage, onClose });
  live.connect(session.token);
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      ready = true;
      reconnectDelay = FIRST_RECONNECT_DELAY;
      hooks.connection(true);
      if (message.session?.expires_at) {
        session.expiresAt = message.session.expires_at;
        scheduleRefresh();
      }
      if (state.project && message.project_version !== undefined && message.project_version !== state.project.version) {
        hooks.projectChanged(message.project_version);
      }
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
    case "result": {
      const waiter = pending.get(message.id);
      if (waiter) {
        pending.delete(message.id);
        waiter(message);
      }
      break;
    }
    default:
      break;
  }
}

function onClose(code, error) {
  ready = false;
  for (const waiter of pending.values()) waiter({ ok: false, error: { code: "offline" } });
  pending.clear();
  if (!started) return;
  if (code === 4403) {
    hooks.signedOut(error || { code: "revoked" });
    return;
  }
  hooks.connection(false);
  const delay = reconnectDelay;
  reconnectDelay = nextReconnectDelay(reconnectDelay);
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => reconnect(code), delay);
}

async function reconnect(code) {
  if (!started) return;
  if (needsNewSession(code, session.expiresAt, serverNow())) {
    try {
      const auth = await signInWithDevice();
      if (!auth) return hooks.signedOut({ code: "session_ended" });
      scheduleRefresh();
    } catch (err) {
      if (err.code === "unreachable") return onClose(1006, null);
      return hooks.signedOut(err.code === "automatic_authentication_disabled" ? { code: "session_ended" } : err);
    }
  }
  connectLive();
}

/** Resolves true once the live channel has said hello (or false after `ms`). */
function liveReady(ms) {
  if (ready) return Promise.resolve(true);
  return new Promise((resolve) => {
    const since = Date.now();
    const poll = () => {
      if (ready) resolve(true);
      else if (Date.now() - since > ms) resolve(false);
      else setTimeout(poll, 50);
    };
    poll();
  });
}

/** Send a command; resolves to the server's `result` message (or an offline/timeout one). */
export async function sendCommand(objectId, attribute, value) {
  commandSeq += 1;
  const id = `c${commandSeq}`;
  await liveReady(3000);
  return new Promise((resolve) => {
    if (!live?.send({ type: "command", id, object: objectId, attribute, value })) {
      resolve({ ok: false, error: { code: "offline" } });
      return;
    }
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve({ ok: false, error: { code: "timeout" } });
    }, 10000);
    pending.set(id, (message) => {
      clearTimeout(timer);
      resolve(message);
    });
  });
}
