// The join link of a QR code: /join#v=1&s=SERVER&fp=FINGERPRINT&otp=OTP&n=NAME. The
// fragment never reaches the server; main.js reads it once and removes it from the history.

/** {server, otp, name} from a join link's path and fragment, or null when it is not one. */
export function parseJoinLink(pathname, hash) {
  if (pathname !== "/join" || !hash) return null;
  const fields = new URLSearchParams(hash.slice(1));
  return { server: fields.get("s"), otp: fields.get("otp"), name: fields.get("n") };
}

/** Why a join link cannot be used here ({code}), or null. */
export function joinLinkProblem(join, serverId, otpEnabled) {
  if (!otpEnabled) return { code: "otp_disabled" };
  if (join.server && join.server !== serverId) return { code: "join_other_server" };
  return null;
}
