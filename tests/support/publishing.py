"""Published versions as the home server's link port gives them (``PublishedVersion``),
built on ``tests/support/published.py`` (signed as ``domogate cloud publish`` signs), or
spoiled on purpose (another key, another content)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire
from domogate.services.ports import PublishedVersion
from tests.support.published import WHEN, signed_version

__all__ = ["WHEN", "key_text", "published"]


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
    signed = signed_version(installation, version, key, project=data)
    return PublishedVersion(
        version, signed.manifest, signed.signature, signed.content if content is None else content
    )
