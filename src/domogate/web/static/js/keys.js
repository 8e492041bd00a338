// The device key: an ECDSA P-256 key pair made by WebCrypto with a non-extractable private
// key, kept as CryptoKey objects in IndexedDB (one record per server). Only the public key
// ever leaves the browser. Session tokens are NOT stored here: they live in memory only.

const DB_NAME = "domogate";
const STORE = "devices";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "serverId" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export function secureContextReady() {
  return Boolean(window.isSecureContext && crypto?.subtle && window.indexedDB);
}

export async function newKeyPair() {
  return crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
}

export function base64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function publicKeyOf(pair) {
  return base64url(await crypto.subtle.exportKey("spki", pair.publicKey));
}

/** Raw r||s signature (what WebCrypto gives for ECDSA), base64url. */
export async function sign(privateKey, text) {
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, new TextEncoder().encode(text));
  return base64url(sig);
}

/** {serverId, deviceId, username, privateKey, publicKey} or undefined. */
export async function loadDevice(serverId) {
  return withStore("readonly", (store) => store.get(serverId));
}

export async function saveDevice(record) {
  await withStore("readwrite", (store) => store.put(record));
}

/** Forget the key (revoked device) but remember the username to fill in next time. */
export async function forgetKey(serverId) {
  const record = await loadDevice(serverId);
  if (!record) return;
  await saveDevice({ serverId, username: record.username || "" });
}
