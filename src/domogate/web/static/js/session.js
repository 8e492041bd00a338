// Who is signed in, and the ways in: password, OTP, device key. The session token stays in
// this module's memory only (never localStorage, never a URL).

import { api } from "./api.js";
import * as keys from "./keys.js";
import { deviceName, nameKey } from "./names.js";

export const session = {
  info: null,
  serverId: null,
  token: null,
  expiresAt: null,
  user: null,
  device: null,
  path: null,
};

export async function fetchInfo() {
  session.info = await api("GET", "/api/info", { origin: "" }); // always the page's own
  session.serverId = session.info.server_id;
  return session.info;
}

export function otpEnabled() {
  return Boolean(session.info?.auth_methods.includes("otp"));
}

export function automaticEnabled() {
  return Boolean(session.info?.auth_methods.includes("device"));
}

function adopt(auth) {
  session.token = auth.session.token;
  session.expiresAt = auth.session.expires_at;
  session.user = auth.user;
  session.device = auth.device;
  session.path = auth.path;
  return auth;
}

export async function storedDevice() {
  if (!session.serverId || !keys.secureContextReady()) return undefined;
  try {
    return await keys.loadDevice(session.serverId);
  } catch {
    return undefined;
  }
}

/** A fresh challenge signed with this browser's device key (asked at `origin`, default
 * the API base). */
async function signedChallenge(record, origin) {
  const issued = await api("POST", "/api/auth/challenge", { body: { device_id: record.deviceId }, origin });
  const message = `domogate-sign-in\n${session.serverId}\n${record.deviceId}\n${issued.challenge}`;
  const signature = await keys.sign(record.privateKey, message);
  return { device_id: record.deviceId, challenge: issued.challenge, signature };
}

/**
 * Sign in with this browser's device key; null when it has none for this server.
 * `origin` signs in on another path (a new session bound to it: no token is sent, the
 * current one belongs to the path being left); the answer becomes the session.
 */
export async function signInWithDevice({ origin } = {}) {
  const auth = await deviceSession(origin);
  return auth ? adopt(auth) : null;
}

/** A device sign-in answer that does not become the session yet (see adoptSession):
 * at `origin` a new session of that path, else a renewal of the current one. */
export async function deviceSession(origin) {
  const record = await storedDevice();
  if (!record?.deviceId || !record.privateKey) return null;
  const proof = await signedChallenge(record, origin);
  // With a session still open, this is a renewal: the server allows it even when the
  // project turns automatic authentication off (only a new start must ask).
  return api("POST", "/api/auth/device", {
    body: proof,
    token: origin === undefined ? session.token || undefined : undefined,
    origin,
  });
}

/** Make a sign-in answer (deviceSession's) the session. */
export function adoptSession(auth) {
  return adopt(auth);
}

/** End a session of another path (best effort: the path may be gone). */
export async function logoutAt(origin, token) {
  if (token) await api("POST", "/api/auth/logout", { token, origin, timeoutMs: 2000 }).catch(() => undefined);
}

/** Password login or OTP redemption; enrols a new device key for this browser. */
export async function enrol(kind, fields) {
  // Signing in again with a password keeps this browser's device (the server recognises
  // its key) instead of enrolling one more; an OTP always brings a new device.
  const stored = kind === "password" ? await storedDevice() : undefined;
  const sameUser = stored?.privateKey && stored.publicKey && nameKey(stored.username) === nameKey(fields.username);
  if (sameUser) {
    try {
      return await enrolWith(kind, fields, stored, true);
    } catch (err) {
      // The server never takes a revoked device's key back: sign in from a fresh one.
      if (err?.code !== "revoked") throw err;
      await forgetDevice();
    }
  }
  return enrolWith(kind, fields, await keys.newKeyPair(), false);
}

async function enrolWith(kind, fields, pair, known) {
  const device = { name: deviceName(navigator.userAgent), public_key: await keys.publicKeyOf(pair) };
  const body =
    kind === "otp"
      ? { otp: fields.otp, name: fields.name || null, device }
      : { username: fields.username, password: fields.password, device };
  if (known && pair.deviceId) {
    // This browser's enrolled device proves its key: others' failed guesses on the
    // account never lock its owner out. A proof that fails is only ignored by the server.
    body.proof = await signedChallenge(pair).catch(() => undefined);
  }
  const auth = await api("POST", `/api/auth/${kind}`, { body });
  await keys.saveDevice({
    serverId: auth.server_id,
    deviceId: auth.device.id,
    username: auth.user.name || "",
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
  });
  return adopt(auth);
}

export async function forgetDevice() {
  if (session.serverId) await keys.forgetKey(session.serverId).catch(() => undefined);
}

export async function logout() {
  const token = session.token;
  session.token = null;
  if (token) await api("POST", "/api/auth/logout", { token }).catch(() => undefined);
}

export function dropSession() {
  session.token = null;
  session.expiresAt = null;
}
