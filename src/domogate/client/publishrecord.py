"""``DIR/.domogate/publish.json``: where ``domogate cloud publish DIR`` sends versions.

``domogate deploy`` writes it after each successful local deploy: ``{"format": 1,
"installation": NAME | null, "server": URL, "publisher_key_fingerprint": HEX, "cloud":
{"address": HOST[:PORT] | null, "fingerprint": HEX | null}}``: the installation name from
the deploy's answer (the house's cloud name), the integrator key that deploy pinned, and
the cloud's address and certificate fingerprint from the deployed project's
``system.cloud``.

It holds no secret (a name, an address and a certificate fingerprint, all public): it may
be committed with the project. The cloud password is never written here, and neither is
the integrator key (``client/integrator.py``, kept outside every project folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domogate.errors import ClientError
from domogate.files import write_atomic

FOLDER = ".domogate"
FILE_NAME = "publish.json"
FORMAT = 1
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class PublishRecord:
    installation: str | None
    server: str
    publisher_key_fingerprint: str | None
    cloud_address: str | None
    cloud_fingerprint: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "installation": self.installation,
            "server": self.server,
            "publisher_key_fingerprint": self.publisher_key_fingerprint,
            "cloud": {"address": self.cloud_address, "fingerprint": self.cloud_fingerprint},
        }


def record_path(project_dir: Path) -> Path:
    return project_dir / FOLDER / FILE_NAME


def cloud_of(project_data: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(address, fingerprint)`` of the project's ``system.cloud`` (None when unset)."""
    system = project_data.get("system")
    cloud = system.get("cloud") if isinstance(system, dict) else None
    if not isinstance(cloud, dict):
        return None, None
    address, fingerprint = cloud.get("address"), cloud.get("fingerprint")
    return (
        address if isinstance(address, str) and address else None,
        fingerprint if isinstance(fingerprint, str) and fingerprint else None,
    )


def write_record(project_dir: Path, record: PublishRecord) -> Path:
    path = record_path(project_dir)
    path.parent.mkdir(exist_ok=True)
    text = json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), 0o644)
    return path


def read_record(project_dir: Path) -> PublishRecord:
    """The record; a clear error when there is none yet or it is not one."""
    path = record_path(project_dir)
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except FileNotFoundError:
        raise ClientError(
            f"{path} does not exist yet: deploy once locally first (`domogate deploy "
            f"{project_dir} --server URL …`), so that the house pins your integrator key and "
            "this folder learns the house's installation name and its cloud.",
            path=str(path),
        ) from None
    try:
        data = json.loads(raw) if len(raw) <= MAX_BYTES else None
    except (ValueError, UnicodeDecodeError):
        data = None
    cloud = data.get("cloud") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(cloud, dict):
        raise ClientError(
            f"{path} is not a publish record of this domogate; deploy locally again to rewrite it.",
            path=str(path),
        )

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    return PublishRecord(
        installation=text(data.get("installation")),
        server=text(data.get("server")) or "",
        publisher_key_fingerprint=text(data.get("publisher_key_fingerprint")),
        cloud_address=text(cloud.get("address")),
        cloud_fingerprint=text(cloud.get("fingerprint")),
    )
