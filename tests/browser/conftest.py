"""Browser tests: Debian's chromium driven by Playwright against a real server process."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from domogate.cli.demo_cmd import demo_project
from domogate.security.passwords import Argon2Parameters, Passwords
from tests.deploy_auth import deploy_headers
from tests.e2e.conftest import ServerProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}

ADMIN = "alice"
ADMIN_PASSWORD = "alice-password"
SERVICE_PASSWORD = "service-secret"


def _hash(password: str) -> str:
    return Passwords(Argon2Parameters.cheap_for_tests()).hash(password)


@dataclass
class House:
    """A running server with the demo house deployed: admin alice, groups family/guests."""

    server: ServerProcess
    data: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    def redeploy(self, **system: Any) -> int:
        """Deploy again with changed system options; the new version number."""
        self.data = copy.deepcopy(self.data)
        self.data["system"].update(system)
        with self.server.http() as c:
            r = c.post(
                "/api/deploy",
                json={"project": self.data},
                headers=deploy_headers(password=SERVICE_PASSWORD),
            )
        assert r.status_code == 200, r.text
        return int(r.json()["version"])

    def server_id(self) -> str:
        with self.server.http() as c:
            return str(c.get("/api/info").json()["server_id"])

    def admin_token(self) -> str:
        from domogate.core import devicekeys

        key = devicekeys.generate_private_key()
        with self.server.http() as c:
            r = c.post(
                "/api/auth/password",
                json={
                    "username": ADMIN,
                    "password": ADMIN_PASSWORD,
                    "device": {"name": "test", "public_key": devicekeys.public_key_of(key)},
                },
            )
        assert r.status_code == 200, r.text
        return str(r.json()["session"]["token"])


def house_project() -> dict[str, Any]:
    data = demo_project(_hash(ADMIN_PASSWORD))
    data["users"][0]["name"] = ADMIN
    data["system"]["password"] = _hash(SERVICE_PASSWORD)
    return data


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    sp = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    sp.start()
    try:
        data = house_project()
        with sp.http() as c:
            r = c.post(
                "/api/deploy",
                json={"project": data},
                headers=deploy_headers(setup_code=sp.setup_code()),
            )
        assert r.status_code == 200, r.text
        yield House(sp, data)
    finally:
        sp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module. Not per session: while Playwright's sync API runs, the
    main thread has a running event loop, which the asyncio tests of other folders need."""
    if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium "
            "(scripts/system-deps.sh installs it; `apt-get install chromium`)"
        )
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """Open browser contexts (separate profiles); each test's are closed after it."""
    made: list[Any] = []

    def make(
        viewport: dict[str, int] | None = None,
        locale: str = "en-US",
        color_scheme: str = "light",
    ) -> Any:
        ctx = browser.new_context(
            ignore_https_errors=True,
            viewport=viewport or DESKTOP,
            locale=locale,
            color_scheme=color_scheme,
        )
        ctx.set_default_timeout(10_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def shot(page: Any, name: str) -> None:
    """A screenshot for people to look at (build/screenshots/, git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def watch_console(page: Any) -> list[str]:
    """Collect page errors, CSP refusals and dialogs: the tests assert that none happened."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    # CSP refusals reach the page as "securitypolicyviolation" events (Playwright's console
    # events do not carry the browser's own CSP messages).
    page.expose_function("__domogateCsp", lambda text: problems.append(f"CSP: {text}"))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) =>"
        " window.__domogateCsp(e.violatedDirective + ' ' + e.blockedURI));"
    )

    def on_dialog(dialog: Any) -> None:
        problems.append(f"{dialog.type} dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return problems


def login_admin(page: Any, url: str) -> None:
    page.goto(url + "/")
    popup = page.get_by_role("dialog", name="Authentication")
    popup.get_by_label("Username", exact=True).fill(ADMIN)
    popup.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    popup.get_by_role("button", name="Connect").click()
    sync_api.expect(popup).to_be_hidden()


def open_manage_clients(page: Any) -> Any:
    page.get_by_role("button", name="Advanced settings", exact=True).click()
    page.get_by_role("button", name="Manage clients", exact=True).click()
    table = page.get_by_role("table", name="Clients")
    sync_api.expect(table).to_be_visible()
    return table
