"""TLS certificates: the server's self-signed certificate and fingerprints.

The server generates a self-signed certificate at its first start (ECDSA P-256). Clients
do not check it against public authorities: the join link carries the SHA-256 fingerprint
of its DER encoding, and the Python client trusts exactly this certificate (it passes the
PEM as the only trust anchor, with hostname checks off).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from domogate.errors import InvalidInput

COMMON_NAME = "domogate server"


_DNS_NAME = re.compile(
    r"(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*"
)


def _dns_name(host: str, raw: str) -> str:
    try:
        ascii_name = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError as exc:
        raise InvalidInput(f"Not a valid host name for a certificate: {raw!r}.") from exc
    if len(ascii_name) > 253 or not _DNS_NAME.fullmatch(ascii_name):
        raise InvalidInput(f"Not a valid host name for a certificate: {raw!r}.")
    return ascii_name


def _general_names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in hostnames:
        host = raw.strip()
        if host.startswith("[") and host.endswith("]"):  # "[::1]" as written in URLs
            host = host[1:-1]
        if not host or host.lower() in seen:
            continue
        seen.add(host.lower())
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(_dns_name(host, raw)))
    return names


def generate_self_signed(
    hostnames: Sequence[str], *, now: datetime, days: int = 3650
) -> tuple[bytes, bytes]:
    """A new self-signed server certificate and its private key, both PEM.

    ``hostnames`` go into the SubjectAltName, as IP addresses when they parse as such and
    as DNS names otherwise. The certificate is an end-entity certificate (CA:FALSE,
    serverAuth); OpenSSL accepts it as its own trust anchor, which is how clients pin it.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if days <= 0:
        raise ValueError("days must be positive")
    names = _general_names(hostnames)
    if not names:
        raise InvalidInput("A certificate needs at least one host name or address.")

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate slightly late clocks
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def fingerprint_of_der(der: bytes) -> str:
    """SHA-256 of a DER certificate, lower-case hex without separators."""
    return hashlib.sha256(der).hexdigest()


def fingerprint_of_pem(pem: bytes) -> str:
    """SHA-256 fingerprint of the first certificate in ``pem`` (the leaf)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise InvalidInput("Not a PEM certificate.") from exc
    return fingerprint_of_der(cert.public_bytes(serialization.Encoding.DER))


def normalise_fingerprint(text: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → ``abcd…`` (lower case, no separators)."""
    return "".join(c for c in text if c not in ": -\t").lower()


def format_fingerprint(hex_digest: str) -> str:
    """``abcd…`` → ``AB:CD:…`` for people to compare."""
    canonical = normalise_fingerprint(hex_digest).upper()
    return ":".join(canonical[i : i + 2] for i in range(0, len(canonical), 2))
