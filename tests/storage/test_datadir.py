"""The server's data folder: layout, modes, idempotence, setup code, certificates."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domogate.core import otp as otp_rules
from domogate.errors import InvalidInput
from domogate.files import write_atomic
from domogate.security.tls import generate_self_signed
from domogate.storage.datadir import (
    DataDir,
    format_setup_code,
    generate_setup_code,
)
from domogate.storage.sql import open_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_the_layout(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    assert data.initialise() is True
    root = tmp_path / "data"
    assert data.path == root
    assert mode(root) == 0o700
    assert mode(root / "tls") == 0o700
    assert mode(root / "secret.key") == 0o600
    assert mode(root / "tls" / "key.pem") == 0o600
    assert mode(root / "setup-code") == 0o600
    assert (root / "tls" / "cert.pem").is_file()
    assert not [p for p in root.rglob("*.tmp")]

    assert len((root / "secret.key").read_bytes()) == 32
    assert data.secret == (root / "secret.key").read_bytes()
    body = json.loads((root / "server.json").read_text())
    assert body == {"server_id": data.server_id}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", data.server_id)

    assert data.database_path == root / "domogate.db"
    assert data.database_url == f"sqlite+aiosqlite:///{root / 'domogate.db'}"
    assert data.sync_database_url == f"sqlite:///{root / 'domogate.db'}"
    assert data.tls_cert_path == root / "tls" / "cert.pem"
    assert data.tls_key_path == root / "tls" / "key.pem"


def test_initialise_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "data"
    first = DataDir(root)
    assert first.initialise() is True
    files = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    code = first.setup_code()

    again = DataDir(root)
    assert again.initialise(["other.example", "10.0.0.7"]) is False
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == files
    assert again.secret == first.secret
    assert again.server_id == first.server_id
    assert again.fingerprint == first.fingerprint
    assert again.setup_code() == code

    # after the first deploy the setup code is gone for good
    again.discard_setup_code()
    again.discard_setup_code()
    assert DataDir(root).initialise() is False
    assert again.setup_code() is None
    assert not (root / "setup-code").exists()


def test_empty_prepared_folder_is_a_first_start(tmp_path: Path) -> None:
    root = tmp_path / "prepared"
    root.mkdir(mode=0o750)
    data = DataDir(root)
    assert data.initialise() is True
    assert data.setup_code() is not None


def test_interrupted_first_start_keeps_its_setup_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import domogate.storage.datadir as datadir_module

    def broken(*_a: object, **_k: object) -> tuple[bytes, bytes]:
        raise OSError(28, "No space left on device")

    data = DataDir(tmp_path / "data")
    with monkeypatch.context() as patch:
        patch.setattr(datadir_module, "generate_self_signed", broken)
        with pytest.raises(InvalidInput, match="No space left"):
            data.initialise()
    code = data.setup_code()
    assert code is not None
    assert DataDir(data.path).initialise() is True  # still the first (successful) start
    assert data.setup_code() == code
    assert data.tls_cert_path.is_file()


def test_distinct_folders_have_distinct_secrets(tmp_path: Path) -> None:
    a, b = DataDir(tmp_path / "a"), DataDir(tmp_path / "b")
    a.initialise()
    b.initialise()
    assert a.secret != b.secret
    assert a.server_id != b.server_id
    assert a.fingerprint != b.fingerprint
    assert a.setup_code() != b.setup_code()


def test_fingerprint_is_sha256_of_the_der_certificate(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise(["box.local", "192.168.1.20", "::1"])
    cert = x509.load_pem_x509_certificate(data.tls_cert_path.read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert data.fingerprint == hashlib.sha256(der).hexdigest()
    assert data.fingerprint == cert.fingerprint(hashes.SHA256()).hex()
    assert re.fullmatch(r"[0-9a-f]{64}", data.fingerprint)
    assert data.certificate_pem() == data.tls_cert_path.read_bytes()

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["box.local"]
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {
        "192.168.1.20",
        "::1",
    }


def test_derive_key(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise()
    otp_key = data.derive_key("otp-digest")
    assert len(otp_key) == 32
    assert otp_key == data.derive_key("otp-digest")
    assert otp_key != data.derive_key("otp-seal")
    assert otp_key != data.secret
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"otp-digest").derive(
        data.secret
    )
    assert otp_key == expected
    with pytest.raises(ValueError):
        data.derive_key("")


def test_setup_code(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise()
    shown = data.setup_code()
    assert shown is not None
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}-[A-Z]{4}", shown)
    canonical = shown.replace("-", "")
    assert otp_rules.is_well_formed(canonical, 12)

    assert data.check_setup_code(shown)
    assert data.check_setup_code(canonical)
    assert data.check_setup_code(canonical.lower())
    assert data.check_setup_code(" " + " ".join(shown.lower().split("-")) + " ")
    assert data.check_setup_code(f"{canonical[:6]}-{canonical[6:]}")
    assert not data.check_setup_code("")
    assert not data.check_setup_code(canonical[:-1])
    assert not data.check_setup_code(canonical + "A")
    wrong = ("C" if canonical[0] == "A" else "A") + canonical[1:]
    assert not data.check_setup_code(wrong)
    assert not data.check_setup_code("ÄÖÜ" * 4)

    data.discard_setup_code()
    assert data.setup_code() is None
    assert not data.check_setup_code(shown)


def test_format_setup_code() -> None:
    assert format_setup_code("ACDEFGHJKLMN") == "ACDE-FGHJ-KLMN"


def test_setup_codes_use_the_whole_alphabet() -> None:
    codes = [generate_setup_code() for _ in range(200)]
    assert all(otp_rules.is_well_formed(c, 12) for c in codes)
    assert len(set(codes)) == 200
    assert set("".join(codes)) == set(otp_rules.ALPHABET)  # 2,400 draws from 20 letters


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.write_text("not a folder")
    with pytest.raises(InvalidInput, match="not a folder"):
        DataDir(target).initialise()


def test_refuses_a_folder_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="not a folder"):
        DataDir(tmp_path / "file" / "data").initialise()


def test_reports_an_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # running as root bypasses permissions, so simulate what a normal user would see
    target = tmp_path / "data"
    target.mkdir()
    monkeypatch.setattr(os, "access", lambda *_a, **_k: False)
    with pytest.raises(InvalidInput, match="not writable"):
        DataDir(target).initialise()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_refuses_a_read_only_folder(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir(mode=0o500)
    try:
        with pytest.raises(InvalidInput, match="not writable"):
            DataDir(target).initialise()
    finally:
        target.chmod(0o700)


def test_refuses_to_replace_a_lost_secret(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise()
    data.database_path.write_bytes(b"")  # a database exists
    data.secret_path.unlink()
    with pytest.raises(InvalidInput, match="secret"):
        DataDir(data.path).initialise()
    assert not data.secret_path.exists()


def test_damaged_files_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    DataDir(root).initialise()
    (root / "secret.key").write_bytes(b"short")
    with pytest.raises(InvalidInput, match="damaged"):
        _ = DataDir(root).secret
    (root / "server.json").write_text("{")
    with pytest.raises(InvalidInput, match="damaged"):
        _ = DataDir(root).server_id
    with pytest.raises(InvalidInput, match="missing"):
        _ = DataDir(tmp_path / "elsewhere").secret


def test_half_a_certificate_is_not_silently_replaced(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise()
    cert = data.tls_cert_path.read_bytes()
    data.tls_key_path.unlink()
    with pytest.raises(InvalidInput, match="missing"):
        data.initialise()
    assert data.tls_cert_path.read_bytes() == cert


def test_use_certificate(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise()
    old = data.fingerprint

    cert_pem, key_pem = generate_self_signed(["home.example"], now=datetime.now(UTC))
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    data.use_certificate(tmp_path / "c.pem", tmp_path / "k.pem")
    assert data.tls_cert_path.read_bytes() == cert_pem
    assert data.tls_key_path.read_bytes() == key_pem
    assert mode(data.tls_key_path) == 0o600
    assert data.fingerprint != old
    assert data.initialise() is False  # kept, not regenerated
    assert data.tls_cert_path.read_bytes() == cert_pem

    # a key that does not match, garbage, missing files: refused, nothing changed
    _, other_key = generate_self_signed(["x"], now=datetime.now(UTC))
    (tmp_path / "other.pem").write_bytes(other_key)
    (tmp_path / "junk.pem").write_bytes(b"junk")
    for cert, key in [
        ("c.pem", "other.pem"),
        ("junk.pem", "k.pem"),
        ("c.pem", "junk.pem"),
        ("missing.pem", "k.pem"),
    ]:
        with pytest.raises(InvalidInput):
            data.use_certificate(tmp_path / cert, tmp_path / key)
    assert data.tls_cert_path.read_bytes() == cert_pem


def test_write_atomic(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_atomic(target, b"one")
    write_atomic(target, b"two", mode=0o640)
    assert target.read_bytes() == b"two"
    assert mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


async def test_database_url_opens_a_store(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.initialise()
    store = await open_store(data.database_url)
    try:
        assert await store.list_users() == []
    finally:
        await store.close()
    assert data.database_path.is_file()
