"""The cloud name's certificate, end to end: Debian's ``pebble`` as the ACME directory, a
real ``domogate cloud serve --acme-directory``, a real ``domogate server`` linked to it
answering TLS-ALPN-01 through the relay (docs/cloud-acme.md)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from domogate.client.pinning import fetch_certificate, pinned_ssl_context
from domogate.security.tls import fingerprint_of_der, fingerprint_of_pem
from tests.support import pebble as pebble_support
from tests.support.acmestack import Stack, stack
from tests.support.until import wait_for

pytestmark = pytest.mark.skipif(not pebble_support.available(), reason="needs Debian's pebble")


def _get_info(tls: ssl.SSLSocket, host: str, port: int) -> bytes:
    tls.sendall(
        f"GET /api/info HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    answer = b""
    while chunk := tls.recv(65536):
        answer += chunk
    return answer


def _peer(tls: ssl.SSLSocket) -> x509.Certificate:
    der = tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der)


def test_browsers_get_a_trusted_certificate_and_pinned_clients_the_servers_own(
    tmp_path: Path,
) -> None:
    with stack(tmp_path) as s:
        wait_for(s.issued_lines, "the ACME certificate", 30)
        # a CA-verifying client (pebble's root only, host name checked), offering h2
        with s.handshake(s.browser_context(), ["h2", "http/1.1"]) as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"  # uvicorn speaks h11 only
            leaf = _peer(tls)
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert san.get_values_for_type(x509.DNSName) == [s.host]
            answer = _get_info(tls, s.host, s.cloud.port)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b'"cloud"' in answer

        # the pinned Python client through the relay: the server's own certificate
        own = s.server.fingerprint
        with s.handshake(pinned_ssl_context(s.server.cert_pem), None) as tls:
            assert fingerprint_of_der(tls.getpeercert(binary_form=True) or b"") == own
            assert tls.selected_alpn_protocol() in (None, "http/1.1")
            assert _get_info(tls, s.host, s.cloud.port).startswith(b"HTTP/1.1 200")
        pem = fetch_certificate("127.0.0.1", s.cloud.port, server_hostname=s.host)
        assert fingerprint_of_pem(pem) == own  # what enrolment through the cloud reads

        # acme-tls/1 for the cloud name while nothing is pending: no challenge certificate
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        with s.handshake(probe, ["acme-tls/1"]) as tls:
            assert tls.selected_alpn_protocol() is None
            assert fingerprint_of_der(tls.getpeercert(binary_form=True) or b"") == own

        # a local connection is never given the ACME certificate, whatever it asks
        local = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        local.check_hostname, local.verify_mode = False, ssl.CERT_NONE
        local.set_alpn_protocols(["h2", "http/1.1"])
        with (
            socket.create_connection(("127.0.0.1", s.server.port), timeout=10) as raw,
            local.wrap_socket(raw, server_hostname=s.host) as tls,
        ):
            assert fingerprint_of_der(tls.getpeercert(binary_form=True) or b"") == own

        # a restart keeps the certificate: nothing is issued again
        serial = _serial(s)
        files = s.server.data / "acme"
        assert {p.name: p.stat().st_mode & 0o777 for p in files.iterdir()} == {
            "account.pem": 0o600, "cert.pem": 0o600, "key.pem": 0o600, "cert.json": 0o600,
        }  # fmt: skip
        assert files.stat().st_mode & 0o777 == 0o700
        s.server.stop()
        s.server.start()
        wait_for(lambda: "kept from an earlier start" in s.server.log(), "the kept certificate")
        wait_for(lambda: _serial_or_none(s) == serial, "the kept certificate through the relay")
        assert len(s.issued_lines()) == 1


def _serial_or_none(s: Stack) -> int | None:
    try:
        return _serial(s)
    except (OSError, ssl.SSLError):
        return None


def _serial(s: Stack) -> int:
    with s.handshake(s.browser_context(), ["http/1.1"]) as tls:
        return _peer(tls).serial_number


def test_the_certificate_is_renewed_before_it_ends(tmp_path: Path) -> None:
    with stack(tmp_path, validity_s=5) as s:  # renewed once 3.3 s of its 5 s are gone
        wait_for(s.issued_lines, "the ACME certificate", 30)
        first = _serial(s)
        wait_for(lambda: len(s.issued_lines()) >= 2, "a renewal", 20)
        wait_for(lambda: _serial(s) != first, "the renewed certificate served")


def test_without_a_directory_the_self_signed_certificate_is_served(tmp_path: Path) -> None:
    with stack(tmp_path, acme="none") as s:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        with s.handshake(probe, ["h2", "http/1.1"]) as tls:  # a browser's hello
            assert fingerprint_of_der(tls.getpeercert(binary_form=True) or b"") == (
                s.server.fingerprint
            )
            assert _get_info(tls, s.host, s.cloud.port).startswith(b"HTTP/1.1 200")
        assert not (s.server.data / "acme").exists()
