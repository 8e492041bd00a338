"""Must-hold 1-3 and 5: the admin adds a user, the newcomer joins from the QR code, automatic
authentication, live revocation, untrusted names shown as text."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.browser import (
    ADMIN_PASSWORD,
    PHONE,
    House,
    add_user,
    decode_qr,
    login_admin,
    open_manage_clients,
    row_of,
    shot,
    sync_api,
    watch_console,
)

pytestmark = pytest.mark.slow
expect = sync_api.expect


def test_admin_adds_newcomer_who_joins_from_the_qr_code(house: House, new_context: Any) -> None:
    admin = new_context().new_page()
    admin_problems = watch_console(admin)
    login_admin(admin, house.url)
    expect(admin.get_by_role("heading", name="Demo house")).to_be_visible()
    open_manage_clients(admin)
    otp = add_user(admin)
    row = row_of(admin, otp)
    expect(row.get_by_text("Pending")).to_be_visible()
    row.get_by_role("button", name="Show QR code").click()
    link = decode_qr(admin, otp)
    assert link.startswith(house.url + "/join#"), link
    assert "otp=" + otp in link
    admin.get_by_role("dialog", name="QR code").get_by_role("button", name="Close").click()

    # The newcomer opens the join link: OTP view selected, OTP filled in, asks the name.
    newcomer = new_context().new_page()
    problems = watch_console(newcomer)
    requests: list[str] = []
    newcomer.on("request", lambda r: requests.append(r.url))
    newcomer.goto(link)
    popup = newcomer.get_by_role("dialog", name="Authentication")
    expect(popup.get_by_role("switch", name="One-time password")).to_have_attribute(
        "aria-checked", "true"
    )
    expect(popup.get_by_role("textbox", name="One-time password")).to_have_value(otp)
    assert "#" not in newcomer.url and otp not in newcomer.url
    popup.get_by_label("Your name").fill("Bob")
    popup.get_by_role("button", name="Connect").click()
    expect(popup).to_be_hidden()
    expect(newcomer.get_by_role("heading", name="Demo house")).to_be_visible()
    expect(newcomer.get_by_role("switch", name="Living room light")).to_be_visible()
    assert not [u for u in requests if otp in u], "the OTP appeared in a request URL"
    assert otp not in house.server.log()

    # The admin's table shows Bob online, without any reload.
    expect(row_of(admin, "Bob").get_by_text("Online")).to_be_visible(timeout=3000)
    assert not admin_problems and not problems, admin_problems + problems

    # Must-hold 2: reload signs in again silently (automatic authentication is on).
    newcomer.reload()
    expect(newcomer.get_by_role("switch", name="Living room light")).to_be_visible()
    expect(newcomer.get_by_role("dialog", name="Authentication")).to_have_count(0)

    # Must-hold 3: revoked → within a second, the popup with a message saying so.
    row_of(admin, "Bob").get_by_role("button", name="Revoke").click()
    confirm = admin.get_by_role("dialog", name="Revoke Bob")
    confirm.get_by_role("button", name="Revoke").click()
    started = time.monotonic()
    popup = newcomer.get_by_role("dialog", name="Authentication")
    expect(popup).to_be_visible(timeout=1000)
    expect(popup.get_by_role("alert")).to_contain_text("revoked", timeout=1000)
    assert time.monotonic() - started < 1.5
    expect(row_of(admin, "Bob").get_by_text("Revoked")).to_be_visible()
    assert not problems, problems


def test_without_automatic_authentication_the_popup_returns(house: House, new_context: Any) -> None:
    house.redeploy(automatic_authentication=False)
    page = new_context().new_page()
    login_admin(page, house.url)
    expect(page.get_by_role("heading", name="Demo house")).to_be_visible()
    page.reload()
    popup = page.get_by_role("dialog", name="Authentication")
    expect(popup).to_be_visible()
    expect(popup.get_by_label("Username", exact=True)).to_have_value("alice")
    # Signing in again from the same browser keeps its device: no new row per sign-in.
    popup.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    popup.get_by_role("button", name="Connect").click()
    expect(popup).to_be_hidden()
    open_manage_clients(page)
    devices = row_of(page, "alice").locator("ul.devices li")
    expect(devices).to_have_count(1)


def test_hostile_name_is_shown_as_text(house: House, new_context: Any) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    admin = new_context().new_page()
    problems = watch_console(admin)
    login_admin(admin, house.url)
    open_manage_clients(admin)
    otp = add_user(admin)
    # The newcomer types the hostile name in the popup when joining.
    newcomer = new_context().new_page()
    problems += watch_console(newcomer)
    newcomer.goto(f"{house.url}/join#v=1&s={house.server_id()}&otp={otp}")
    popup = newcomer.get_by_role("dialog", name="Authentication")
    popup.get_by_label("Your name").fill(hostile)
    popup.get_by_role("button", name="Connect").click()
    expect(popup).to_be_hidden()
    newcomer.get_by_role("button", name=hostile).click()  # the user menu shows it as text
    expect(newcomer.locator(".menu-user")).to_contain_text(hostile)
    cell = admin.get_by_role("table", name="Clients").get_by_text(hostile, exact=True)
    expect(cell).to_be_visible()
    expect(row_of(admin, hostile).get_by_text("Online")).to_be_visible()
    # A device name is untrusted text too: the CLI and the API let people choose it, and
    # the table lists it among the user's devices.
    from domogate.core import devicekeys

    hostile_device = "<img src=x onerror=alert(2)><b>phone</b>"
    auth = {"Authorization": f"Bearer {house.admin_token()}"}
    with house.server.http() as c:
        r = c.post("/api/clients", json={"name": "Device owner"}, headers=auth)
        assert r.status_code == 200, r.text
        key = devicekeys.public_key_of(devicekeys.generate_private_key())
        r = c.post(
            "/api/auth/otp",
            json={"otp": r.json()["otp"], "device": {"name": hostile_device, "public_key": key}},
        )
        assert r.status_code == 200, r.text
    expect(row_of(admin, "Device owner").get_by_text(hostile_device, exact=True)).to_be_visible()
    assert admin.locator("table b").count() == 0
    for page in (admin, newcomer):
        assert page.locator("img[src=x]").count() == 0
        assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert not problems, problems
    admin.set_viewport_size(PHONE)
    shot(admin, "clients-hostile-phone")


def test_a_stranger_cannot_lock_the_browser_owner_out(house: House, new_context: Any) -> None:
    """Automatic authentication off: the owner's browser signs in with its password while a
    stranger keeps alice's account refusing every unknown device; the browser proves its
    device key with the password and gets in."""
    import httpx

    from domogate.core import devicekeys

    house.redeploy(automatic_authentication=False)
    page = new_context().new_page()
    login_admin(page, house.url)
    expect(page.get_by_role("heading", name="Demo house")).to_be_visible()
    transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=house.server.ssl_context())
    with httpx.Client(base_url=house.url, transport=transport, timeout=10) as attacker:
        codes = [
            attacker.post(
                "/api/auth/password",
                json={
                    "username": "alice",
                    "password": f"guess {i}",
                    "device": {
                        "name": "x",
                        "public_key": devicekeys.public_key_of(devicekeys.generate_private_key()),
                    },
                },
            ).json()["error"]["code"]
            for i in range(12)
        ]
    assert codes[-1] == "rate_limited"
    page.reload()
    popup = page.get_by_role("dialog", name="Authentication")
    expect(popup).to_be_visible()
    popup.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    popup.get_by_role("button", name="Connect").click()
    expect(popup).to_be_hidden()
    expect(page.get_by_role("heading", name="Demo house")).to_be_visible()
