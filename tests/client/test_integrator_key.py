"""The integrator key file (``client/integrator.py``) and the publish record."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from domogate.client import integrator, publishrecord
from domogate.errors import ClientError, InvalidInput


def test_made_on_first_use_private_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "integrator.key"
    key = integrator.load_or_create(tmp_path / "project", path)
    assert key.created and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not [p for p in path.parent.iterdir() if p.name != "integrator.key"]  # no temp
    again = integrator.load_or_create(tmp_path / "project", path)
    assert not again.created
    assert again.public_text == key.public_text and again.fingerprint == key.fingerprint
    assert len(key.fingerprint) == 64 and "created your integrator key" in (
        integrator.created_message(key).lower()
    )
    assert key.fingerprint in integrator.created_message(key)


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(integrator.ENV_VAR, str(tmp_path / "elsewhere.pem"))
    assert integrator.key_path() == tmp_path / "elsewhere.pem"
    integrator.load_or_create(tmp_path / "project")
    assert (tmp_path / "elsewhere.pem").exists()


def test_refused_inside_the_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "maison"
    project.mkdir()
    for inside in (project / "integrator.key", project / "sub" / ".." / "keys" / "k.pem"):
        monkeypatch.setenv(integrator.ENV_VAR, str(inside))
        with pytest.raises(InvalidInput) as refused:
            integrator.load_or_create(project)
        assert "inside the project folder" in refused.value.message
        assert integrator.ENV_VAR in refused.value.message
    # Through a symbolic link to the project folder as well.
    (tmp_path / "link").symlink_to(project)
    monkeypatch.setenv(integrator.ENV_VAR, str(tmp_path / "link" / "integrator.key"))
    with pytest.raises(InvalidInput):
        integrator.load_or_create(project)
    assert list(project.iterdir()) == []  # nothing was written there


def test_a_key_readable_by_others_or_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "integrator.key"
    integrator.load_or_create(None, path)
    os.chmod(path, 0o644)
    with pytest.raises(ClientError, match="chmod 600"):
        integrator.load_or_create(None, path)
    os.chmod(path, 0o600)
    ec_key = generate_private_key(SECP256R1())
    path.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ClientError, match="not an Ed25519 key"):
        integrator.load_or_create(None, path)
    path.write_bytes(b"garbage")
    with pytest.raises(ClientError, match="backup"):
        integrator.load_or_create(None, path)


def test_a_concurrent_first_use_keeps_the_first_key(tmp_path: Path) -> None:
    """The file is linked into place: a key that exists is never replaced."""
    path = tmp_path / "integrator.key"
    first = integrator._create(path)
    second = integrator._create(path)
    assert not second.created and second.public_text == first.public_text


def test_the_publish_record_round_trips_and_explains_its_absence(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="deploy once locally first"):
        publishrecord.read_record(tmp_path)
    record = publishrecord.PublishRecord(
        "k3x9qv2mpl4t8n7a", "https://h:7550", "ab" * 32, "127.0.0.1:7443", "cd" * 32
    )
    path = publishrecord.write_record(tmp_path, record)
    assert path == tmp_path / ".domogate" / "publish.json"
    assert publishrecord.read_record(tmp_path) == record
    assert "password" not in path.read_text()
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(ClientError, match="deploy locally again"):
        publishrecord.read_record(tmp_path)
    data = {"system": {"cloud": {"address": "c.example:7443", "fingerprint": None}}}
    assert publishrecord.cloud_of(data) == ("c.example:7443", None)
    assert publishrecord.cloud_of({}) == (None, None)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_key_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "integrator.key"
    integrator.load_or_create(path=path)
    os.chown(path, 65534, -1)  # someone else's file, still 0600
    with pytest.raises(ClientError, match="another user"):
        integrator.load_or_create(path=path)
