"""The one exception tree of domogate, and its registry.

Every error class carries what its transports need, as class attributes:

- ``code``: the stable machine code (part of the HTTP, WebSocket and CLI contracts;
  ``docs/api.md`` lists the ones clients see),
- ``http_status``: the HTTP status of a REST answer (``None``: never sent over HTTP),
- ``ws_close``: the close code when the live channel ends on this error,
- ``exit_code``: the ``domogate`` command's exit status,
- ``sent_by_server``: whether a server sends it to clients (else only the Python client,
  the CLI or a local command raise it).

A class that declares its own ``code`` registers itself (``ERRORS_BY_CODE``); two classes
never share a code. An abstract base (``abstract=True``) groups errors and registers
nothing. Subclasses inherit every attribute they do not set. Adapters read these
attributes (``web/errors.py``, ``cli/app.py``); nothing inspects messages.
Messages never reveal which part of a credential was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

_REGISTRY: dict[str, type[DomogateError]] = {}

ERRORS_BY_CODE: Mapping[str, type[DomogateError]] = MappingProxyType(_REGISTRY)
"""Every registered error class by its code (read only; classes add themselves)."""


def _register(cls: type[DomogateError]) -> None:
    other = _REGISTRY.get(cls.code)
    if other is not None and other is not cls:
        raise TypeError(
            f"Error code {cls.code!r} of {cls.__qualname__} is already "
            f"{other.__module__}.{other.__qualname__}'s."
        )
    _REGISTRY[cls.code] = cls


class DomogateError(Exception):
    """Base of every error domogate raises on purpose (``internal_error`` when raised as is)."""

    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal error."
    http_status: ClassVar[int | None] = 500
    ws_close: ClassVar[int] = 4401
    exit_code: ClassVar[int] = 1
    sent_by_server: ClassVar[bool] = True
    abstract: ClassVar[bool] = False

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.abstract = abstract
        if abstract:
            if "code" in cls.__dict__:
                raise TypeError(f"The abstract {cls.__qualname__} cannot have a code.")
        elif "code" in cls.__dict__:
            _register(cls)

    def __init__(self, message: str | None = None, **details: Any) -> None:
        if type(self).abstract:
            raise TypeError(f"{type(self).__qualname__} is abstract; raise one of its subclasses.")
        self.message = message or self.default_message
        self.details: dict[str, Any] = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


_register(DomogateError)


# --- input and configuration -------------------------------------------------------


class InvalidInput(DomogateError):
    code = "invalid_input"
    default_message = "The request is not valid."
    http_status = 422
    ws_close = 4400


class ProjectInvalid(DomogateError):
    """A project failed validation; ``details['problems']`` lists file, key path, line."""

    code = "project_invalid"
    default_message = "The project is not valid."
    http_status = 422


class ConfigKeyInvalid(DomogateError):
    code = "key_invalid"
    default_message = "Unknown or malformed configuration key."
    http_status = 422


class PayloadTooLarge(DomogateError):
    code = "payload_too_large"
    default_message = "The request body is too large."
    http_status = 413


class AddressInUse(DomogateError):
    code = "address_in_use"
    default_message = "The address and port are already in use."
    sent_by_server = False  # the local `domogate server` cannot bind


class NotFound(DomogateError):
    code = "not_found"
    default_message = "Not found."
    http_status = 404


class Conflict(DomogateError):
    code = "conflict"
    default_message = "The request conflicts with the current state."
    http_status = 409


class CommandStale(DomogateError):
    code = "command_stale"
    default_message = (
        "Not run: a newer command from this page for the same thing ran already (this one "
        "arrived late, through a path the page had left)."
    )
    http_status = 409


class PublisherKeyMissing(DomogateError):
    code = "publisher_key_missing"
    default_message = (
        "This server has no publisher key pinned: deploy the project once locally with "
        "`domogate deploy` (it sends the integrator key) before publishing through the cloud."
    )
    http_status = 409


class VersionInvalid(DomogateError):
    code = "version_invalid"
    default_message = "The published version is malformed."
    http_status = 422


class VersionWrongInstallation(DomogateError):
    code = "version_wrong_installation"
    default_message = "The published version is for another installation."
    http_status = 409


class VersionDigestMismatch(DomogateError):
    code = "version_digest_mismatch"
    default_message = "The published version's content does not match its signed digest."
    http_status = 422


class VersionNotNewer(DomogateError):
    code = "version_not_newer"
    default_message = "The published version is not newer than the one already there."
    http_status = 409


class ValueInvalid(DomogateError):
    """A value does not fit the datapoint type (or the attribute) it is meant for."""

    code = "value_invalid"
    default_message = "The value does not fit this object."
    http_status = 422


class ImportFailed(DomogateError):
    """An ETS project export could not be read (wrong password, damaged or unsupported file)."""

    code = "import_failed"
    default_message = "The ETS project could not be read."
    http_status = 422
    sent_by_server = False  # `domogate project import-ets` reads the file locally


# --- the bus -------------------------------------------------------------------------


class BusUnavailable(DomogateError):
    """The bus is not connected: commands fail at once instead of waiting."""

    code = "bus_unavailable"
    default_message = "The bus is not connected; try again when it is back."
    http_status = 503


# --- authentication ----------------------------------------------------------------


class AuthError(DomogateError, abstract=True):
    """Base of the errors that refuse access (abstract: it has no code of its own)."""

    default_message = "Authentication required."
    http_status: ClassVar[int | None] = 401


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
    http_status = 403


class AutomaticAuthenticationDisabled(AuthError):
    code = "automatic_authentication_disabled"
    default_message = "Automatic authentication is disabled in this project; sign in again."
    http_status = 403


class SignatureInvalid(AuthError):
    code = "signature_invalid"
    default_message = "The device signature is not valid."


class ChallengeInvalid(AuthError):
    code = "challenge_invalid"
    default_message = "The sign-in challenge is unknown or expired; ask for a new one."


class Revoked(AuthError):
    code = "revoked"
    default_message = "Access for this device has been revoked by an administrator."
    http_status = 403
    ws_close = 4403


class AccountExpired(AuthError):
    code = "account_expired"
    default_message = "This account has expired. Ask the administrator."
    http_status = 403
    ws_close = 4403


class SetupCodeInvalid(AuthError):
    code = "setup_code_invalid"
    default_message = "Wrong setup code or service password."


class PathNotAllowed(AuthError):
    code = "path_not_allowed"
    default_message = "This account may not connect through this path."
    http_status = 403


class AuthTimeout(AuthError):
    """The live channel's first message (``{"type": "auth"}``) did not come in time."""

    code = "auth_timeout"
    default_message = 'Send {"type": "auth"} first.'
    http_status = None  # the live channel only
    ws_close = 4408


class Forbidden(DomogateError):
    code = "forbidden"
    default_message = "You are not allowed to do this."
    http_status = 403
    ws_close = 4403


class RateLimited(DomogateError):
    code = "rate_limited"
    default_message = "Too many attempts; try again later."
    http_status = 429

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            message or f"Too many attempts; try again in {self.retry_after} s.",
            retry_after=self.retry_after,
        )


class MethodNotAllowed(DomogateError):
    code = "method_not_allowed"
    default_message = "Method not allowed on this route."
    http_status = 405


class OriginRefused(DomogateError):
    """A browser request (or live channel) from a page that is not one of this server's
    own origins (``web/origins.py``): refused before anything else is read."""

    code = "origin_refused"
    default_message = (
        "This page's origin is not one of this server's own; open the app from the "
        "server's own address or its cloud name."
    )
    http_status = 403
    ws_close = 4400


# --- the cloud: refusals of a control link (docs/cloud.md) ---------------------------


class CloudError(DomogateError, abstract=True):
    """A cloud refuses a home server's control link (sent as ``{"type": "error"}``)."""

    ws_close = 4403


class CloudClaimRequired(CloudError):
    code = "cloud_claim_required"
    default_message = (
        "This installation is not claimed at this cloud yet: send the cloud password to claim it."
    )
    http_status = 401
    ws_close = 4401


class CloudTaken(CloudError):
    code = "cloud_taken"
    default_message = (
        "This installation name is claimed by another server key; the cloud's operator can "
        "release it (domogate cloud installations release NAME)."
    )
    http_status = 409


class CloudNameMismatch(CloudError):
    code = "cloud_name_mismatch"
    default_message = (
        "This installation name is not the one derived from this server's key: a server "
        "links under the name `domogate server cloud-name` prints, never another."
    )
    http_status = 403


class CloudNotInvited(CloudError):
    code = "cloud_not_invited"
    default_message = (
        "This cloud is invite-only and this installation was not added by its operator "
        "(domogate cloud installations add NAME)."
    )
    http_status = 403


class CloudPasswordInvalid(CloudError):
    code = "cloud_password_invalid"
    default_message = "Wrong cloud password for this installation."
    http_status = 401
    ws_close = 4401


class UpdateUnavailable(DomogateError):
    """A published version could not be fetched from the cloud (the home server's side)."""

    code = "update_unavailable"
    default_message = (
        "The published version could not be fetched from the cloud (the cloud link is down "
        "or the cloud no longer holds it); try again when the cloud link is up."
    )
    http_status = 503


# --- connections ---------------------------------------------------------------------


class TooSlow(DomogateError):
    """A live client does not read its updates: its send queue is full."""

    code = "too_slow"
    default_message = "Too slow to receive updates."
    http_status = None  # the live channel only
    ws_close = 4429


class TooManyConnections(DomogateError):
    """A connection cap (total, per address, per device, unauthenticated) is reached."""

    code = "too_many_connections"
    default_message = "Too many connections; close some or try again later."
    http_status = 503
    ws_close = 1013  # RFC 6455 "Try Again Later"


# --- client side -------------------------------------------------------------------


class ClientError(DomogateError):
    """Errors raised by the Python client and the CLI before reaching a server."""

    code = "client_error"
    default_message = "Client error."
    sent_by_server = False


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
