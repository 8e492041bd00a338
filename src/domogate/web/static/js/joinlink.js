// The join link of a QR code: /join#v=1&s=SERVER&fp=FINGERPRINT&otp=OTP&n=NAME, and when
// the user may use the cloud l=LOCAL_BASE_URL&c=CLOUD_URL (and r=RELAY for Python
// clients). The fragment never reaches the server; main.js reads it once and removes it
// from the history. `asked=1` is added by the page itself when it sent the person to the
// path they chose (they are not asked twice).

import { httpsOrigin } from "./paths.js";

/** {server, otp, name, local, cloud, asked} from a join link's path and fragment, or null
 * when it is not one. `local` and `cloud` are https origins or null (anything else is
 * ignored). */
export function parseJoinLink(pathname, hash) {
  if (pathname !== "/join" || !hash) return null;
  const fields = new URLSearchParams(hash.slice(1));
  return {
    server: fields.get("s"),
    otp: fields.get("otp"),
    name: fields.get("n"),
    local: httpsOrigin(fields.get("l")),
    cloud: httpsOrigin(fields.get("c")),
    asked: fields.get("asked") === "1",
  };
}

/** Why a join link cannot be used here ({code}), or null. */
export function joinLinkProblem(join, serverId, otpEnabled) {
  if (!otpEnabled) return { code: "otp_disabled" };
  if (join.server && join.server !== serverId) return { code: "join_other_server" };
  return null;
}
