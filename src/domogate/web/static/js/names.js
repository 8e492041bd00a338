// Names without DOM or network: the server's identity of a user name, and this browser's
// device name.

/** The server's identity of a user name (core/names.name_key): compatibility forms, case,
 * spaces and invisible characters make no other name. */
export function nameKey(name) {
  return (name || "")
    .normalize("NFKC")
    .toLowerCase()
    .normalize("NFKC")
    .replace(/[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}]/gu, "");
}

/** A readable name for a browser installation from its user agent, e.g. "Chrome on Android". */
export function deviceName(ua) {
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chrom(e|ium)\//.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : "Browser";
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPad/.test(ua)
      ? "iOS"
      : /Windows/.test(ua)
        ? "Windows"
        : /Mac OS X/.test(ua)
          ? "macOS"
          : /Linux/.test(ua)
            ? "Linux"
            : "";
  return os ? `${browser} on ${os}` : browser;
}
