"""The integrator key: the Ed25519 key that signs every version published to a house.

It lives in the integrator's config folder, ``<user config dir>/domogate/integrator.key``
(``platformdirs.user_config_dir("domogate")``), or in the file ``$DOMOGATE_INTEGRATOR_KEY``
names; PEM PKCS#8, mode 0600, written atomically. It is made the first time ``domogate
deploy`` or ``domogate cloud publish`` needs it, and never inside a project folder: a
project folder is shared, versioned and copied, and whoever holds this key can publish
to every house that pinned it. A key file inside the project folder is refused, never
read nor written there.

The houses pin the public half at a local deploy (``docs/cloud-publish.md``); its text
form is ``cloudwire.public_key_text``, its fingerprint ``publishing.key_fingerprint``.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire, publishing
from domogate.errors import ClientError, InvalidInput
from domogate.files import fsync_dir, write_atomic

ENV_VAR = "DOMOGATE_INTEGRATOR_KEY"
FILE_NAME = "integrator.key"
FILE_MODE = 0o600
DIR_MODE = 0o700
MAX_KEY_FILE = 16 * 1024


@dataclass(frozen=True)
class IntegratorKey:
    """The key, where it is, and whether this call made it."""

    path: Path
    private: Ed25519PrivateKey = field(repr=False)
    created: bool = False

    @property
    def public_text(self) -> str:
        return cloudwire.public_key_text(self.private.public_key())

    @property
    def fingerprint(self) -> str:
        return publishing.key_fingerprint(self.private.public_key())


def key_path() -> Path:
    """``$DOMOGATE_INTEGRATOR_KEY``, else ``<user config dir>/domogate/integrator.key``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("domogate")) / FILE_NAME


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_outside_project(path: Path, project_dir: Path | None) -> None:
    """Refuse a key file inside the project folder (it would travel with the project)."""
    if project_dir is not None and _inside(path, project_dir):
        where = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "The integrator key's path"
        raise InvalidInput(
            f"{where} ({path}) is inside the project folder {project_dir}: the integrator "
            "key must never be stored with a project (whoever holds it can publish to every "
            f"house that pinned it). Point ${ENV_VAR} to a file outside the project, e.g. in "
            f"{Path(platformdirs.user_config_dir('domogate'))}.",
            path=str(path),
        )


def load_or_create(project_dir: Path | None = None, path: Path | None = None) -> IntegratorKey:
    """The integrator key at ``path`` (default :func:`key_path`), made now if missing."""
    path = path or key_path()
    check_outside_project(path, project_dir)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return _create(path)
    if not stat.S_ISREG(info.st_mode):
        raise ClientError(f"The integrator key {path} is not a regular file; refusing to use it.")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ClientError(
            f"The integrator key {path} belongs to another user; refusing to sign with a key "
            "someone else could have put there."
        )
    if info.st_mode & 0o077:
        raise ClientError(
            f"The integrator key {path} is readable by others (mode "
            f"{stat.S_IMODE(info.st_mode):o}); make it private with `chmod 600 {path}`."
        )
    if info.st_size > MAX_KEY_FILE:
        raise ClientError(f"The integrator key {path} is not a key file (too large).")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ClientError(
            f"The integrator key {path} cannot be read as a PEM private key; restore it from "
            "your backup (a new key would not be accepted by the houses that pinned this one)."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ClientError(f"The integrator key {path} is not an Ed25519 key.")
    return IntegratorKey(path, key)


def _create(path: Path) -> IntegratorKey:
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written whole under a temporary name, then linked to its name: a concurrent first
    # use never replaces a key that another command made (and perhaps sent) meanwhile.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    write_atomic(tmp, pem, FILE_MODE)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_or_create(path=path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return IntegratorKey(path, key, created=True)


def created_message(key: IntegratorKey) -> str:
    """What the integrator is told the first time (on stderr)."""
    return (
        f"Created your integrator key {key.path} (fingerprint {key.fingerprint}). Back it "
        "up: the houses you deploy to accept published versions only from it."
    )
