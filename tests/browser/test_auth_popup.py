"""Must-hold 4: the popup's toggle, and a specific message for each way a sign-in fails."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.support.browser import House, sync_api, watch_console
from tests.support.processes import redeem_over_http

pytestmark = pytest.mark.slow
expect = sync_api.expect


def issue_otp(house: House, token: str, valid_for_s: int | None = None) -> str:
    body: dict[str, Any] = {"valid_for_s": valid_for_s} if valid_for_s else {}
    with house.server.http() as c:
        r = c.post("/api/clients", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return str(r.json()["otp"])


def try_otp(popup: Any, otp: str) -> Any:
    popup.get_by_role("textbox", name="One-time password").fill(otp)
    popup.get_by_label("Your name").fill("Carol")
    popup.get_by_role("button", name="Connect").click()
    return popup.get_by_role("alert")


def test_toggle_and_each_failure_has_its_own_message(house: House, new_context: Any) -> None:
    token = house.admin_token()
    expired = issue_otp(house, token, valid_for_s=1)
    used = issue_otp(house, token)
    r, _ = redeem_over_http(house.server, used, "Dave")
    assert r.status_code == 200, r.text

    page = new_context().new_page()
    problems = watch_console(page)
    page.goto(house.url + "/")
    popup = page.get_by_role("dialog", name="Authentication")
    toggle = popup.get_by_role("switch", name="One-time password")
    username = popup.get_by_label("Username", exact=True)
    otp_field = popup.get_by_role("textbox", name="One-time password")

    # The toggle switches the views.
    expect(toggle).to_have_attribute("aria-checked", "false")
    expect(username).to_be_visible()
    expect(otp_field).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "true")
    expect(otp_field).to_be_visible()
    expect(username).to_be_hidden()
    toggle.press("Space")  # usable by keyboard
    expect(toggle).to_have_attribute("aria-checked", "false")
    expect(username).to_be_visible()

    # Wrong password.
    username.fill("alice")
    popup.get_by_label("Password", exact=True).fill("not-her-password")
    popup.get_by_role("button", name="Connect").click()
    expect(popup.get_by_role("alert")).to_have_text("Wrong username or password.")

    toggle.click()
    # Expired OTP (issued valid for one second).
    time.sleep(max(0.0, 1.2))
    expect(try_otp(popup, expired)).to_contain_text(
        "has expired. Ask your administrator for a new one."
    )
    # Already used.
    expect(try_otp(popup, used)).to_contain_text("has already been used")
    # Throttled: this source has spent its attempts; the message says when to retry.
    for _ in range(10):
        redeem_over_http(house.server, "ZZZZZ-ZZZZZ", "x")
    alert = try_otp(popup, "ZZZZZ-ZZZZZ")
    expect(alert).to_contain_text("Too many attempts. Try again in")
    assert not problems, problems


def test_no_otp_view_when_the_project_disables_it(house: House, new_context: Any) -> None:
    house.redeploy(use_otp_authentication=False)
    page = new_context().new_page()
    page.goto(house.url + "/")
    popup = page.get_by_role("dialog", name="Authentication")
    expect(popup.get_by_label("Username", exact=True)).to_be_visible()
    expect(popup.get_by_role("switch", name="One-time password")).to_have_count(0)
    expect(popup.get_by_role("textbox", name="One-time password")).to_be_hidden()
    # An old join link says why it cannot be used.
    page.goto(f"{house.url}/join#v=1&s={house.server_id()}&otp=ACDEF-GHJKL")
    popup = page.get_by_role("dialog", name="Authentication")
    expect(popup.get_by_role("alert")).to_contain_text("One-time passwords are turned off")
    expect(popup.get_by_role("switch", name="One-time password")).to_have_count(0)


def test_server_unreachable_is_said(house: House, new_context: Any) -> None:
    page = new_context().new_page()
    page.goto(house.url + "/")
    popup = page.get_by_role("dialog", name="Authentication")
    popup.get_by_label("Username", exact=True).fill("alice")
    popup.get_by_label("Password", exact=True).fill("alice-password")
    house.server.stop(signal.SIGKILL)  # gone at once, as when the power fails
    popup.get_by_role("button", name="Connect").click()
    expect(popup.get_by_role("alert")).to_contain_text("The server cannot be reached")
