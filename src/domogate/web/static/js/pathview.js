// What the page shows about its path, as pure rules (no DOM): the header's path chip and
// the Local/Cloud choice's answers. shell.js and pathchoice.js draw them.

/**
 * The header's path chip, from the page's path (state.path), the path its session was
 * opened on (before the live channel says more) and /api/info.
 * → null (no chip) or {path: "local"|"cloud", switching: null|"local"|"cloud"}.
 * An installation without a cloud path shows no chip: there is nothing to tell apart.
 */
export function chipOf(path, sessionPath, info) {
  const current = path?.current || sessionPath || null;
  const switching = path?.switching && path.switching !== current ? path.switching : null;
  const cloudOffered = Boolean(info?.paths?.cloud) || (info?.connection_policy || "local") !== "local";
  if (!cloudOffered && current !== "cloud" && switching !== "cloud") return null;
  if (!current && !switching) return null;
  return { path: current, switching };
}

/** A path's answer in the choice: "checking" while pending, then "answers" or "silent". */
export function answerKind(settled, value) {
  if (!settled) return "checking";
  return value === true ? "answers" : "silent";
}

/**
 * The paths a device list shows for a client: the online devices' paths (each once, local
 * first), else the last path the client was seen on.
 */
export function clientPaths(client) {
  const online = new Set((client?.devices || []).filter((d) => d.online && !d.revoked && d.path).map((d) => d.path));
  if (online.size) return ["local", "cloud"].filter((p) => online.has(p));
  return client?.path ? [client.path] : [];
}
