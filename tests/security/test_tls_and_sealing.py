"""The self-signed certificate (and pinning it with Python's ssl), fingerprints, sealing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from domogate.errors import InvalidInput
from domogate.security.sealing import Sealer
from domogate.security.tls import (
    fingerprint_of_der,
    fingerprint_of_pem,
    format_fingerprint,
    generate_self_signed,
    normalise_fingerprint,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- certificate contents -----------------------------------------------------------------


def test_generated_certificate() -> None:
    cert_pem, key_pem = generate_self_signed(
        ["localhost", "127.0.0.1", "Box.Example", "[::1]", "localhost"], now=NOW, days=30
    )
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert cert.public_key() == key.public_key()

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "domogate server"
    assert cert.issuer == cert.subject
    assert cert.not_valid_before_utc <= NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "box.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca is False
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]

    # the self-signature verifies
    cert.verify_directly_issued_by(cert)


def test_each_certificate_is_new() -> None:
    a, ka = generate_self_signed(["localhost"], now=NOW)
    b, kb = generate_self_signed(["localhost"], now=NOW)
    assert a != b
    assert ka != kb
    assert fingerprint_of_pem(a) != fingerprint_of_pem(b)


def test_generate_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput):
        generate_self_signed([], now=NOW)
    with pytest.raises(InvalidInput):
        generate_self_signed(["bad host\x00"], now=NOW)
    with pytest.raises(ValueError):
        generate_self_signed(["localhost"], now=datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        generate_self_signed(["localhost"], now=NOW, days=0)


def test_fingerprints() -> None:
    cert_pem, _ = generate_self_signed(["localhost"], now=NOW)
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    # recomputed without cryptography: base64 body of the PEM
    import base64

    body = b"".join(line for line in cert_pem.splitlines() if not line.startswith(b"-----"))
    assert base64.b64decode(body) == der
    expected = hashlib.sha256(der).hexdigest()
    assert fingerprint_of_der(der) == expected
    assert fingerprint_of_pem(cert_pem) == expected
    assert fingerprint_of_pem(cert_pem.decode().encode()) == expected

    human = format_fingerprint(expected)
    assert len(human) == 64 + 31
    assert human == ":".join(expected[i : i + 2] for i in range(0, 64, 2)).upper()
    assert normalise_fingerprint(human) == expected
    assert format_fingerprint(human) == human

    with pytest.raises(InvalidInput):
        fingerprint_of_pem(b"not a certificate")


# --- a Python client pinning the certificate ---------------------------------------------


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, bytes]]:
    cert_pem, key_pem = generate_self_signed(["localhost", "127.0.0.1"], now=datetime.now(UTC))
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            writer.write(b"echo " + line)
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, cert_pem
    finally:
        server.close()
        await server.wait_closed()


async def _exchange(port: int, ctx: ssl.SSLContext, server_hostname: str | None) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname=server_hostname
    )
    try:
        writer.write(b"hello\n")
        await writer.drain()
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert await reader.readline() == b"echo hello\n"
        return bytes(der)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_python_client_pins_the_certificate(tls_server: tuple[int, bytes]) -> None:
    port, cert_pem = tls_server
    ctx = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    ctx.check_hostname = False
    der = await _exchange(port, ctx, None)
    assert fingerprint_of_der(der) == fingerprint_of_pem(cert_pem)

    # also with the stricter X.509 checks (default from Python 3.13) and hostname checks
    strict = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    strict.verify_flags |= ssl.VERIFY_X509_STRICT
    await _exchange(port, strict, "127.0.0.1")
    await _exchange(port, strict, "localhost")


async def test_python_client_refuses_another_certificate(tls_server: tuple[int, bytes]) -> None:
    port, _ = tls_server
    other, _ = generate_self_signed(["localhost", "127.0.0.1"], now=datetime.now(UTC))
    ctx = ssl.create_default_context(cadata=other.decode("ascii"))
    ctx.check_hostname = False
    with pytest.raises(ssl.SSLCertVerificationError):
        await _exchange(port, ctx, None)
    # and a default client (system trust store) refuses the self-signed certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        await _exchange(port, ssl.create_default_context(), "localhost")


# --- sealing -----------------------------------------------------------------------------


def test_seal_and_open() -> None:
    sealer = Sealer(bytes(range(32)))
    sealed = sealer.seal("ACDEFGHJKL")
    assert b"ACDEFGHJKL" not in sealed
    assert len(sealed) == 12 + 10 + 16
    assert sealer.open(sealed) == "ACDEFGHJKL"
    assert sealer.seal("ACDEFGHJKL") != sealed  # random nonce
    assert sealer.open(sealer.seal("")) == ""
    assert sealer.open(sealer.seal("héllo ✓")) == "héllo ✓"
    assert Sealer(bytes(range(32))).open(sealed) == "ACDEFGHJKL"  # same key, new instance


def test_open_refuses_tampering_and_other_keys() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal("ACDEFGHJKL")
    for i in (0, 11, 12, len(sealed) - 1):
        forged = bytearray(sealed)
        forged[i] ^= 0x01
        with pytest.raises(InvalidInput):
            sealer.open(bytes(forged))
    with pytest.raises(InvalidInput):
        sealer.open(sealed[:-1])
    with pytest.raises(InvalidInput):
        sealer.open(b"")
    with pytest.raises(InvalidInput):
        Sealer(b"x" * 32).open(sealed)


def test_sealer_key_size() -> None:
    with pytest.raises(ValueError):
        Sealer(b"short")
    with pytest.raises(ValueError):
        Sealer(b"x" * 16)
