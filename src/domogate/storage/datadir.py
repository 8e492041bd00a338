"""The server's data folder (``domogate server --data DIR``).

::

    DATA/domogate.db          SQLite database
    DATA/secret.key           32 random bytes (mode 0600): the server secret
    DATA/server.json          {"server_id": "<22-char url-safe random>"}
    DATA/tls/cert.pem         the server certificate (self-signed at first start,
    DATA/tls/key.pem          or the operator's); key mode 0600
    DATA/setup-code           the first-deploy setup code (mode 0600), gone after it
    DATA/cloud.key            the server's Ed25519 key for the cloud (PEM, mode 0600),
                              made the first time the cloud is enabled
    DATA/cloud-claim.json     {"address", "fingerprint", "name"}: this server claimed its
                              installation at that cloud (written after a welcome, removed
                              when the cloud released it)

:meth:`DataDir.initialise` creates what is missing and never replaces what exists: the
secret, the server id and the certificate live as long as the folder. Every file is
written atomically (temporary file, fsync, rename), so a crash never leaves half a key.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domogate.core import otp as otp_rules
from domogate.errors import InvalidInput
from domogate.files import fsync_dir, write_atomic
from domogate.security.tls import fingerprint_of_pem, generate_self_signed

SECRET_SIZE = 32
SETUP_CODE_LENGTH = 12
SETUP_CODE_GROUP = 4

DB_FILE = "domogate.db"
SECRET_FILE = "secret.key"  # noqa: S105 - a file name
SERVER_FILE = "server.json"
TLS_DIR = "tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
SETUP_CODE_FILE = "setup-code"
CLOUD_KEY_FILE = "cloud.key"
CLOUD_CLAIM_FILE = "cloud-claim.json"

DEFAULT_HOSTNAMES: tuple[str, ...] = ("localhost", "127.0.0.1")


def format_setup_code(canonical: str) -> str:
    """``ACDEFGHJKLMN`` → ``ACDE-FGHJ-KLMN``."""
    return "-".join(
        canonical[i : i + SETUP_CODE_GROUP] for i in range(0, len(canonical), SETUP_CODE_GROUP)
    )


def generate_setup_code() -> str:
    """A fresh setup code in canonical form (12 characters of the OTP alphabet)."""
    return otp_rules.generate(secrets.randbelow, SETUP_CODE_LENGTH)


class DataDir:
    """One server data folder. Create with a path, then :meth:`initialise`."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path).expanduser().absolute()
        self._secret: bytes | None = None
        self._server_id: str | None = None

    def __repr__(self) -> str:
        return f"DataDir({str(self._path)!r})"

    # layout ---------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def database_path(self) -> Path:
        return self._path / DB_FILE

    @property
    def database_url(self) -> str:
        """Async SQLAlchemy URL of the database (``sqlite+aiosqlite:///…``)."""
        return f"sqlite+aiosqlite:///{self.database_path}"

    @property
    def sync_database_url(self) -> str:
        """Synchronous URL of the same database, for migrations (``sqlite:///…``)."""
        return f"sqlite:///{self.database_path}"

    @property
    def secret_path(self) -> Path:
        return self._path / SECRET_FILE

    @property
    def server_file_path(self) -> Path:
        return self._path / SERVER_FILE

    @property
    def tls_dir(self) -> Path:
        return self._path / TLS_DIR

    @property
    def tls_cert_path(self) -> Path:
        return self.tls_dir / CERT_FILE

    @property
    def tls_key_path(self) -> Path:
        return self.tls_dir / KEY_FILE

    @property
    def setup_code_path(self) -> Path:
        return self._path / SETUP_CODE_FILE

    # creation -------------------------------------------------------------------------

    def initialise(self, hostnames: Sequence[str] = DEFAULT_HOSTNAMES) -> bool:
        """Create whatever is missing; True on the first start of this folder.

        First start means: this call created the folder, or found it without a server
        secret yet (an empty folder the operator prepared). Only then is a setup code
        written. Existing secret, id and certificate are never replaced.
        """
        try:
            return self._initialise(hostnames)
        except PermissionError as exc:
            raise InvalidInput(
                f"The data folder {self._path} is not writable by this user ({exc.strerror})."
            ) from exc
        except OSError as exc:
            raise InvalidInput(
                f"Cannot prepare the data folder {self._path}: {exc.strerror or exc}."
            ) from exc

    def _initialise(self, hostnames: Sequence[str]) -> bool:
        if self._path.exists() and not self._path.is_dir():
            raise InvalidInput(f"The data folder {self._path} exists but is not a folder.")
        if not self._path.exists():
            if self._path.parent.exists() and not self._path.parent.is_dir():
                raise InvalidInput(f"{self._path.parent} is not a folder.")
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                self._path.mkdir(mode=0o700)
            os.chmod(self._path, 0o700)  # mkdir's mode is filtered by the umask
        if not os.access(self._path, os.W_OK | os.X_OK):
            raise InvalidInput(f"The data folder {self._path} is not writable by this user.")

        first_start = not self.secret_path.exists()
        if first_start and self.database_path.exists():
            raise InvalidInput(
                f"{self.secret_path} is missing but {self.database_path} exists: without its "
                "secret the stored one-time passwords cannot be checked. Restore the file "
                "from a backup, or move the database away to start afresh."
            )
        if first_start and not self.setup_code_path.exists():
            code = generate_setup_code()
            write_atomic(self.setup_code_path, (code + "\n").encode("ascii"))
        if not self.server_file_path.exists():
            server_id = secrets.token_urlsafe(16)
            body = json.dumps({"server_id": server_id}, indent=2) + "\n"
            write_atomic(self.server_file_path, body.encode("utf-8"), mode=0o644)
        self._ensure_certificate(hostnames)
        if first_start:
            # the secret comes last and marks the folder as initialised: a first start that
            # fails half-way is followed by another first start, with the same setup code
            write_atomic(self.secret_path, secrets.token_bytes(SECRET_SIZE))
        # check what exists is readable and sane before anyone relies on it
        _ = self.secret, self.server_id, self.fingerprint
        return first_start

    def _ensure_certificate(self, hostnames: Sequence[str]) -> None:
        cert_exists = self.tls_cert_path.exists()
        key_exists = self.tls_key_path.exists()
        if cert_exists and key_exists:
            return
        if cert_exists or key_exists:
            present, missing = (
                (self.tls_cert_path, self.tls_key_path)
                if cert_exists
                else (self.tls_key_path, self.tls_cert_path)
            )
            raise InvalidInput(
                f"{missing} is missing but {present} exists; restore it, or remove both "
                "files to have a new certificate generated (clients will need new join "
                "links: the fingerprint changes)."
            )
        self.tls_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.tls_dir, 0o700)
        cert_pem, key_pem = generate_self_signed(list(hostnames), now=datetime.now(UTC))
        write_atomic(self.tls_key_path, key_pem, mode=0o600)
        write_atomic(self.tls_cert_path, cert_pem, mode=0o644)

    def use_certificate(self, cert_path: Path, key_path: Path) -> None:
        """Install an operator-provided certificate (PEM, chain allowed) and its key.

        Both are validated first (they parse, the key matches, TLS accepts them); the
        previous certificate is replaced. The fingerprint changes accordingly.
        """
        try:
            cert_pem = Path(cert_path).read_bytes()
            key_pem = Path(key_path).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"Cannot read the certificate or key: {exc}.") from exc
        try:
            certs = x509.load_pem_x509_certificates(cert_pem)
        except ValueError as exc:
            raise InvalidInput(f"{cert_path} is not a PEM certificate.") from exc
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{key_path} is not an unencrypted PEM private key.") from exc
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*spki) != certs[0].public_key().public_bytes(*spki):
            raise InvalidInput(f"The key in {key_path} does not belong to {cert_path}.")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(str(cert_path), str(key_path))
        except ssl.SSLError as exc:
            raise InvalidInput(f"TLS refuses this certificate and key: {exc}.") from exc

        self._path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.tls_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.tls_dir, 0o700)
        write_atomic(self.tls_key_path, key_pem, mode=0o600)
        write_atomic(self.tls_cert_path, cert_pem, mode=0o644)

    # secrets ----------------------------------------------------------------------------

    @property
    def server_id(self) -> str:
        if self._server_id is None:
            try:
                body = json.loads(self.server_file_path.read_text(encoding="utf-8"))
                server_id = body["server_id"]
            except FileNotFoundError as exc:
                raise InvalidInput(
                    f"{self.server_file_path} is missing; is {self._path} a data folder?"
                ) from exc
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(f"{self.server_file_path} is damaged.") from exc
            if not isinstance(server_id, str) or not server_id:
                raise InvalidInput(f"{self.server_file_path} is damaged.")
            self._server_id = server_id
        return self._server_id

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            try:
                secret = self.secret_path.read_bytes()
            except FileNotFoundError as exc:
                raise InvalidInput(
                    f"{self.secret_path} is missing; is {self._path} a data folder?"
                ) from exc
            except OSError as exc:
                raise InvalidInput(f"Cannot read {self.secret_path}: {exc.strerror}.") from exc
            if len(secret) != SECRET_SIZE:
                raise InvalidInput(f"{self.secret_path} is damaged (wrong size).")
            self._secret = secret
        return self._secret

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (HKDF-SHA256 over the server secret)."""
        if not purpose:
            raise ValueError("a key purpose is required")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self.secret)

    # TLS ----------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER encoding, lower-case hex."""
        try:
            pem = self.tls_cert_path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"Cannot read the certificate {self.tls_cert_path}.") from exc
        return fingerprint_of_pem(pem)

    def certificate_pem(self) -> bytes:
        """The certificate as served (PEM), e.g. for a client to pin."""
        return self.tls_cert_path.read_bytes()

    # setup code ---------------------------------------------------------------------------

    def _stored_setup_code(self) -> str | None:
        try:
            code = self.setup_code_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read {self.setup_code_path}.") from exc
        code = otp_rules.normalise(code)
        return code or None

    def setup_code(self) -> str | None:
        """The first-deploy code as shown to people (``ACDE-FGHJ-KLMN``); None once used."""
        code = self._stored_setup_code()
        return format_setup_code(code) if code else None

    def check_setup_code(self, typed: str) -> bool:
        """Whether ``typed`` is the setup code (case, spaces and dashes ignored)."""
        code = self._stored_setup_code()
        candidate = otp_rules.normalise(typed)
        if code is None:
            # keep the comparison so that timing does not tell whether a code exists
            hmac.compare_digest(candidate.encode(), b"\x00" * SETUP_CODE_LENGTH)
            return False
        try:
            candidate_bytes = candidate.encode("ascii")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(candidate_bytes, code.encode("ascii"))

    def discard_setup_code(self) -> None:
        """Forget the setup code (after the first deploy)."""
        with contextlib.suppress(FileNotFoundError):
            self.setup_code_path.unlink()
        fsync_dir(self._path)

    # the cloud ----------------------------------------------------------------------------

    @property
    def cloud_key_path(self) -> Path:
        return self._path / CLOUD_KEY_FILE

    @property
    def cloud_claim_path(self) -> Path:
        return self._path / CLOUD_CLAIM_FILE

    def cloud_key(self) -> Ed25519PrivateKey:
        """The server's Ed25519 key for the cloud's control link, made on first need."""
        path = self.cloud_key_path
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_atomic(path, pem, mode=0o600)
            return key
        except OSError as exc:
            raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from exc
        try:
            loaded = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"{path} is damaged; remove it to make a new cloud key (the cloud's operator "
                "must then release this installation: the new key is another server)."
            ) from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise InvalidInput(f"{path} is not an Ed25519 key.")
        return loaded

    def cloud_claim(self) -> dict[str, str] | None:
        """The claim record (``address``, ``fingerprint``, ``name``), or None."""
        try:
            body = json.loads(self.cloud_claim_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a damaged record is no record: the password is sent again
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("address", "fingerprint", "name")
        ):
            return None
        return {k: body[k] for k in ("address", "fingerprint", "name")}

    def save_cloud_claim(self, address: str, fingerprint: str, name: str) -> None:
        body = {"address": address, "fingerprint": fingerprint, "name": name}
        write_atomic(self.cloud_claim_path, (json.dumps(body, indent=2) + "\n").encode(), 0o600)

    def forget_cloud_claim(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.cloud_claim_path.unlink()
        fsync_dir(self._path)
