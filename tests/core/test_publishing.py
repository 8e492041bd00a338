"""core/publishing.py: the signed manifest of a published version and the server's checks,
in their documented order (docs/cloud-publish.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire
from domogate.core import publishing as p
from domogate.errors import (
    PublisherKeyMissing,
    SignatureInvalid,
    VersionDigestMismatch,
    VersionInvalid,
    VersionNotNewer,
    VersionWrongInstallation,
)

AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
INTEGRATOR = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PINNED = cloudwire.public_key_text(INTEGRATOR.public_key())
HOUSE = "k3x9qv2mpl4t8n7a"
CONTENT = p.canonical_content({"format": 1, "name": "Maison", "objects": []})


def published(
    version: int = 3,
    *,
    key: Ed25519PrivateKey = INTEGRATOR,
    installation: str = HOUSE,
    content: bytes = CONTENT,
) -> tuple[bytes, bytes]:
    manifest = p.make_manifest(installation, version, content, AT, key.public_key()).to_bytes()
    return manifest, p.sign_manifest(manifest, key)


def check(manifest: bytes, signature: bytes, **changes: object) -> p.Manifest:
    args: dict[str, object] = {
        "content": CONTENT, "pinned_key": PINNED, "installation": HOUSE, "published_version": 2,
    }  # fmt: skip
    args.update(changes)
    return p.check_version(manifest=manifest, signature=signature, **args)  # type: ignore[arg-type]


def test_a_version_signed_by_the_pinned_key_for_this_house_passes() -> None:
    manifest, signature = published()
    parsed = check(manifest, signature)
    assert (parsed.version, parsed.installation) == (3, HOUSE)
    assert parsed.digest == p.digest_of(CONTENT) and parsed.published_at == "2026-12-02T03:00:00Z"
    assert p.parse_manifest(manifest) == parsed
    assert len(p.key_fingerprint(INTEGRATOR.public_key())) == 64


def test_each_hostile_version_gets_its_own_refusal() -> None:
    manifest, signature = published()
    with pytest.raises(PublisherKeyMissing):
        check(manifest, signature, pinned_key=None)
    with pytest.raises(SignatureInvalid):  # another key's version
        check(*published(key=Ed25519PrivateKey.generate()))
    with pytest.raises(SignatureInvalid):  # the pinned key named, another key's signature
        check(manifest, Ed25519PrivateKey.generate().sign(p.SIGNED_PREFIX + manifest))
    with pytest.raises(SignatureInvalid):  # a changed manifest (version raised by the cloud)
        check(manifest.replace(b'"version":3', b'"version":9'), signature)
    with pytest.raises(VersionWrongInstallation):
        check(*published(installation="someotherhouse0"))
    with pytest.raises(VersionDigestMismatch):  # modified content
        check(manifest, signature, content=CONTENT.replace(b"Maison", b"Pirate"))
    with pytest.raises(VersionNotNewer):  # a replayed older version
        check(manifest, signature, published_version=3)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format":2}',
        b'{"format":1,"installation":"a","version":true,"digest":"d","published_at":"t","publisher_key":"k"}',
        b'{"format":1,"installation":"a","version":0,"digest":"d","published_at":"t","publisher_key":"k"}',
        b'{"format":1,"installation":"a","version":1,"digest":"d","published_at":"t"}',
        b'{"format":1,"installation":"a","version":1,"digest":"d","published_at":"t","publisher_key":"k","x":1}',
        b'{"installation":"a","format":1,"version":1,"digest":"d","published_at":"t","publisher_key":"k"}',
        b"{" + b" " * 5000 + b"}",
        '{"digest":"d","format":1,"installation":"a","published_at":"t","publisher_key":"\u00e9","version":1}'.encode(),
    ],
)
def test_malformed_manifests_are_refused(raw: bytes) -> None:
    with pytest.raises(VersionInvalid):
        p.parse_manifest(raw)
