// Error codes from the server (and the client's own, like "unreachable") → clear messages.

import { t } from "./i18n.js";

const KNOWN = new Set([
  "invalid_credentials",
  "otp_invalid",
  "otp_expired",
  "otp_used",
  "otp_disabled",
  "revoked",
  "account_expired",
  "automatic_authentication_disabled",
  "path_not_allowed",
  "unreachable",
  "unauthenticated",
  "signature_invalid",
  "challenge_invalid",
  "forbidden",
  "bus_unavailable",
  "update_unavailable",
  "value_invalid",
  "not_found",
  "conflict",
  "insecure_context",
  "join_other_server",
  "session_ended",
]);

// Codes the server sends whose own message is what the person reads: shown as the
// generic "An error occurred: MESSAGE" (spelt out so that every code has its entry here).
const WORDED_BY_SERVER = new Set([
  "internal_error",
  "project_invalid",
  "key_invalid",
  "payload_too_large",
  "setup_code_invalid",
  "method_not_allowed",
  "too_many_connections",
  "auth_timeout",
  "too_slow",
  "cloud_claim_required",
  "cloud_taken",
  "cloud_name_mismatch",
  "command_stale",
  "publisher_key_missing",
  "version_invalid",
  "version_wrong_installation",
  "version_digest_mismatch",
  "version_not_newer",
  "cloud_not_invited",
  "cloud_password_invalid",
]);

export function errorMessage(error) {
  const code = error?.code ? error.code : "unknown";
  if (code === "rate_limited") {
    const seconds = Math.max(1, Math.ceil(Number(error.details?.retry_after) || 1));
    const at = new Date(Date.now() + seconds * 1000);
    const time = at.toLocaleTimeString(document.documentElement.lang || undefined, {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    return t("error.rate_limited", { seconds, time });
  }
  if (code === "invalid_input" || code === "conflict") {
    return t("error.invalid_input", { message: error.message || "" });
  }
  // A page opened from an address that is not one of the server's own (web/origins.py).
  if (code === "origin_refused") return t("failover.origin_refused");
  if (KNOWN.has(code)) return t(`error.${code}`);
  if (WORDED_BY_SERVER.has(code)) return t("error.unknown", { message: error.message || code });
  return t("error.unknown", { message: error?.message || code });
}
