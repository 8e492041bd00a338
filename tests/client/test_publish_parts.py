"""The pure parts of ``domogate cloud publish`` / ``cloud versions``: the version number,
the streamed body (what the cloud decodes), the table, the refusals explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.support.published import WHEN

from domogate.cli import publish_cmd
from domogate.client import cloudversions, publishrecord
from domogate.cloud.versions_api import parse_upload
from domogate.core import publishing
from domogate.errors import (
    ClientError,
    CloudPasswordInvalid,
    InvalidInput,
    RateLimited,
    VersionNotNewer,
)


def test_the_next_version_is_the_clouds_latest_plus_one_unless_given() -> None:
    assert cloudversions.next_version({"installation": "x", "versions": []}, None) == 1
    listed = {"versions": [{"version": 3}, {"version": 7}, {"version": 5}, {"bogus": 1}]}
    assert cloudversions.next_version(listed, None) == 8
    assert cloudversions.next_version(None, 12) == 12
    with pytest.raises(InvalidInput):
        cloudversions.next_version(None, 0)
    with pytest.raises(Exception, match="versions"):
        cloudversions.latest_version({"versions": "nope"})


def test_the_streamed_body_is_what_the_cloud_decodes() -> None:
    key = Ed25519PrivateKey.generate()
    content = publishing.canonical_content({"format": 1, "name": "Maison é", "x": "a" * 700_001})
    manifest = publishing.make_manifest(
        "k3x9qv2mpl4t8n7a", 4, content, WHEN, key.public_key()
    ).to_bytes()
    signature = publishing.sign_manifest(manifest, key)
    body = cloudversions.upload_body(manifest, signature, content)
    chunks = body.chunks(chunk=64 * 1024)
    assert len(chunks) > 10 and max(len(c) for c in chunks) <= 64 * 1024
    raw = b"".join(bytes(c) for c in chunks)
    assert raw == body.to_bytes() and len(raw) == body.size
    assert set(json.loads(raw)) == {"manifest", "signature", "content"}
    upload = parse_upload(raw)  # the cloud's own decoder
    assert (upload.manifest, upload.signature, upload.content) == (manifest, signature, content)


def test_addresses_default_to_the_clouds_port() -> None:
    assert cloudversions.split_address("cloud.example.org") == ("cloud.example.org", 7443)
    assert cloudversions.split_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert cloudversions.split_address("[::1]:9000") == ("::1", 9000)
    for bad in ("", "h:0", "h:x", ":7443"):
        with pytest.raises(InvalidInput):
            cloudversions.split_address(bad)


def test_the_versions_table_rows() -> None:
    answer = {
        "installation": "x",
        "versions": [
            {"version": 3, "published_at": "2027-01-10T09:00:00Z", "size": 10, "report": None},
            {
                "version": 2,
                "published_at": "2027-01-09T09:00:00Z",
                "size": 9,
                "report": {"applied": False, "code": "signature_invalid", "message": "m"},
            },
            {"version": 1, "published_at": "t", "size": 8, "report": {"applied": True}},
        ],
    }
    assert publish_cmd.versions_rows(answer) == [
        ("3", "2027-01-10T09:00:00Z", "10", "pending"),
        ("2", "2027-01-09T09:00:00Z", "9", "refused signature_invalid"),
        ("1", "t", "8", "applied"),
    ]


def target(tmp_path: Path, publisher: str | None = "ab" * 32) -> publish_cmd.Target:
    record = publishrecord.PublishRecord(
        "k3x9qv2mpl4t8n7a", "https://h:7550", publisher, "127.0.0.1:7443", None
    )
    tmp_path.mkdir(exist_ok=True)
    publishrecord.write_record(tmp_path, record)
    return publish_cmd.target_of(tmp_path)


def test_refusals_say_what_to_do(tmp_path: Path) -> None:
    where = target(tmp_path)
    wrong = publish_cmd.explain(CloudPasswordInvalid(), where)
    assert isinstance(wrong, CloudPasswordInvalid) and "system.cloud.password" in wrong.message
    limited = publish_cmd.explain(RateLimited(12), where)
    assert isinstance(limited, RateLimited) and limited.retry_after == 12
    assert "12 s" in limited.message
    older = publish_cmd.explain(VersionNotNewer("Version 2 is not newer.", version=2), where)
    assert isinstance(older, VersionNotNewer) and "--version" in older.message
    assert older.details["version"] == 2


def test_the_target_needs_a_record_an_installation_and_a_cloud(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="deploy once locally first"):
        publish_cmd.target_of(tmp_path)
    publishrecord.write_record(
        tmp_path, publishrecord.PublishRecord(None, "http://h:7550", None, None, None)
    )
    with pytest.raises(ClientError, match="no installation name"):
        publish_cmd.target_of(tmp_path)
    publishrecord.write_record(
        tmp_path, publishrecord.PublishRecord("k3x9qv2mpl4t8n7a", "u", None, None, None)
    )
    with pytest.raises(ClientError, match=r"system\.cloud\.address"):
        publish_cmd.target_of(tmp_path)
    data = {"system": {"cloud": {"address": "c.example", "fingerprint": "cd" * 32}}}
    found = publish_cmd.target_of(tmp_path, data)
    assert (found.address, found.fingerprint) == ("c.example", "cd" * 32)


def test_another_integrator_key_than_the_pinned_one_is_refused_before_sending(
    tmp_path: Path,
) -> None:
    from domogate.client import integrator

    key = integrator.load_or_create(None, tmp_path / "k" / "integrator.key")
    with pytest.raises(ClientError, match="not the one"):
        publish_cmd._check_key(key, target(tmp_path / "p1"))
    publish_cmd._check_key(key, target(tmp_path / "p2", key.fingerprint))
