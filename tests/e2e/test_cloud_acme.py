"""The cloud name's certificate, end to end: Debian's ``pebble`` as the ACME directory, a
real ``domogate cloud serve --acme-directory``, a real ``domogate server`` linked to it
answering TLS-ALPN-01 through the relay (docs/cloud-acme.md)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from domogate.client.pinning import fetch_certificate, pinned_ssl_context
from domogate.security.tls import fingerprint_of_der, fingerprint_of_pem
from tests.support import pebble as pebble_support
from tests.support.cloudproc import CloudProcess
from tests.support.linked import link_new_server
from tests.support.processes import ServerProcess, free_port
from tests.support.until import wait_for

pytestmark = pytest.mark.skipif(not pebble_support.available(), reason="needs Debian's pebble")

ZONE = "cloud.test"


@dataclass
class Stack:
    pebble: pebble_support.Pebble | None
    cloud: CloudProcess
    server: ServerProcess
    name: str

    @property
    def host(self) -> str:
        return f"{self.name}.{ZONE}"

    def handshake(self, context: ssl.SSLContext, alpn: list[str] | None) -> ssl.SSLSocket:
        """A TLS connection to the relay naming the installation (the caller closes it)."""
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        raw = socket.create_connection(("127.0.0.1", self.cloud.port), timeout=10)
        try:
            return context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise

    def browser_context(self) -> ssl.SSLContext:
        """A client that trusts pebble's root only and checks the host name."""
        assert self.pebble is not None
        return ssl.create_default_context(cadata=self.pebble.root_pem().decode())

    def issued_lines(self) -> list[str]:
        return [
            line for line in self.server.log().splitlines()
            if line.startswith(f"cloud certificate for {self.host} issued")
        ]  # fmt: skip


@contextlib.contextmanager
def stack(
    tmp_path: Path, *, acme: str = "pebble", validity_s: int | None = None
) -> Iterator[Stack]:
    """``acme``: ``pebble`` (a real pebble) or ``none`` (no --acme-directory)."""
    cloud_port = free_port()
    peb = None
    args = ["--zone", ZONE]
    server_args: list[str] = []
    with contextlib.ExitStack() as stop:
        if acme == "pebble":
            peb = pebble_support.Pebble(tmp_path / "pebble", cloud_port, validity_s).start()
            stop.callback(peb.stop)
            args += ["--acme-directory", peb.directory]
            server_args += ["--acme-ca-bundle", str(peb.ca_path)]
        cloud = CloudProcess(tmp_path / "cloud", cloud_port, tmp_path / "cloud.log", args)
        stop.callback(cloud.stop)
        server = ServerProcess(
            tmp_path / "home", free_port(), tmp_path / "home.log", extra_args=server_args
        )
        stop.callback(server.stop)
        name = link_new_server(tmp_path, server, cloud)
        yield Stack(peb, cloud, server, name)


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
