"""What the benchmarks share: a small project, a bus that records writes, a fixed setup code.

Written for benchmarks (plain Python, no pytest) and independent of ``tests/``: the two can
change apart. The project's password hashes use Argon2's cheap test parameters, so a sign-in
measures the server's path, not the key derivation, unless a benchmark hashes its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domogate.security.passwords import Argon2Parameters, Passwords
from domogate.services.ports import BusStatus

ADMIN_PASSWORD = "correct horse battery staple"  # noqa: S105 - a benchmark account
SERVICE_PASSWORD = "service-pass-123"  # noqa: S105
SETUP_CODE = "ACDE-FGHJ-KLMN"


def project_data(**system: Any) -> dict[str, Any]:
    """Two groups; alice (family, admin) and bob (guests); a switch every group sees (hall),
    a switch only family sees (safe), a dimmer only family operates, a thermostat."""
    pw = Passwords(Argon2Parameters.cheap_for_tests())
    return {
        "format": 1,
        "name": "Bench house",
        "system": {"password": pw.hash(SERVICE_PASSWORD), **system},
        "groups": [{"name": "family"}, {"name": "guests"}],
        "users": [
            {
                "name": "alice",
                "group": "family",
                "admin": True,
                "password": pw.hash(ADMIN_PASSWORD),
            },
            {"name": "bob", "group": "guests", "password": pw.hash("bob-password")},
        ],
        "pages": [{"id": "ground", "title": "Ground"}, {"id": "first", "title": "First"}],
        "objects": [
            {
                "id": "hall",
                "name": "Hall light",
                "type": "switch",
                "page": "ground",
                "bindings": {"command": {"address": "1/1/1", "dpt": "1.001"}},
            },
            {
                "id": "safe",
                "name": "Safe",
                "type": "switch",
                "page": "first",
                "bindings": {"command": {"address": "1/1/9", "dpt": "1.001"}},
                "restrictions": {"visible_to": ["family"]},
            },
            {
                "id": "kitchen",
                "name": "Kitchen dimmer",
                "type": "dimmer",
                "page": "ground",
                "bindings": {
                    "command": {"address": "1/2/1", "dpt": "1.001"},
                    "state": {"address": "1/2/2", "dpt": "1.001"},
                    "brightness": {"address": "1/2/3", "dpt": "5.001"},
                    "brightness_state": {"address": "1/2/4", "dpt": "5.001"},
                },
                "restrictions": {"operable_by": ["family"]},
            },
            {
                "id": "bedroom",
                "name": "Bedroom",
                "type": "thermostat",
                "page": "first",
                "bindings": {
                    "temperature": {"address": "3/1/1", "dpt": "9.001"},
                    "target": {"address": "3/1/2", "dpt": "9.001"},
                    "mode": {"address": "3/1/4", "dpt": "20.102"},
                },
                "restrictions": {"visible_to": ["family"]},
            },
        ],
    }


def write_project(folder: Path, **system: Any) -> Path:
    """:func:`project_data` as a project folder for ``domogate deploy`` (JSON is YAML)."""
    folder.mkdir(parents=True)
    (folder / "project.yaml").write_text(json.dumps(project_data(**system)), encoding="utf-8")
    return folder


@dataclass
class FixedSetupCodes:
    """The setup-code port with one known code (``SETUP_CODE``), used up by the first deploy."""

    code: str | None = SETUP_CODE

    def check_setup_code(self, typed: str) -> bool:
        return self.code is not None and typed.replace("-", "").upper() == self.code.replace(
            "-", ""
        )

    def discard_setup_code(self) -> None:
        self.code = None


class RecordingBus:
    """A connected bus that keeps what is written and never answers."""

    def __init__(self) -> None:
        self.status = BusStatus("recording", True, "benchmark bus")
        self.written: list[tuple[str, str, object]] = []

    async def start(self, listener: Any) -> None:
        listener.on_status(self.status)

    async def configure(self, objects: Any) -> None:
        pass

    async def write(self, address: str, dpt: str, value: object) -> None:
        self.written.append((address, dpt, value))

    async def stop(self) -> None:
        pass
