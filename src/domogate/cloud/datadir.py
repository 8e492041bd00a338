"""The cloud's data folder (``domogate cloud serve --data DIR``).

::

    DATA/cloud.db            SQLite database (installations, cloud_audit)
    DATA/cloud.json          {"zone", "public_port", "host", "port"}: what ``serve`` runs with
    DATA/operator.token      random token (mode 0600): the local CLI's key to the running
                             cloud's operator API (``POST /api/operator/release``)
    DATA/tls/cert.pem        the cloud's certificate (self-signed at first start, with the
    DATA/tls/key.pem         zone, localhost, 127.0.0.1 and --host; or the operator's)

Default folder: ``$DOMOGATE_CLOUD_DATA``, else the user's data dir + ``domogate/cloud``
(next to the server's ``domogate/server``). Existing files are never replaced, except
``cloud.json`` (rewritten at each start) and the certificate when the operator gives one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from domogate.errors import InvalidInput
from domogate.files import write_atomic
from domogate.security.tls import fingerprint_of_pem, generate_self_signed
from domogate.storage.datadir import DataDir

DB_FILE = "cloud.db"
CONFIG_FILE = "cloud.json"
TOKEN_FILE = "operator.token"  # noqa: S105 - a file name
DEFAULT_PORT = 7443


def default_cloud_dir() -> Path:
    return Path(platformdirs.user_data_dir("domogate")) / "cloud"


@dataclass(frozen=True)
class CloudConfig:
    """What ``serve`` runs with, as ``cloud.json`` keeps it for ``info`` and the CLI."""

    zone: str
    public_port: int
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT

    @property
    def local_address(self) -> str:
        """``HOST:PORT`` where the operator's CLI reaches the running cloud."""
        host = self.host
        if host in ("0.0.0.0", ""):  # noqa: S104 - a wildcard bind, reached on loopback
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The cloud's own public URL (its API): ``https://ZONE[:PORT]``."""
        return self.url_of(None)

    def url_of(self, name: str | None) -> str:
        host = self.zone if name is None else f"{name}.{self.zone}"
        return f"https://{host}" + ("" if self.public_port == 443 else f":{self.public_port}")


class CloudDataDir:
    """One cloud data folder. Create with a path, then :meth:`initialise`."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path).expanduser().absolute()
        self._tls = DataDir(self._path)  # the same tls/ layout and operator-certificate checks

    def __repr__(self) -> str:
        return f"CloudDataDir({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def database_path(self) -> Path:
        return self._path / DB_FILE

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.database_path}"

    @property
    def config_path(self) -> Path:
        return self._path / CONFIG_FILE

    @property
    def token_path(self) -> Path:
        return self._path / TOKEN_FILE

    @property
    def tls_cert_path(self) -> Path:
        return self._tls.tls_cert_path

    @property
    def tls_key_path(self) -> Path:
        return self._tls.tls_key_path

    # creation -------------------------------------------------------------------------

    def initialise(
        self,
        config: CloudConfig,
        *,
        hostnames: list[str],
        cert: Path | None = None,
        key: Path | None = None,
    ) -> None:
        """Create what is missing (folder 0700, token 0600, certificate), install the
        operator's certificate when given, and write ``cloud.json``."""
        if (cert is None) != (key is None):
            raise InvalidInput("Give both --cert FILE and --key FILE, or neither.")
        try:
            self._prepare_folder()
            if cert is not None and key is not None:
                self._tls.use_certificate(cert, key)
            else:
                self._ensure_certificate(hostnames)
            if not self.token_path.exists():
                write_atomic(self.token_path, secrets.token_urlsafe(32).encode(), mode=0o600)
            body = json.dumps(asdict(config), indent=2) + "\n"
            write_atomic(self.config_path, body.encode("utf-8"), mode=0o644)
        except PermissionError as exc:
            raise InvalidInput(
                f"The cloud data folder {self._path} is not writable by this user ({exc.strerror})."
            ) from exc
        _ = self.fingerprint, self.operator_token

    def _prepare_folder(self) -> None:
        if self._path.exists() and not self._path.is_dir():
            raise InvalidInput(f"The cloud data folder {self._path} exists but is not a folder.")
        if not self._path.exists():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                self._path.mkdir(mode=0o700)
            os.chmod(self._path, 0o700)

    def _ensure_certificate(self, hostnames: list[str]) -> None:
        cert, key = self.tls_cert_path, self.tls_key_path
        if cert.exists() and key.exists():
            return
        if cert.exists() or key.exists():
            missing = key if cert.exists() else cert
            raise InvalidInput(
                f"{missing} is missing; restore it, or remove both files of {cert.parent} to "
                "have a new certificate made (linked servers pinning the old fingerprint "
                "will need the new one)."
            )
        cert.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(cert.parent, 0o700)
        cert_pem, key_pem = generate_self_signed(hostnames, now=datetime.now(UTC))
        write_atomic(key, key_pem, mode=0o600)
        write_atomic(cert, cert_pem, mode=0o644)

    # reading ----------------------------------------------------------------------------

    def config(self) -> CloudConfig:
        """``cloud.json`` as the last ``serve`` wrote it."""
        try:
            body = json.loads(self.config_path.read_text(encoding="utf-8"))
            return CloudConfig(
                zone=str(body["zone"]),
                public_port=int(body["public_port"]),
                host=str(body["host"]),
                port=int(body["port"]),
            )
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"{self.config_path} is missing: run `domogate cloud serve --data "
                f"{self._path}` once first."
            ) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{self.config_path} is damaged.") from exc

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER, lower-case hex (``security/tls.py``)."""
        try:
            return fingerprint_of_pem(self.tls_cert_path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"Cannot read the certificate {self.tls_cert_path}.") from exc

    def certificate_pem(self) -> bytes:
        return self.tls_cert_path.read_bytes()

    @property
    def operator_token(self) -> str:
        try:
            token = self.token_path.read_text(encoding="ascii").strip()
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"{self.token_path} is missing; is {self._path} a cloud data folder?"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read {self.token_path}.") from exc
        if len(token) < 32:
            raise InvalidInput(f"{self.token_path} is damaged.")
        return token
