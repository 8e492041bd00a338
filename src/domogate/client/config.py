"""The CLI's config folder: which server this client is enrolled on, and its device key.

The folder is ``--config DIR``, else ``$DOMOGATE_CONFIG``, else the platform's user config
folder (``platformdirs.user_config_dir("domogate")``). It holds:

- ``config.json`` — ``{"server": {"url", "server_id", "name", "fingerprint",
  "insecure_http", "cloud": {"url", "relay"}, "connection_policy",
  "automatic_connection"}, "device": {"id", "name"}, "user": {"id", "name"},
  "files": {"device_key", "server_cert"}, "settings": {"back_to_local_probe_s"}}``
  (``url`` is the local path's URL; ``cloud`` the cloud path's URL and the relay
  ``HOST:PORT`` to dial for it, or null; the policy and ``automatic_connection`` are the
  server's, refreshed whenever the client reads ``/api/info``; ``fingerprint`` is the
  SHA-256 of the pinned certificate, lower-case hex, or null on plain HTTP: the same pin
  holds on both paths; ``insecure_http`` records that the user accepted plain HTTP with
  ``--insecure-http``; ``files`` names the two files below; ``settings`` are the client's
  own: how often a live channel on the cloud path retries local, default 10 s). A config
  written before the cloud (only a URL) is local-only;
- ``device-key-DEVICE.pem`` — the device's ECDSA P-256 private key (PKCS#8 PEM); it never
  leaves this folder;
- ``server-cert-DEVICE.pem`` — the pinned server certificate (absent on plain HTTP).

The key and certificate files carry the device id in their names, so that the files of two
enrolments never share a name. They are written first; ``config.json`` is written last,
and its rename is the one step that switches from one enrolment to the next: a concurrent
or interrupted ``connect`` never pairs the key of one enrolment with the config of
another. The previous enrolment's files are removed afterwards. Writers hold an exclusive
``flock`` on ``.lock`` in the folder; readers a shared one.

The folder is mode 0700 and every file mode 0600, written atomically (temporary file
created 0600, fsync, rename), so that a crash never leaves a half-written key or config.
``config.json``'s presence means "enrolled". Older folders with the fixed names
``device-key.pem`` and ``server-cert.pem`` (no ``files`` entry) are still read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from domogate.client.pinning import fingerprint
from domogate.core.paths import BACK_TO_LOCAL_PROBE_S, policy_of
from domogate.errors import ClientError, NotEnrolled
from domogate.files import write_atomic

ENV_VAR = "DOMOGATE_CONFIG"
CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
KEY_FILE = "device-key.pem"  # the layout before per-enrolment names
CERT_FILE = "server-cert.pem"
KEY_PREFIX = "device-key-"
CERT_PREFIX = "server-cert-"
DIR_MODE = 0o700
FILE_MODE = 0o600

# Temporary files of write_atomic (".NAME.RANDOM.tmp") that a crash may leave behind.
_TEMP_PREFIXES = tuple(f".{p}" for p in (KEY_PREFIX, CERT_PREFIX, KEY_FILE, CERT_FILE, CONFIG_FILE))
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}")


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


def enrolment_file_names(device_id: str) -> tuple[str, str]:
    """``(key file, certificate file)`` names of the enrolment of ``device_id``.

    The id comes from the server: anything but a short plain token is replaced by its
    digest, so that it can never name a file outside the folder."""
    if _SAFE_ID.fullmatch(device_id):
        tag = device_id
    else:
        tag = hashlib.sha256(device_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_PREFIX}{tag}.pem", f"{CERT_PREFIX}{tag}.pem"


@contextlib.contextmanager
def _folder_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """``flock`` on ``folder/.lock``: exclusive for writers (created if needed), shared
    for readers (skipped when the lock file does not exist or cannot be opened)."""
    path = folder / LOCK_FILE
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if exclusive:
        flags |= os.O_CREAT
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError:
        if exclusive:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class ServerEntry:
    url: str
    server_id: str
    name: str | None
    fingerprint: str | None  # lower-case hex SHA-256 of the pinned certificate; None on HTTP
    insecure_http: bool = False  # plain HTTP accepted with --insecure-http
    cloud_url: str | None = None  # https://<name>.<zone>[:port]
    cloud_relay: str | None = None  # HOST:PORT to dial for cloud_url
    connection_policy: str = "local"  # local | cloud | local_and_cloud (the server's)
    automatic_connection: bool = True  # the server's

    @property
    def cloud_known(self) -> bool:
        return bool(self.cloud_url and self.cloud_relay)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "server_id": self.server_id,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "insecure_http": self.insecure_http,
            "cloud": (
                {"url": self.cloud_url, "relay": self.cloud_relay} if self.cloud_known else None
            ),
            "connection_policy": self.connection_policy,
            "automatic_connection": self.automatic_connection,
        }


@dataclass(frozen=True)
class ClientSettings:
    """The client's own settings (``config.json`` ``settings``)."""

    back_to_local_probe_s: float = BACK_TO_LOCAL_PROBE_S

    def to_dict(self) -> dict[str, Any]:
        return {"back_to_local_probe_s": self.back_to_local_probe_s}

    @classmethod
    def from_dict(cls, raw: object) -> ClientSettings:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise TypeError("settings is not an object")
        probe = raw.get("back_to_local_probe_s", BACK_TO_LOCAL_PROBE_S)
        if isinstance(probe, bool) or not isinstance(probe, int | float) or not probe > 0:
            raise TypeError("settings.back_to_local_probe_s is not a positive number")
        return cls(back_to_local_probe_s=float(probe))


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
    settings: ClientSettings = field(default_factory=ClientSettings)

    # --- reading ----------------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ClientConfig:
        """Read the folder; ``NotEnrolled`` when there is no enrolment in it."""
        folder = Path(directory)
        with _folder_lock(folder, exclusive=False):
            return cls._load_unlocked(folder)

    @classmethod
    def _load_unlocked(cls, folder: Path) -> ClientConfig:
        config_path = folder / CONFIG_FILE
        try:
            raw = config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotEnrolled(
                f"No client configuration in {folder}; run `domogate connect JOIN_LINK` first.",
                config=str(folder),
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else None
            raise ClientError(f"Cannot read {config_path}: {reason or exc}.") from exc
        try:
            data = json.loads(raw)
            server = data["server"]
            device = data["device"]
            user = data["user"]
            insecure = server.get("insecure_http", False)
            if not isinstance(insecure, bool):
                raise TypeError("insecure_http is not true or false")
            cloud = server.get("cloud")
            if cloud is not None and not isinstance(cloud, dict):
                raise TypeError("server.cloud is not an object")
            automatic = server.get("automatic_connection", True)
            if not isinstance(automatic, bool):
                raise TypeError("automatic_connection is not true or false")
            entry = ServerEntry(
                url=str(server["url"]),
                server_id=str(server["server_id"]),
                name=_opt_str(server.get("name")),
                fingerprint=_opt_str(server.get("fingerprint")),
                insecure_http=insecure,
                cloud_url=_opt_str((cloud or {}).get("url")),
                cloud_relay=_opt_str((cloud or {}).get("relay")),
                connection_policy=policy_of(server.get("connection_policy", "local")).value,
                automatic_connection=automatic,
            )
            settings = ClientSettings.from_dict(data.get("settings"))
            device_id = Identity(id=str(device["id"]), name=_opt_str(device.get("name")))
            user_id = Identity(id=str(user["id"]), name=_opt_str(user.get("name")))
            files = data.get("files")
            if files is None:  # the layout before per-enrolment file names
                key_name, cert_name = KEY_FILE, CERT_FILE
            else:
                key_name = _file_name(files["device_key"])
                cert_name = _file_name(files.get("server_cert") or CERT_FILE)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ClientError(
                f"{config_path} is damaged ({exc}); run `domogate connect` again.",
                config=str(folder),
            ) from exc

        key_path = folder / key_name
        key_pem = _read_private_key_file(key_path, folder)
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
            cert_path = folder / cert_name
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
            settings=settings,
        )

    # --- writing ----------------------------------------------------------------------

    def file_names(self) -> tuple[str, str]:
        """``(key file, certificate file)`` of this enrolment in the folder."""
        return enrolment_file_names(self.device.id)

    def to_dict(self) -> dict[str, Any]:
        key_name, cert_name = self.file_names()
        return {
            "server": self.server.to_dict(),
            "device": self.device.to_dict(),
            "user": self.user.to_dict(),
            "files": {
                "device_key": key_name,
                "server_cert": None if self.server_cert_pem is None else cert_name,
            },
            "settings": self.settings.to_dict(),
        }

    def with_server_info(self, info: dict[str, Any]) -> bool:
        """Take the paths, policy and automatic connection from a ``GET /api/info``
        answer; True when something changed (the caller saves). A cloud URL the server
        does not give now (its link is down) is kept: the policy decides whether it is
        used. Malformed fields are ignored."""
        server = self.server
        paths = info.get("paths")
        cloud_url, relay = server.cloud_url, server.cloud_relay
        if isinstance(paths, dict) and isinstance(paths.get("cloud"), str):
            given_relay = info.get("cloud_relay")
            if isinstance(given_relay, str) and given_relay:
                cloud_url, relay = paths["cloud"], given_relay
        policy = info.get("connection_policy")
        automatic = info.get("automatic_connection")
        updated = replace(
            server,
            cloud_url=cloud_url,
            cloud_relay=relay,
            connection_policy=(
                policy_of(policy).value if isinstance(policy, str) else server.connection_policy
            ),
            automatic_connection=(
                automatic if isinstance(automatic, bool) else server.automatic_connection
            ),
        )
        if updated == server:
            return False
        self.server = updated
        return True

    def save(self) -> None:
        """Write the key, the certificate, then ``config.json``, each atomically.

        The key and certificate have names of their own (by device id); the rename of
        ``config.json`` switches to them in one step; the previous enrolment's files are
        removed afterwards (best effort). The whole runs under the folder's lock."""
        folder = self.directory
        ensure_private_dir(folder)
        key_name, cert_name = self.file_names()
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        body = json.dumps(self.to_dict(), indent=2) + "\n"
        with _folder_lock(folder, exclusive=True):
            write_private_file(folder / key_name, key_pem)
            if self.server_cert_pem is not None:
                write_private_file(folder / cert_name, self.server_cert_pem)
            write_private_file(folder / CONFIG_FILE, body.encode("utf-8"))  # the switch
            keep = {key_name} | ({cert_name} if self.server_cert_pem is not None else set())
            _remove_stale_files(folder, keep)


def _file_name(value: object) -> str:
    """A file name recorded in ``config.json``: a plain name inside the folder."""
    if not isinstance(value, str) or not _SAFE_FILE_NAME.fullmatch(value):
        raise ValueError(f"bad file name {str(value)[:80]!r}")
    return value


def _read_private_key_file(key_path: Path, folder: Path) -> bytes:
    """The key file's bytes; refused when group or others may read or write it."""
    try:
        fd = os.open(key_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise NotEnrolled(
            f"The device key {key_path} is missing; run `domogate connect` again.",
            config=str(folder),
        ) from None
    except OSError as exc:
        raise ClientError(f"Cannot read {key_path}: {exc.strerror or exc}.") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ClientError(f"{key_path} is not a regular file.", config=str(folder))
        if mode & 0o077:
            raise ClientError(
                f"The device key {key_path} is accessible to other users "
                f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {key_path}` and check "
                "that nobody copied it.",
                config=str(folder),
                mode=f"{stat.S_IMODE(mode):04o}",
            )
        return handle.read()


def _remove_stale_files(folder: Path, keep: set[str]) -> None:
    """Remove key and certificate files of other enrolments, and temporary files that a
    crash left behind (best effort; called under the folder's lock)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name in keep:
            continue
        stale = name in (KEY_FILE, CERT_FILE) or (
            name.endswith(".pem") and name.startswith((KEY_PREFIX, CERT_PREFIX))
        )
        leftover = name.endswith(".tmp") and name.startswith(
            (
                f".{KEY_PREFIX}",
                f".{CERT_PREFIX}",
                f".{KEY_FILE}",
                f".{CERT_FILE}",
                f".{CONFIG_FILE}",
            )
        )
        if stale or leftover:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
