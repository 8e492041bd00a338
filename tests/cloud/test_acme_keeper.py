"""The ACME keeper in this process (``cloud/acme/``): which certificate a relayed
ClientHello gets, a directory that fails (logged, state ``failed``, retried later, the
self-signed certificate meanwhile), the files it keeps, the challenge certificate."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from domogate.cloud.acme import AcmeKeeper
from domogate.cloud.acme.issuer import ChallengeBoard, Issued, challenge_certificate
from domogate.cloud.acme.store import AcmeStore
from domogate.core.acmeplan import AcmePolicy
from domogate.core.clienthello import PINNED_ALPN, Hello
from domogate.security.tls import generate_self_signed
from domogate.services.ports import CERT_FAILED, CERT_VALID, CloudCertificate
from tests.support.processes import free_port
from tests.support.until import until

HOST = "abc.cloud.test"


def _issued(host: str = HOST, days: int = 90) -> Issued:
    cert, key = generate_self_signed([host], now=datetime.now(UTC), days=days)
    return Issued(cert, key)


async def test_the_choice_of_certificate_follows_the_hello(tmp_path: Path) -> None:
    reports: list[CloudCertificate] = []
    keeper = AcmeKeeper(tmp_path / "acme", issue=lambda **_: _issued())
    keeper.keep(HOST, "https://acme.example/dir", reports.append)
    await until(lambda: any(r.state == CERT_VALID for r in reports), "the certificate")
    try:
        browser = keeper.choose(Hello(HOST, ("h2", "http/1.1")))
        assert browser is not None and not browser.handshake_only
        assert keeper.choose(Hello(HOST.upper(), ())) is not None  # names without case
        assert keeper.choose(Hello(HOST, (PINNED_ALPN, "http/1.1"))) is None  # pinned
        assert keeper.choose(Hello("other.cloud.test", ("http/1.1",))) is None
        assert keeper.choose(Hello(None, ("http/1.1",))) is None
        # acme-tls/1: only while a challenge for that very name is pending
        assert keeper.choose(Hello(HOST, ("acme-tls/1",))) is None
        cert, key = challenge_certificate(HOST, "token.thumbprint")
        keeper.board.post(HOST, cert, key)
        challenge = keeper.choose(Hello(HOST, ("acme-tls/1",)))
        assert challenge is not None and challenge.handshake_only
        assert keeper.choose(Hello("other.cloud.test", ("acme-tls/1",))) is None
        keeper.board.remove(HOST)
        assert keeper.choose(Hello(HOST, ("acme-tls/1",))) is None
    finally:
        await keeper.stop()
    assert keeper.choose(Hello(HOST, ("http/1.1",))) is None  # stopped: nothing served


async def test_a_directory_that_fails_is_logged_and_retried_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[CloudCertificate] = []
    directory = f"https://127.0.0.1:{free_port()}/dir"  # nobody listens
    keeper = AcmeKeeper(tmp_path / "acme", policy=AcmePolicy(retry_base_s=3600), random=lambda: 0)
    with caplog.at_level(logging.WARNING, "domogate.cloud.acme"):
        keeper.keep(HOST, directory, reports.append)
        await until(lambda: any(r.state == CERT_FAILED for r in reports), "a failure", timeout=20)
    await keeper.stop()
    failed = next(r for r in reports if r.state == CERT_FAILED)
    assert failed.host == HOST and failed.message and "cannot reach" in failed.message
    assert f"ACME: no certificate for {HOST} from {directory} (attempt 1)" in caplog.text
    assert "serving the self-signed certificate meanwhile" in caplog.text
    assert keeper.choose(Hello(HOST, ("http/1.1",))) is None
    assert not (tmp_path / "acme" / "cert.pem").exists()


async def test_a_kept_certificate_is_served_at_once_and_not_asked_again(tmp_path: Path) -> None:
    store = AcmeStore(tmp_path / "acme")
    issued = _issued()
    store.save_certificate(HOST, "https://acme.example/dir", issued.chain_pem, issued.key_pem)
    asked: list[str] = []

    def issue(**kwargs: object) -> Issued:
        asked.append(str(kwargs["host"]))
        return _issued()

    reports: list[CloudCertificate] = []
    keeper = AcmeKeeper(tmp_path / "acme", issue=issue)
    keeper.keep(HOST, "https://acme.example/dir", reports.append)
    await until(lambda: bool(reports), "a report")
    await asyncio.sleep(0)
    assert reports[-1].state == CERT_VALID and reports[-1].not_after is not None
    assert keeper.choose(Hello(HOST, ())) is not None
    await keeper.stop()
    assert asked == []
    # for another directory or name the kept files do not count
    assert store.certificate(HOST, "https://other.example/dir") is None
    assert store.certificate("x.cloud.test", "https://acme.example/dir") is None
    assert {p.stat().st_mode & 0o777 for p in store.folder.iterdir()} == {0o600}


def test_the_challenge_certificate_carries_the_key_authorization_digest() -> None:
    cert_pem, _ = challenge_certificate(HOST, "tok.thumb")
    cert = x509.load_pem_x509_certificate(cert_pem)
    ext = cert.extensions.get_extension_for_oid(ObjectIdentifier("1.3.6.1.5.5.7.1.31"))
    assert ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(b"tok.thumb").digest()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOST]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < timedelta(days=2)


def test_the_board_is_by_name() -> None:
    board = ChallengeBoard()
    board.post(HOST.upper(), b"c", b"k")
    assert board.get(HOST) == (b"c", b"k")
    assert board.get("other") is None


def test_an_order_that_ends_leaves_a_later_orders_challenge_in_place() -> None:
    board = ChallengeBoard()
    board.post("a.cloud.test", b"first", b"k1")
    board.post("a.cloud.test", b"second", b"k2")  # a later order for the same name
    board.remove("a.cloud.test", b"first")  # the first order's thread ends
    assert board.get("a.cloud.test") == (b"second", b"k2")
    board.remove("a.cloud.test", b"second")
    assert board.get("a.cloud.test") is None
