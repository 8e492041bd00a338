"""The ACME files in the server's data folder, ``DATA/acme/`` (mode 0700; every file
0600, written atomically):

| file | holds |
| --- | --- |
| ``account.pem`` | the ACME account key (ECDSA P-256), made the first time |
| ``cert.pem`` | the certificate for the cloud name and its chain (leaf first) |
| ``key.pem`` | its private key |
| ``cert.json`` | ``{"directory", "host"}``: where and for which name it was issued |

The certificate is written key first, then chain, then ``cert.json`` last: a crash in
between leaves files that do not match, which :meth:`AcmeStore.certificate` refuses (the
server then asks for a new one).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from domogate.core.acmeplan import Lifetime
from domogate.files import write_atomic

log = logging.getLogger("domogate.cloud.acme")


@dataclass(frozen=True)
class HeldCertificate:
    """A certificate issued for ``host`` by ``directory``, as kept on disk."""

    host: str
    directory: str
    chain_pem: bytes
    key_pem: bytes
    lifetime: Lifetime
    issuer: str  # the issuer's distinguished name (RFC 4514)
    serial: int


def describe_chain(chain_pem: bytes) -> tuple[Lifetime, str, int]:
    """The leaf's lifetime (DNS names, validity), issuer and serial number."""
    leaf = x509.load_pem_x509_certificate(chain_pem)
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    lifetime = Lifetime(names, leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    return lifetime, leaf.issuer.rfc4514_string(), leaf.serial_number


class AcmeStore:
    """``DATA/acme/`` (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def cert_path(self) -> Path:
        return self.folder / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.folder / "key.pem"

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def account_key(self) -> ec.EllipticCurvePrivateKey:
        """The account key, made (and kept) the first time."""
        path = self.folder / "account.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} is not an ECDSA key; remove it to make a new one")
            return key
        self._ensure_folder()
        key = ec.generate_private_key(ec.SECP256R1())
        write_atomic(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        return key

    def certificate(self, host: str, directory: str) -> HeldCertificate | None:
        """The kept certificate when it was issued for ``host`` by ``directory`` and its
        files match (else None: a new one is asked for)."""
        meta = self._json("cert.json")
        if not meta or meta.get("host") != host or meta.get("directory") != directory:
            return None
        try:
            chain = self.cert_path.read_bytes()
            key_pem = self.key_path.read_bytes()
            lifetime, issuer, serial = describe_chain(chain)
            key = serialization.load_pem_private_key(key_pem, password=None)
            leaf = x509.load_pem_x509_certificate(chain)
        except (OSError, ValueError) as exc:
            log.warning("ignoring the kept ACME certificate in %s: %s", self.folder, exc)
            return None
        if key.public_key() != leaf.public_key():
            log.warning(
                "ignoring the kept ACME certificate in %s: its key does not match", self.folder
            )
            return None
        return HeldCertificate(host, directory, chain, key_pem, lifetime, issuer, serial)

    def save_certificate(self, host: str, directory: str, chain_pem: bytes, key_pem: bytes) -> None:
        self._ensure_folder()
        write_atomic(self.key_path, key_pem)
        write_atomic(self.cert_path, chain_pem)
        body = json.dumps({"directory": directory, "host": host}).encode()
        write_atomic(self.folder / "cert.json", body)

    def _json(self, name: str) -> dict[str, object] | None:
        try:
            data = json.loads((self.folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None
