"""Browser helpers: the demo house on a real server process, pages driven by Playwright."""

from __future__ import annotations

import copy
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image
from playwright import sync_api

from domogate.cli.demo_cmd import demo_project
from domogate.security.passwords import Argon2Parameters, Passwords
from tests.support.deploy_auth import deploy_headers
from tests.support.processes import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}

ADMIN = "alice"
ADMIN_PASSWORD = "alice-password"
SERVICE_PASSWORD = "service-secret"
OTP_RE = re.compile(r"^[A-Z]{5}-[A-Z]{5}$")


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


def add_user(page: Any, name: str | None = None, group: str | None = None) -> str:
    """Fill "Add user" and save; the new row's label (the OTP)."""
    table = page.get_by_role("table", name="Clients")
    before = set(table.locator(".otp-label").all_text_contents())
    page.get_by_role("button", name="Add user").click()
    form = page.get_by_role("form", name="Add user")
    if name:
        form.get_by_label("Name").fill(name)
    if group:
        form.get_by_label("Group").select_option(group)
    sync_api.expect(form.get_by_label("Valid for")).to_have_value("7200")
    form.get_by_role("button", name="Save").click()
    sync_api.expect(form).to_be_hidden()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = set(table.locator(".otp-label").all_text_contents()) - before
        if new:
            (otp,) = new
            assert OTP_RE.match(otp), otp
            return otp
        time.sleep(0.05)
    raise AssertionError("no new row labelled with an OTP")


def decode_qr(page: Any, label: str) -> str:
    img = page.get_by_role("img", name=f"QR code for {label}")
    sync_api.expect(img).to_be_visible()
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(img.screenshot())))
    assert results, "zxing found no QR code in the image shown"
    return str(results[0].text)


def row_of(page: Any, text: str) -> Any:
    return page.get_by_role("table", name="Clients").get_by_role("row").filter(has_text=text)
