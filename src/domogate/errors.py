"""The one exception tree of domogate.

Every error carries a stable machine ``code`` (part of the HTTP, WebSocket and CLI
contracts) and a human message. Adapters map codes to transport details (HTTP status,
WebSocket close code, exit status) in one place each; nothing else inspects messages.
Messages never reveal which part of a credential was wrong.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomogateError(Exception):
    """Base of every error domogate raises on purpose."""

    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal error."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


# --- input and configuration -------------------------------------------------------


class InvalidInput(DomogateError):
    code = "invalid_input"
    default_message = "The request is not valid."


class ProjectInvalid(DomogateError):
    """A project failed validation; ``details['problems']`` lists file, key path, line."""

    code = "project_invalid"
    default_message = "The project is not valid."


class ConfigKeyInvalid(DomogateError):
    code = "key_invalid"
    default_message = "Unknown or malformed configuration key."


class PayloadTooLarge(DomogateError):
    code = "payload_too_large"
    default_message = "The request body is too large."


class AddressInUse(DomogateError):
    code = "address_in_use"
    default_message = "The address and port are already in use."


class NotFound(DomogateError):
    code = "not_found"
    default_message = "Not found."


class Conflict(DomogateError):
    code = "conflict"
    default_message = "The request conflicts with the current state."


class ValueInvalid(DomogateError):
    """A value does not fit the datapoint type (or the attribute) it is meant for."""

    code = "value_invalid"
    default_message = "The value does not fit this object."


class ImportFailed(DomogateError):
    """An ETS project export could not be read (wrong password, damaged or unsupported file)."""

    code = "import_failed"
    default_message = "The ETS project could not be read."


# --- the bus -------------------------------------------------------------------------


class BusUnavailable(DomogateError):
    """The bus is not connected: commands fail at once instead of waiting."""

    code = "bus_unavailable"
    default_message = "The bus is not connected; try again when it is back."


# --- authentication ----------------------------------------------------------------


class AuthError(DomogateError):
    """Base of the errors that refuse access."""

    code = "unauthenticated"
    default_message = "Authentication required."


class Unauthenticated(AuthError):
    code = "unauthenticated"
    default_message = "Authentication required or session expired; sign in again."


class InvalidCredentials(AuthError):
    code = "invalid_credentials"
    default_message = "Wrong username or password."


class OtpInvalid(AuthError):
    code = "otp_invalid"
    default_message = "This one-time password is not valid. Check it, or ask the administrator."


class OtpExpired(AuthError):
    code = "otp_expired"
    default_message = "This one-time password has expired. Ask the administrator for a new one."


class OtpUsed(AuthError):
    code = "otp_used"
    default_message = (
        "This one-time password has already been used. Ask the administrator for a new one."
    )


class OtpDisabled(AuthError):
    code = "otp_disabled"
    default_message = "One-time password authentication is disabled in this project."


class AutomaticAuthenticationDisabled(AuthError):
    code = "automatic_authentication_disabled"
    default_message = "Automatic authentication is disabled in this project; sign in again."


class SignatureInvalid(AuthError):
    code = "signature_invalid"
    default_message = "The device signature is not valid."


class ChallengeInvalid(AuthError):
    code = "challenge_invalid"
    default_message = "The sign-in challenge is unknown or expired; ask for a new one."


class Revoked(AuthError):
    code = "revoked"
    default_message = "Access for this device has been revoked by an administrator."


class AccountExpired(AuthError):
    code = "account_expired"
    default_message = "This account has expired. Ask the administrator."


class SetupCodeInvalid(AuthError):
    code = "setup_code_invalid"
    default_message = "Wrong setup code or service password."


class PathNotAllowed(AuthError):
    code = "path_not_allowed"
    default_message = "This account may not connect through this path."


class Forbidden(DomogateError):
    code = "forbidden"
    default_message = "You are not allowed to do this."


class RateLimited(DomogateError):
    code = "rate_limited"
    default_message = "Too many attempts; try again later."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            message or f"Too many attempts; try again in {self.retry_after} s.",
            retry_after=self.retry_after,
        )


# --- client side -------------------------------------------------------------------


class ClientError(DomogateError):
    """Errors raised by the Python client and the CLI before reaching a server."""

    code = "client_error"
    default_message = "Client error."


class ServerUnreachable(ClientError):
    code = "server_unreachable"
    default_message = "The server cannot be reached."


class CertificateMismatch(ClientError):
    code = "certificate_mismatch"
    default_message = (
        "The server's certificate does not match the pinned fingerprint; refusing to connect."
    )


class NotEnrolled(ClientError):
    code = "not_enrolled"
    default_message = "This client is not connected to a server yet; run `domogate connect`."


ALL_ERRORS: tuple[type[DomogateError], ...] = (
    DomogateError,
    InvalidInput,
    ProjectInvalid,
    ConfigKeyInvalid,
    PayloadTooLarge,
    AddressInUse,
    NotFound,
    Conflict,
    ValueInvalid,
    ImportFailed,
    BusUnavailable,
    Unauthenticated,
    InvalidCredentials,
    OtpInvalid,
    OtpExpired,
    OtpUsed,
    OtpDisabled,
    AutomaticAuthenticationDisabled,
    SignatureInvalid,
    ChallengeInvalid,
    Revoked,
    AccountExpired,
    SetupCodeInvalid,
    PathNotAllowed,
    Forbidden,
    RateLimited,
    ServerUnreachable,
    CertificateMismatch,
    NotEnrolled,
)

ERRORS_BY_CODE: dict[str, type[DomogateError]] = {cls.code: cls for cls in ALL_ERRORS}


def error_from_dict(body: dict[str, Any]) -> DomogateError:
    """Rebuild an error received from a server (``{"code", "message", "details"}``)."""
    code = str(body.get("code", "internal_error"))
    message = str(body.get("message", ""))
    details = body.get("details") or {}
    cls = ERRORS_BY_CODE.get(code)
    if cls is RateLimited:
        return RateLimited(float(details.get("retry_after", 1)), message or None)
    if cls is None:
        err = DomogateError(message or None, **details)
        err.code = code  # type: ignore[misc]
        return err
    return cls(message or None, **details)


class TooManyConnections(DomogateError):
    """A connection cap (total, per address, per device, unauthenticated) is reached."""

    code = "too_many_connections"
    default_message = "Too many connections; close some or try again later."


ALL_ERRORS += (TooManyConnections,)
ERRORS_BY_CODE[TooManyConnections.code] = TooManyConnections
