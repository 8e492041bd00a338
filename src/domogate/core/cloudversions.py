"""Published versions as the cloud holds them, pure: its records, the checks it makes
before storing an upload, and the shape of a server's ``version_result``
(``docs/cloud-publish.md``, "The cloud").

The cloud checks only what it can check without trusting itself: the manifest parses, it
names this installation, the content is the digested one and not too long, the version is
above the latest held. It never judges the publisher key (the home server does, against the
key it pinned); it records the key's fingerprint so that ``cloud versions`` shows who
signed what.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domogate.core.names import printable_excerpt
from domogate.core.publishing import (
    MAX_CONTENT_BYTES,
    Manifest,
    digest_of,
    key_fingerprint_of_text,
    parse_manifest,
)
from domogate.errors import (
    DomogateError,
    InvalidInput,
    PayloadTooLarge,
    VersionDigestMismatch,
    VersionInvalid,
    VersionNotNewer,
    VersionWrongInstallation,
)

SIGNATURE_BYTES = 64  # Ed25519
MAX_REPORT_MESSAGE = 500  # characters of a server's refusal message kept
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class VersionReport:
    """What the linked server said of a version (``version_result``)."""

    applied: bool
    code: str | None
    message: str | None
    at: datetime


@dataclass(frozen=True)
class VersionInfo:
    """A stored version without its bytes (what lists and ``version_available`` need)."""

    installation: str
    version: int
    digest: str
    size: int  # bytes of content
    published_at: str  # the signed manifest's text, as is
    publisher_key_fingerprint: str
    stored_at: datetime
    report: VersionReport | None = None


@dataclass(frozen=True)
class StoredVersion:
    """A version with its signed bytes (what ``get_version`` sends)."""

    info: VersionInfo
    manifest: bytes
    signature: bytes
    content: bytes


def check_upload(
    name: str, manifest: bytes, signature: bytes, content: bytes, *, latest: int
) -> tuple[Manifest, str]:
    """The cloud's checks of an upload for installation ``name`` whose latest stored
    version is ``latest`` (0: none). Returns the manifest and its key's fingerprint, or
    raises the first failure: ``version_invalid``, ``version_wrong_installation``,
    ``payload_too_large``, ``version_digest_mismatch``, ``version_not_newer``."""
    parsed = parse_manifest(manifest)
    try:
        fingerprint = key_fingerprint_of_text(parsed.publisher_key)
    except (DomogateError, ValueError) as exc:
        raise VersionInvalid("The manifest's publisher_key is not an Ed25519 public key.") from exc
    if len(signature) != SIGNATURE_BYTES:
        raise VersionInvalid(f"The signature must be {SIGNATURE_BYTES} bytes (Ed25519).")
    if parsed.installation != name:
        raise VersionWrongInstallation(
            f"The manifest is for installation {parsed.installation!r}, not {name!r}: "
            "publish it to its own installation.",
            installation=parsed.installation,
        )
    if len(content) > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(
            f"The content has {len(content)} bytes; at most {MAX_CONTENT_BYTES} are stored."
        )
    if not hmac.compare_digest(digest_of(content).encode(), parsed.digest.encode()):
        raise VersionDigestMismatch()
    not_newer(parsed.version, latest)
    return parsed, fingerprint


def not_newer(version: int, latest: int) -> None:
    """``version_not_newer`` unless ``version`` is above ``latest`` (the latest held)."""
    if version <= latest:
        raise VersionNotNewer(
            f"Version {version} is not newer than the latest this cloud holds ({latest}); "
            f"publish version {latest + 1} or above.",
            version=version,
            latest=latest,
        )


@dataclass(frozen=True)
class VersionResult:
    """A server's ``{"type": "version_result", …}``, checked."""

    version: int
    applied: bool
    code: str | None
    message: str | None


def _version_number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
        raise InvalidInput("version must be a positive integer.", field="version")
    return value


def parse_get_version(message: dict[str, Any]) -> int:
    """The version a ``{"type": "get_version", "version": N}`` asks for."""
    return _version_number(message.get("version"))


def parse_version_result(message: dict[str, Any]) -> VersionResult:
    """Check a ``version_result``'s shape; its text made safe to store and show (a server
    is a stranger to the cloud's operator)."""
    version = _version_number(message.get("version"))
    applied = message.get("applied")
    if not isinstance(applied, bool):
        raise InvalidInput("applied must be true or false.", field="applied")
    code = message.get("code")
    if code is not None and (not isinstance(code, str) or not _CODE.fullmatch(code)):
        raise InvalidInput("code must be an error code (a-z, 0-9, _) or null.", field="code")
    raw = message.get("message")
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("message must be a string or null.", field="message")
    return VersionResult(version, applied, code, printable_excerpt(raw, MAX_REPORT_MESSAGE))
