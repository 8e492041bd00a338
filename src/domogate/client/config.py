"""The CLI's config folder: which server this client is enrolled on, and its device key.

The folder is ``--config DIR``, else ``$DOMOGATE_CONFIG``, else the platform's user config
folder (``platformdirs.user_config_dir("domogate")``). It holds:

- ``config.json`` — ``{"server": {"url", "server_id", "name", "fingerprint"},
  "device": {"id", "name"}, "user": {"id", "name"}}`` (``fingerprint`` is the SHA-256 of the
  pinned certificate, lower-case hex, or null on plain HTTP);
- ``device-key.pem`` — the device's ECDSA P-256 private key (PKCS#8 PEM); it never leaves
  this folder;
- ``server-cert.pem`` — the pinned server certificate (absent on plain HTTP).

The folder is mode 0700 and every file mode 0600, written atomically (temporary file
created 0600, fsync, rename), so that a crash never leaves a half-written key or config.
``config.json`` is written last: its presence means "enrolled".
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from domogate.client.pinning import fingerprint
from domogate.errors import ClientError, NotEnrolled
from domogate.files import write_atomic

ENV_VAR = "DOMOGATE_CONFIG"
CONFIG_FILE = "config.json"
KEY_FILE = "device-key.pem"
CERT_FILE = "server-cert.pem"
DIR_MODE = 0o700
FILE_MODE = 0o600


def resolve_config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config DIR``, else ``$DOMOGATE_CONFIG``, else the user config folder."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("domogate"))


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and its parents) and make it mode 0700."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(directory, DIR_MODE)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600 from the first byte."""
    write_atomic(path, data, FILE_MODE)


@dataclass(frozen=True)
class ServerEntry:
    url: str
    server_id: str
    name: str | None
    fingerprint: str | None  # lower-case hex SHA-256 of the pinned certificate; None on HTTP

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "server_id": self.server_id,
            "name": self.name,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Identity:
    """A user or a device as remembered by the client: id and display name."""

    id: str
    name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass
class ClientConfig:
    directory: Path
    server: ServerEntry
    device: Identity
    user: Identity
    private_key: ec.EllipticCurvePrivateKey
    server_cert_pem: bytes | None = None

    # --- reading ----------------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ClientConfig:
        """Read the folder; ``NotEnrolled`` when there is no enrolment in it."""
        folder = Path(directory)
        config_path = folder / CONFIG_FILE
        try:
            raw = config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotEnrolled(
                f"No client configuration in {folder}; run `domogate connect JOIN_LINK` first.",
                config=str(folder),
            ) from None
        except OSError as exc:
            raise ClientError(f"Cannot read {config_path}: {exc.strerror or exc}.") from exc
        try:
            data = json.loads(raw)
            server = data["server"]
            device = data["device"]
            user = data["user"]
            entry = ServerEntry(
                url=str(server["url"]),
                server_id=str(server["server_id"]),
                name=_opt_str(server.get("name")),
                fingerprint=_opt_str(server.get("fingerprint")),
            )
            device_id = Identity(id=str(device["id"]), name=_opt_str(device.get("name")))
            user_id = Identity(id=str(user["id"]), name=_opt_str(user.get("name")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ClientError(
                f"{config_path} is damaged ({exc}); run `domogate connect` again.",
                config=str(folder),
            ) from exc

        key_path = folder / KEY_FILE
        try:
            key_pem = key_path.read_bytes()
        except FileNotFoundError:
            raise NotEnrolled(
                f"The device key {key_path} is missing; run `domogate connect` again.",
                config=str(folder),
            ) from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ClientError(f"{key_path} is not a valid private key.") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ClientError(f"{key_path} is not an ECDSA P-256 key.")

        cert_pem: bytes | None = None
        if entry.fingerprint is not None:
            cert_path = folder / CERT_FILE
            try:
                cert_pem = cert_path.read_bytes()
            except FileNotFoundError:
                raise NotEnrolled(
                    f"The pinned certificate {cert_path} is missing; run `domogate connect` again.",
                    config=str(folder),
                ) from None
            if fingerprint(cert_pem) != entry.fingerprint:
                raise ClientError(
                    f"{cert_path} does not match the fingerprint in {config_path}; "
                    "run `domogate connect` again.",
                    config=str(folder),
                )
        return cls(
            directory=folder,
            server=entry,
            device=device_id,
            user=user_id,
            private_key=key,
            server_cert_pem=cert_pem,
        )

    # --- writing ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server.to_dict(),
            "device": self.device.to_dict(),
            "user": self.user.to_dict(),
        }

    def save(self) -> None:
        """Write the key, the certificate, then ``config.json``, each atomically."""
        folder = self.directory
        ensure_private_dir(folder)
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(folder / KEY_FILE, key_pem)
        cert_path = folder / CERT_FILE
        if self.server_cert_pem is not None:
            write_private_file(cert_path, self.server_cert_pem)
        else:
            with contextlib.suppress(FileNotFoundError):
                cert_path.unlink()
        body = json.dumps(self.to_dict(), indent=2) + "\n"
        write_private_file(folder / CONFIG_FILE, body.encode("utf-8"))


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
