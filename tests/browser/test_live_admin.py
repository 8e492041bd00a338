"""Manage clients stays live without reloads; QR downloads; new OTP; per-device revoke;
the audit trail; a deploy refreshes every open client; French."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.support.browser import (
    House,
    add_user,
    login_admin,
    open_manage_clients,
    row_of,
    sync_api,
    watch_console,
)
from tests.support.processes import redeem_over_http

pytestmark = pytest.mark.slow
expect = sync_api.expect


def test_table_follows_expiry_presence_and_devices_live(
    house: House, new_context: Any, tmp_path: Path
) -> None:
    admin = new_context().new_page()
    problems = watch_console(admin)
    login_admin(admin, house.url)
    open_manage_clients(admin)

    # An OTP issued elsewhere (another admin, the CLI) for one second: the row appears,
    # then turns Expired, without a reload.
    token = house.admin_token()
    with house.server.http() as c:
        r = c.post(
            "/api/clients",
            json={"name": "Shortlived", "valid_for_s": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    short = r.json()["otp"]
    expect(row_of(admin, short)).to_be_visible()
    expect(row_of(admin, "Shortlived").get_by_text("Expired")).to_be_visible(timeout=5000)

    # A newcomer joins in a browser, goes offline when the page closes.
    otp = add_user(admin, name="Frank", group="guests")
    newcomer_ctx = new_context()
    newcomer = newcomer_ctx.new_page()
    newcomer.goto(f"{house.url}/join#v=1&s={house.server_id()}&otp={otp}")
    newcomer.get_by_role("button", name="Connect").click()
    expect(newcomer.get_by_role("switch", name="Living room light")).to_be_visible()
    # The guests group does not see the family-only shutter; no admin, no Advanced settings.
    expect(newcomer.get_by_role("heading", name="Living room shutter")).to_have_count(0)
    expect(newcomer.get_by_role("button", name="Advanced settings")).to_have_count(0)
    expect(row_of(admin, "Frank").get_by_text("Online")).to_be_visible()
    newcomer.close()
    expect(row_of(admin, "Frank").get_by_text("Offline")).to_be_visible(timeout=5000)

    # New OTP for Frank's next device: the QR dialog shows it; PNG and SVG downloads decode
    # to the same join link.
    row_of(admin, "Frank").get_by_role("button", name="New OTP").click()
    dialog = admin.get_by_role("dialog", name="QR code")
    expect(dialog.get_by_text("A new device for Frank")).to_be_visible()
    second = dialog.locator(".otp-big").inner_text()
    with admin.expect_download() as png_download:
        dialog.get_by_role("button", name="Download PNG").click()
    png = tmp_path / "qr.png"
    png_download.value.save_as(png)
    decoded = zxingcpp.read_barcodes(Image.open(png))
    assert decoded and f"otp={second}" in decoded[0].text
    with admin.expect_download() as svg_download:
        dialog.get_by_role("button", name="Download SVG").click()
    svg = tmp_path / "qr.svg"
    svg_download.value.save_as(svg)
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert svg_download.value.suggested_filename.endswith(".svg")
    dialog.get_by_role("button", name="Close").click()

    # The second device joins; revoke only the first one.
    r, _ = redeem_over_http(house.server, second, "ignored")
    assert r.status_code == 200, r.text
    expect(row_of(admin, "Frank").locator(".devices li")).to_have_count(2)
    row_of(admin, "Frank").get_by_role("button", name="Revoke").click()
    confirm = admin.get_by_role("dialog", name="Revoke Frank")
    confirm.get_by_label("Only the device").first.check()
    confirm.get_by_role("button", name="Revoke").click()
    expect(confirm).to_have_count(0)
    expect(row_of(admin, "Frank").locator(".devices li")).to_have_count(1)
    expect(row_of(admin, "Frank").get_by_text("Revoked")).to_have_count(0)

    # The revoked device was Frank's browser (the first one): its next visit is refused
    # with a message saying so, and the popup is back.
    again = newcomer_ctx.new_page()
    again.goto(house.url + "/")
    popup = again.get_by_role("dialog", name="Authentication")
    expect(popup.get_by_role("alert")).to_contain_text("has been revoked")
    expect(popup.get_by_label("Username", exact=True)).to_have_value("Frank")
    again.close()

    # A guest: the account's end date shows in the row.
    admin.get_by_role("button", name="Add user").click()
    form = admin.get_by_role("form", name="Add user")
    form.get_by_label("Name").fill("Visitor")
    form.get_by_label("Account valid until").fill("2030-01-02T12:00")
    form.get_by_role("button", name="Save").click()
    expect(row_of(admin, "Visitor").get_by_text("until")).to_be_visible()
    expect(row_of(admin, "Visitor").get_by_text("admin", exact=True)).to_have_count(0)
    # And a second administrator.
    admin.get_by_role("button", name="Add user").click()
    form.get_by_label("Name").fill("Helper")
    form.get_by_label("Administrator").check()
    form.get_by_role("button", name="Save").click()
    expect(row_of(admin, "Helper").get_by_text("admin", exact=True)).to_be_visible()

    # Frank's audit trail.
    row_of(admin, "Frank").get_by_role("button", name="History").click()
    history = admin.get_by_role("dialog", name="History of Frank")
    expect(history.get_by_text("device.revoke")).to_be_visible()
    expect(history.get_by_text("otp.redeem").first).to_be_visible()
    assert not problems, problems


def test_a_deploy_refreshes_the_open_client_and_says_so(
    house: House, new_context: Any, tmp_path: Path
) -> None:
    assert_strict_csp(house)
    page = new_context().new_page()
    problems = watch_console(page)
    login_admin(page, house.url)
    expect(page.get_by_text("Version 1", exact=True)).to_be_visible()
    data = house.data
    data["pages"].append({"id": "cellar", "title": "Cellar"})
    data["objects"].append(
        {
            "id": "cellar-light",
            "name": "Cellar light",
            "type": "switch",
            "page": "cellar",
            "bindings": {"command": {"address": "1/5/1", "dpt": "1.001"}},
        }
    )
    assert house.redeploy() == 2
    expect(page.get_by_text("The project was updated to version 2")).to_be_visible()
    expect(page.get_by_text("Version 2", exact=True)).to_be_visible()
    page.get_by_role("tab", name="Cellar").click()
    expect(page.get_by_role("switch", name="Cellar light")).to_be_visible()

    # Advanced settings → Audit log lists both deploys and exports the log as JSON lines.
    page.get_by_role("button", name="Advanced settings").click()
    page.get_by_role("button", name="Audit log").click()
    expect(page.get_by_text("deploy", exact=True)).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export (JSON lines)").click()
    path = tmp_path / "audit.jsonl"
    download.value.save_as(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["action"] for r in rows].count("deploy") == 2
    assert not problems, problems


def test_french_follows_the_browser_and_is_switchable(house: House, new_context: Any) -> None:
    page = new_context(locale="fr-FR").new_page()
    page.goto(house.url + "/")
    popup = page.get_by_role("dialog", name="Authentification")
    expect(popup.get_by_role("switch", name="Mot de passe à usage unique")).to_be_visible()
    popup.get_by_label("Nom d’utilisateur").fill("alice")
    popup.get_by_label("Mot de passe", exact=True).fill("faux")
    popup.get_by_role("button", name="Se connecter").click()
    expect(popup.get_by_role("alert")).to_have_text("Nom d’utilisateur ou mot de passe incorrect.")
    popup.get_by_role("combobox", name="Langue").select_option("en")
    popup = page.get_by_role("dialog", name="Authentication")
    expect(popup.get_by_label("Username", exact=True)).to_have_value("alice")
    page.reload()  # the choice is remembered
    expect(page.get_by_role("dialog", name="Authentication")).to_be_visible()


def assert_strict_csp(house: House) -> None:
    """Every page carries a strict CSP and has no inline script or handler."""
    with house.server.http() as c:
        for path in ("/", "/join", "/maintenance"):
            r = c.get(path)
            assert r.status_code == 200
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
            assert not re.search(r"\son[a-z]+\s*=", r.text), path


def test_server_restart_reconnects_by_itself(house: House, new_context: Any) -> None:
    page = new_context().new_page()
    problems = watch_console(page)
    login_admin(page, house.url)
    light = page.get_by_role("switch", name="Living room light")
    expect(light).to_be_visible()
    house.server.stop(signal.SIGKILL)
    expect(page.get_by_text("Connection lost — reconnecting…")).to_be_visible()
    light.click()  # nothing can be sent: the card says so, the switch keeps its state
    card = page.locator("article", has=light)
    expect(card.get_by_role("status")).to_have_text("Not connected; nothing was sent.")
    expect(light).to_have_attribute("aria-checked", "false")
    house.server.start()  # sessions were in memory: the client signs in again with its key
    expect(page.get_by_text("Connection lost — reconnecting…")).to_be_hidden(timeout=15_000)
    light.click()
    expect(light).to_have_attribute("aria-checked", "true")
    expect(page.get_by_role("dialog", name="Authentication")).to_have_count(0)
    assert not problems, problems
