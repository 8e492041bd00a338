"""Certificate pinning for the Python client.

A domogate server usually has a self-signed certificate generated at first start; the join
link carries its SHA-256 fingerprint. The client fetches the certificate once (without
verification, sending nothing but a TLS handshake), checks its fingerprint against the pin,
stores it, and from then on trusts exactly that certificate and nothing else: the stored
certificate is the only trust anchor of :func:`pinned_ssl_context`, so a handshake with any
other certificate fails before a single request byte is sent.

Every handshake of the client offers the ALPN marker :data:`PINNED_ALPN` first (then
``http/1.1``): a server that holds a CA-trusted certificate for its cloud name presents
its own, pinned certificate to a hello carrying it (``docs/cloud-acme.md``).
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

from domogate.core.clienthello import PINNED_ALPN as PINNED_ALPN  # the clients' marker
from domogate.errors import CertificateMismatch, InvalidInput, ServerUnreachable
from domogate.security.tls import fingerprint_of_pem, format_fingerprint

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SEPARATORS = str.maketrans("", "", ": \t\r\n-")


class PinnedContext(ssl.SSLContext):
    """A client context whose ALPN list always starts with :data:`PINNED_ALPN`: httpx
    (httpcore) sets its own list (``http/1.1``) on the context before each handshake."""

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        rest = [p for p in alpn_protocols if p != PINNED_ALPN]
        super().set_alpn_protocols([PINNED_ALPN, *(rest or ["http/1.1"])])


def normalise_fingerprint(text: str) -> str:
    """``AB:CD:…`` / ``abcd…`` / ``sha256:AB CD …`` → 64 lower-case hex digits."""
    cleaned = text.strip()
    if cleaned.lower().startswith("sha256"):
        cleaned = cleaned[6:].lstrip("=:")
    cleaned = cleaned.translate(_SEPARATORS).lower()
    if not _HEX64.match(cleaned):
        raise InvalidInput(
            "A certificate fingerprint is the SHA-256 of the certificate: 64 hexadecimal "
            f"digits, optionally separated by colons (got {text.strip()[:120]!r})."
        )
    return cleaned


def colon_form(fp: str) -> str:
    """``abcd…`` → ``AB:CD:…`` (how fingerprints are shown to people)."""
    return format_fingerprint(normalise_fingerprint(fp))


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate's DER encoding, lower-case hex."""
    return fingerprint_of_pem(pem)


MISMATCH_ADVICE = (
    "Something on the way (a relay or proxy that decrypts TLS, or another server) answered "
    "in the server's place: do not connect through it. If the server's certificate was "
    "really replaced, connect again with a new join link from an admin."
)
"""What to do about a certificate that is not the pinned one (every mismatch message)."""


def check_pin(pem: bytes, pin: str) -> str:
    """Return the certificate's fingerprint; ``CertificateMismatch`` if it is not ``pin``."""
    actual = fingerprint(pem)
    expected = normalise_fingerprint(pin)
    if actual != expected:
        raise CertificateMismatch(
            "The server's certificate does not match the pinned fingerprint; refusing to "
            f"connect (expected {colon_form(expected)}, got {colon_form(actual)}).",
            expected=expected,
            actual=actual,
        )
    return actual


def host_port(url: str) -> tuple[str, int]:
    """Host and port of an ``http(s)://`` URL (default ports 443 / 80)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Not a server URL: {url!r} (expected https://HOST:PORT).")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"Bad port in {url!r}.") from exc
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def fetch_certificate(
    host: str, port: int, timeout: float = 10.0, server_hostname: str | None = None
) -> bytes:
    """The certificate the server at ``host:port`` presents, as PEM (TLS server name
    ``server_hostname``, default ``host``: the cloud path dials the relay and names the
    installation).

    Verification is off: this only *reads* the certificate so that its fingerprint can be
    compared with a pin. Nothing but the TLS handshake (and its close) is sent.
    """
    ctx = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    where = f"{host}:{port}"
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            ctx.wrap_socket(sock, server_hostname=server_hostname or host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLError as exc:
        raise ServerUnreachable(
            f"TLS handshake with {where} failed ({exc.reason or exc}); is it a domogate "
            "server over HTTPS?",
            url=where,
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise ServerUnreachable(f"Cannot reach {where}: {_reason(exc)}.", url=where) from exc
    if not der:
        raise ServerUnreachable(f"{where} presented no certificate.", url=where)
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__


def pinned_ssl_context(cert_pem: bytes) -> ssl.SSLContext:
    """A client context that trusts exactly ``cert_pem`` (and no system CA).

    The host name is not checked: the pin identifies the server, whatever address it is
    reached at. OpenSSL accepts a self-signed certificate that is in the trust store as its
    own anchor, so the chain check succeeds for that certificate only.
    """
    fingerprint_of_pem(cert_pem)  # fail early and clearly on garbage
    ctx = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=cert_pem.decode("ascii"))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    # Python ≥ 3.13 sets VERIFY_X509_STRICT by default, which rejects some self-signed leaf
    # certificates (no authority key identifier); the pin is what we rely on here.
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    if strict:
        ctx.verify_flags &= ~strict
    return ctx


def is_verification_failure(exc: BaseException) -> bool:
    """True if ``exc`` (or anything it wraps) is a failed certificate verification."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
