"""Published project versions, pure: the content's canonical bytes, the signed manifest,
and the checks a server makes before it applies one (``docs/cloud-publish.md``).

- ``content``: the project as canonical JSON bytes (:func:`canonical_content`);
- ``manifest``: canonical JSON of ``{"format": 1, "installation", "version", "digest",
  "published_at", "publisher_key"}`` (:func:`make_manifest`);
- ``signature``: Ed25519 over ``b"domogate-publish\\0" + manifest`` with the integrator's
  key (:func:`sign_manifest`).

:func:`check_version` makes the server's checks in the documented order, each failure its
own error code; the project's own validation comes after, in the deploy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domogate.core import cloudwire
from domogate.core.times import iso
from domogate.errors import (
    InvalidInput,
    PublisherKeyMissing,
    SignatureInvalid,
    VersionDigestMismatch,
    VersionInvalid,
    VersionNotNewer,
    VersionWrongInstallation,
)

FORMAT = 1
SIGNED_PREFIX = b"domogate-publish\0"
DIGEST_PREFIX = "sha256:"
MAX_MANIFEST_BYTES = 4096
MAX_CONTENT_BYTES = 64 * 1024 * 1024


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_content(project_data: dict[str, Any]) -> bytes:
    """The bytes that are published, digested and applied for a project."""
    return canonical_json(project_data)


def digest_of(content: bytes) -> str:
    return DIGEST_PREFIX + hashlib.sha256(content).hexdigest()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, lower-case hex (what `server info` shows)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def key_fingerprint_of_text(text: str) -> str:
    return key_fingerprint(cloudwire.parse_public_key(text))


@dataclass(frozen=True)
class Manifest:
    installation: str
    version: int
    digest: str
    published_at: str
    publisher_key: str

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": FORMAT,
                "installation": self.installation,
                "version": self.version,
                "digest": self.digest,
                "published_at": self.published_at,
                "publisher_key": self.publisher_key,
            }
        )


def make_manifest(
    installation: str, version: int, content: bytes, published_at: datetime, key: Ed25519PublicKey
) -> Manifest:
    if version < 1:
        raise VersionInvalid("A published version is a positive number.")
    return Manifest(
        installation=cloudwire.check_name(installation),
        version=version,
        digest=digest_of(content),
        published_at=iso(published_at),
        publisher_key=cloudwire.public_key_text(key),
    )


def sign_manifest(manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    return key.sign(SIGNED_PREFIX + manifest)


def parse_manifest(raw: bytes) -> Manifest:
    """A manifest's fields; ``VersionInvalid`` for anything else (too long, not JSON, a
    field missing or of the wrong type, another format, not the canonical bytes)."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise VersionInvalid("The version's manifest is too long.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VersionInvalid("The version's manifest is not JSON.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise VersionInvalid("The version's manifest has another format; update domogate.")
    version = data.get("version")
    texts = [data.get(k) for k in ("installation", "digest", "published_at", "publisher_key")]
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or version < 1
        or not all(isinstance(t, str) and t and t.isascii() for t in texts)
        or set(data) != {"format", "installation", "version", "digest", "published_at",
                         "publisher_key"}
    ):  # fmt: skip
        raise VersionInvalid("The version's manifest lacks a field or has a wrong one.")
    manifest = Manifest(texts[0], version, texts[1], texts[2], texts[3])  # type: ignore[arg-type]
    if manifest.to_bytes() != raw:
        raise VersionInvalid("The version's manifest is not in its canonical form.")
    return manifest


def check_version(
    *,
    manifest: bytes,
    signature: bytes,
    content: bytes,
    pinned_key: str | None,
    installation: str,
    published_version: int,
    local_deploy_at: datetime | None = None,
) -> Manifest:
    """The server's checks of a published version, in order (``docs/cloud-publish.md``):
    a pinned key, a manifest, the pinned key's signature, this installation, the digest,
    a newer version — newer than the last one applied, and published after the last
    local deploy (``local_deploy_at``), which supersedes every version signed before it.
    Raises the first failure's error; returns the manifest."""
    if not pinned_key:
        raise PublisherKeyMissing()
    parsed = parse_manifest(manifest)
    if not hmac.compare_digest(parsed.publisher_key.encode(), pinned_key.encode()):
        raise SignatureInvalid("The version is not signed by the publisher key this server pinned.")
    try:
        cloudwire.parse_public_key(pinned_key).verify(signature, SIGNED_PREFIX + manifest)
    except (InvalidSignature, ValueError, InvalidInput) as exc:
        raise SignatureInvalid("The version's signature does not verify.") from exc
    if parsed.installation != installation:
        raise VersionWrongInstallation()
    if len(content) > MAX_CONTENT_BYTES or not hmac.compare_digest(
        digest_of(content).encode(), parsed.digest.encode()
    ):
        raise VersionDigestMismatch()
    published_at = _published_at(parsed.published_at)
    if local_deploy_at is not None and published_at < local_deploy_at:
        raise VersionNotNewer(
            f"Version {parsed.version} was published before the last local deploy "
            f"({iso(local_deploy_at)}), which supersedes it; publish again.",
            version=parsed.version,
        )
    if parsed.version <= published_version:
        raise VersionNotNewer(
            f"Version {parsed.version} is not newer than the one applied ({published_version}).",
            version=parsed.version,
            applied=published_version,
        )
    return parsed


def _published_at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise VersionInvalid("The version's manifest has no valid published_at.") from exc
    if at.tzinfo is None:
        raise VersionInvalid("The version's published_at has no time zone.")
    return at
