"""Published versions for tests: signed as ``domogate cloud publish`` signs them
(``core/publishing.py``), or spoiled on purpose (another key, another content)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire
from domogate.core.publishing import canonical_content, make_manifest, sign_manifest
from domogate.services.ports import PublishedVersion

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def key_text(key: Ed25519PrivateKey) -> str:
    return cloudwire.public_key_text(key.public_key())


def published(
    data: dict[str, Any],
    version: int,
    key: Ed25519PrivateKey,
    installation: str,
    *,
    content: bytes | None = None,
) -> PublishedVersion:
    """``data`` signed by ``key`` as ``version`` for ``installation``; ``content``: bytes
    sent instead of the signed ones (a cloud that changed them)."""
    signed = canonical_content(data)
    manifest = make_manifest(installation, version, signed, WHEN, key.public_key()).to_bytes()
    return PublishedVersion(
        version, manifest, sign_manifest(manifest, key), signed if content is None else content
    )
