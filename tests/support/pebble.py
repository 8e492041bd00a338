"""Debian's ``pebble`` (Let's Encrypt's test ACME server) and ``pebble-challtestsrv`` (its
DNS) on 127.0.0.1, for the cloud name's certificate (``docs/cloud-acme.md``); and an NSS
database that makes a headless chromium trust pebble's root.

- :class:`Pebble` ``start()``: a fresh CA and a ``localhost``/127.0.0.1 certificate for
  pebble's own HTTPS (``ca_path``: give it to ``domogate server --acme-ca-bundle``), a
  generated config (free ports; ``tlsPort`` = the relay's port, so TLS-ALPN-01 validations
  go to the relay; ``certificateValidityPeriod`` when asked), the DNS server answering
  127.0.0.1 for every name (``-defaultIPv4 127.0.0.1 -defaultIPv6 ""``, its HTTP-01,
  HTTPS-01 and TLS-ALPN-01 servers off), ``PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0``.
  ``root_pem()``: the root pebble issues under (``/roots/0`` of its management port; a new
  one at each start). ``stop()``: both stopped by their PIDs.
- :func:`chromium_trusting(root_pem, home)`: ``home/.pki/nssdb`` trusting the root, for
  ``launch(env={"HOME": str(home), ...})``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.processes import free_port

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
CERTUTIL = "certutil"


def available() -> bool:
    """pebble and its DNS server are installed (Debian's ``pebble`` package)."""
    return Path(PEBBLE).exists() and Path(CHALLTESTSRV).exists()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True,
    crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def make_https_identity(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for localhost and 127.0.0.1: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "domogate test ACME HTTPS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "https-ca.pem", folder / "https-cert.pem", folder / "https-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # only the processes this helper started, by PID
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Pebble:
    """See the module's docstring. ``tls_port``: where pebble sends TLS-ALPN-01
    validations (the relay's port); ``validity_s``: issued certificates' lifetime."""

    folder: Path
    tls_port: int
    validity_s: int | None = None
    port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    dns_management_port: int = field(default_factory=free_port)
    pebble: subprocess.Popen[bytes] | None = None
    dns: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def ca_path(self) -> Path:
        """The CA of pebble's own HTTPS (``--acme-ca-bundle``)."""
        return self.folder / "https-ca.pem"

    def log(self) -> str:
        parts = []
        for name in ("pebble.log", "dns.log"):
            path = self.folder / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace"))
        return "\n".join(parts)

    def start(self) -> Pebble:
        _, cert, key = make_https_identity(self.folder)
        config: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": free_port(),  # HTTP-01 is not used
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if self.validity_s is not None:
            config["certificateValidityPeriod"] = self.validity_s
        config_path = self.folder / "pebble-config.json"
        config_path.write_text(json.dumps({"pebble": config}))
        with (self.folder / "dns.log").open("ab") as log:
            self.dns = subprocess.Popen(
                [CHALLTESTSRV, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                 "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", "", "-https01", "",
                 "-tlsalpn01", "", "-management", f"127.0.0.1:{self.dns_management_port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PATH": "/usr/bin:/bin"}
        with (self.folder / "pebble.log").open("ab") as log:
            self.pebble = subprocess.Popen(
                [PEBBLE, "-config", str(config_path), "-dnsserver",
                 f"127.0.0.1:{self.dns_port}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while not (_listening(self.port) and _listening(self.management_port)):
            for proc in (self.pebble, self.dns):
                if proc.poll() is not None:
                    self.stop()
                    raise AssertionError(f"pebble exited {proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"pebble did not start:\n{self.log()}")
            time.sleep(0.02)
        return self

    def https_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def root_pem(self) -> bytes:
        """The root pebble issues under (management ``/roots/0``)."""
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=self.https_context(), timeout=5) as answer:
            body: bytes = answer.read()
        return body

    def stop(self) -> None:
        _stop(self.pebble)
        _stop(self.dns)
        self.pebble = self.dns = None


def chromium_trusting(root_pem: bytes, home: Path) -> dict[str, str]:
    """An NSS database in ``home/.pki/nssdb`` that trusts ``root_pem`` for servers (needs
    ``certutil``, Debian's ``libnss3-tools``); returns the environment to give Playwright's
    ``launch(env=...)`` (``HOME`` pointing there)."""
    if shutil.which(CERTUTIL) is None:
        raise RuntimeError("certutil is missing: apt-get install libnss3-tools")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    root = home / "pebble-root.pem"
    root.write_bytes(root_pem)
    subprocess.run(
        [CERTUTIL, "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, capture_output=True
    )
    subprocess.run(
        [CERTUTIL, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "pebble", "-i", str(root)],
        check=True,
        capture_output=True,
    )
    return {"HOME": str(home)}
