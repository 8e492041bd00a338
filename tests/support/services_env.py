"""Services on a fresh SQLite store with fake clock, setup codes and bus: ``make_env``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domogate.assembly import build_services
from domogate.core import devicekeys
from domogate.security.passwords import Argon2Parameters, Passwords
from domogate.services.container import Services
from domogate.services.context import Authenticated, Caller, RequestContext
from domogate.services.ports import AccountStore, CloudLink
from domogate.settings import ServerSettings
from domogate.storage.sql import open_store
from tests.support.fakes import FakeClock, FakeSetupCodes, RecordingBus, seeded_randbelow

CHEAP = Argon2Parameters.cheap_for_tests()
ADMIN_PASSWORD = "correct horse battery staple"
SERVICE_PASSWORD = "service-pass-123"


def project_data(**system: Any) -> dict[str, Any]:
    pw = Passwords(CHEAP)
    return {
        "format": 1,
        "name": "Test house",
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


@dataclass
class Env:
    services: Services
    clock: FakeClock
    setup: FakeSetupCodes
    db_path: Path
    bus: RecordingBus
    store: AccountStore  # behind the services' back (as another process would)

    @property
    def auth(self):  # type: ignore[no-untyped-def]
        return self.services.auth

    @property
    def clients(self):  # type: ignore[no-untyped-def]
        return self.services.clients

    async def login(self, username: str, password: str, source: str = "10.0.0.1") -> Authenticated:
        key = devicekeys.generate_private_key()
        return await self.auth.login_password(
            RequestContext(source),
            username,
            password,
            f"{username}-dev",
            devicekeys.public_key_of(key),
        )

    async def caller(self, auth: Authenticated, source: str = "10.0.0.1") -> Caller:
        return await self.auth.authenticate(auth.token, RequestContext(source))

    async def admin(self) -> Caller:
        return await self.caller(await self.login("alice", ADMIN_PASSWORD))

    async def redeem(self, otp: str, name: str | None = "Zoé", source: str = "10.0.0.2"):  # type: ignore[no-untyped-def]
        key = devicekeys.generate_private_key()
        auth = await self.auth.redeem_otp(
            RequestContext(source), otp, name, "phone", devicekeys.public_key_of(key)
        )
        return auth, key


async def make_env(
    tmp_path: Path,
    deploy: bool = True,
    cloud_link: CloudLink | None = None,
    server_settings: dict[str, Any] | None = None,
    **system: Any,
) -> Env:
    """Services on a SQLite file; ``server_settings``: fields of ``ServerSettings``."""
    clock = FakeClock()
    setup = FakeSetupCodes()
    db = tmp_path / "domogate.db"
    store = await open_store(f"sqlite+aiosqlite:///{db}")
    settings = ServerSettings(data_dir=tmp_path, argon2=CHEAP, **(server_settings or {}))
    bus = RecordingBus()
    services = build_services(
        settings=settings,
        store=store,
        clock=clock,
        server_id="srv-test",
        otp_key=b"k" * 32,
        seal_key=b"s" * 32,
        fingerprint="ab" * 32,
        setup_codes=setup,
        randbelow=seeded_randbelow(),
        bus=bus,
        cloud_link=cloud_link,
    )
    await services.start()
    if deploy:
        await services.deploy.deploy(
            RequestContext("integrator"), project_data(**system), setup_code=setup.code
        )
    return Env(services, clock, setup, db, bus, store)
