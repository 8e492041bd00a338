// HTTP calls to the server. Errors become ApiError with the server's stable code;
// a network failure is the code "unreachable". Calls go to the API base: the page's own
// origin unless the page moved to its other path (livesession.js, setApiBase).

export class ApiError extends Error {
  constructor(code, message, details = {}, status = 0) {
    super(message || code);
    this.code = code;
    this.details = details || {};
    this.status = status;
  }
}

let skewMs = 0;
let base = ""; // "" = the page's own origin; else "https://host[:port]"

/** Where API calls and the live channel go from now on ("" or null: the page's origin). */
export function setApiBase(origin) {
  base = origin && origin !== location.origin ? origin : "";
}

/** The API base's origin (the page's own when none was set). */
export function apiOrigin() {
  return base || location.origin;
}

/** The server's clock as this browser best knows it (from answers' Date headers). */
export function serverNow() {
  return Date.now() + skewMs;
}

function noteServerDate(res) {
  const date = Date.parse(res.headers.get("Date") || "");
  // Date has a one-second resolution: ignore differences below two seconds.
  if (Number.isFinite(date) && Math.abs(date - Date.now()) > 2000) skewMs = date - Date.now();
  else if (Number.isFinite(date)) skewMs = 0;
}

/** `origin` sends this one call elsewhere ("" = the page's own); `timeoutMs` bounds it. */
export async function api(method, path, { body, token, origin, timeoutMs } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    const at = origin === undefined ? base : origin && origin !== location.origin ? origin : "";
    res = await fetch(at + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
    });
  } catch (err) {
    throw new ApiError("unreachable", String(err?.message ? err.message : err));
  }
  noteServerDate(res);
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error || {};
    const details = err.details || {};
    if (res.status === 429 && details.retry_after === undefined) {
      const header = Number(res.headers.get("Retry-After"));
      if (Number.isFinite(header)) details.retry_after = header;
    }
    throw new ApiError(err.code || `http_${res.status}`, err.message || res.statusText, details, res.status);
  }
  return data;
}

/** A binary answer (QR images) as a Blob, with the session token. */
export async function apiBlob(path, token) {
  let res;
  try {
    res = await fetch(base + path, {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError("unreachable", String(err));
  }
  if (!res.ok) {
    let err = {};
    try {
      err = (await res.json()).error || {};
    } catch {
      err = {};
    }
    throw new ApiError(err.code || `http_${res.status}`, err.message || res.statusText, err.details, res.status);
  }
  return res.blob();
}
