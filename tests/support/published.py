"""Signed project versions for tests, built with ``core/publishing.py`` as ``domogate cloud
publish`` builds them: canonical content, manifest, signature, and the API's JSON body."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core.publishing import canonical_content, make_manifest, sign_manifest

WHEN = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signed:
    manifest: bytes
    signature: bytes
    content: bytes

    def body(self) -> dict[str, str]:
        """The ``POST …/versions`` body."""
        return {
            "manifest": b64url(self.manifest),
            "signature": b64url(self.signature),
            "content": b64url(self.content),
        }


def signed_version(
    installation: str,
    version: int,
    key: Ed25519PrivateKey,
    *,
    project: dict[str, Any] | None = None,
    content: bytes | None = None,
    when: datetime = WHEN,
) -> Signed:
    """A version of ``installation`` signed by ``key`` (its content: ``content`` as is, or
    ``project``'s canonical bytes, or a small stand-in project)."""
    if content is None:
        content = canonical_content(project or {"format": 1, "note": f"version {version}"})
    manifest = make_manifest(installation, version, content, when, key.public_key()).to_bytes()
    return Signed(manifest, sign_manifest(manifest, key), content)
