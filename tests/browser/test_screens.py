"""Objects operated from the page, and screenshots at phone and desktop sizes (must-hold 6)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    PHONE,
    House,
    login_admin,
    open_manage_clients,
    shot,
    sync_api,
    watch_console,
)

pytestmark = pytest.mark.slow
expect = sync_api.expect


def test_switch_toggled_in_the_page_comes_back_as_its_new_state(
    house: House, new_context: Any
) -> None:
    page = new_context().new_page()
    problems = watch_console(page)
    login_admin(page, house.url)
    light = page.get_by_role("switch", name="Living room light")
    expect(light).to_have_attribute("aria-checked", "false")
    light.click()
    expect(light).to_have_attribute("aria-checked", "true")
    light.click()
    expect(light).to_have_attribute("aria-checked", "false")
    # The thermostat's + step and mode select come back as the new state too.
    page.get_by_role("tab", name="First floor").click()
    card = page.locator("article", has=page.get_by_role("heading", name="Bedroom", exact=True))
    target = card.locator(".target-value")
    expect(target).not_to_have_text("—")
    before = float(target.inner_text().split()[0].replace(",", "."))
    card.get_by_role("button", name="Raise target by 0.5 °C").click()
    expect(target).to_have_text(f"{before + 0.5:g} °C")
    card.get_by_label("Mode").select_option("economy")
    expect(card.get_by_label("Mode")).to_have_value("economy")
    # Read only for this group: the outside temperature has no control, only its value.
    page.get_by_role("tab", name="Garden").click()
    sensor = page.locator("article", has=page.get_by_role("heading", name="Outside temperature"))
    expect(sensor.locator(".readout-value")).to_contain_text("°C")
    assert not problems, problems


def test_session_is_renewed_on_the_open_channel_before_it_expires(
    house: House, new_context: Any
) -> None:
    page = new_context().new_page()
    page.clock.install()
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def on_ws(ws: Any) -> None:
        ws.on("framesent", lambda payload: sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: received.append(json.loads(payload)))

    page.on("websocket", on_ws)
    login_admin(page, house.url)
    expect(page.get_by_role("switch", name="Living room light")).to_be_visible()

    def hellos() -> list[dict[str, Any]]:
        return [m for m in received if m["type"] == "hello"]

    deadline = time.monotonic() + 10
    while not hellos():  # the first hello re-arms the renewal timer: wait for it first
        assert time.monotonic() < deadline, (sent, received)
        page.wait_for_timeout(50)
    page.clock.fast_forward("14:30")  # sessions last 15 minutes; renewal is 1 minute before
    deadline = time.monotonic() + 10
    while len(hellos()) < 2:
        assert time.monotonic() < deadline, (sent, received)
        page.wait_for_timeout(50)
    auths = [m for m in sent if m["type"] == "auth"]
    assert len(auths) == 2 and auths[0]["token"] != auths[1]["token"]
    first, second = hellos()[:2]
    assert second["session"]["expires_at"] > first["session"]["expires_at"]
    # Still live: a command goes through on the same socket.
    page.get_by_role("switch", name="Living room light").click()
    expect(page.get_by_role("switch", name="Living room light")).to_have_attribute(
        "aria-checked", "true"
    )


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_screenshots(house: House, new_context: Any, size: str) -> None:
    viewport = PHONE if size == "phone" else DESKTOP
    page = new_context(viewport=viewport).new_page()
    problems = watch_console(page)
    page.goto(house.url + "/")
    popup = page.get_by_role("dialog", name="Authentication")
    expect(popup).to_be_visible()
    shot(page, f"popup-{size}")
    popup.get_by_role("switch", name="One-time password").click()
    shot(page, f"popup-otp-{size}")
    popup.get_by_role("switch", name="One-time password").click()
    popup.get_by_label("Username", exact=True).fill("alice")
    popup.get_by_label("Password", exact=True).fill("wrong")
    popup.get_by_role("button", name="Connect").click()
    expect(popup.get_by_role("alert")).to_be_visible()
    shot(page, f"popup-error-{size}")

    login_admin(page, house.url)
    expect(page.get_by_role("switch", name="Living room light")).to_be_visible()
    page.get_by_role("switch", name="Kitchen").click()
    expect(page.get_by_role("switch", name="Kitchen")).to_have_attribute("aria-checked", "true")
    shot(page, f"project-{size}")
    page.get_by_role("tab", name="First floor").click()
    expect(page.get_by_role("heading", name="Bedroom", exact=True)).to_be_visible()
    shot(page, f"project-first-floor-{size}")

    page.get_by_role("button", name="Advanced settings").click()
    expect(page.get_by_role("button", name="Manage clients")).to_be_visible()
    shot(page, f"advanced-{size}")
    page.get_by_role("button", name="Advanced settings").click()  # and back
    expect(page.get_by_role("tab", name="First floor")).to_be_visible()
    open_manage_clients(page)
    page.get_by_role("button", name="Add user").click()
    form = page.get_by_role("form", name="Add user")
    form.get_by_label("Name").fill("Grandma")
    shot(page, f"add-user-{size}")
    form.get_by_role("button", name="Save").click()
    row = page.get_by_role("table", name="Clients").get_by_role("row").filter(has_text="Grandma")
    expect(row).to_be_visible()
    shot(page, f"clients-{size}")
    row.get_by_role("button", name="Show QR code").click()
    label = row.locator(".otp-label").inner_text()
    expect(page.get_by_role("img", name=f"QR code for {label}")).to_be_visible()
    shot(page, f"qr-{size}")
    assert not problems, problems


def test_keyboard_only_sign_in_and_operation(house: House, new_context: Any) -> None:
    page = new_context(color_scheme="dark").new_page()
    problems = watch_console(page)
    page.goto(house.url + "/")
    expect(page.get_by_role("dialog", name="Authentication")).to_be_visible()
    # Focus starts in Username; Tab goes to Password; Enter connects.
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type("alice-password")
    page.keyboard.press("Enter")
    light = page.get_by_role("switch", name="Living room light")
    expect(light).to_be_visible()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == (
            "Living room light"
        ):
            break
    else:
        raise AssertionError("Tab never reached the Living room light switch")
    page.keyboard.press("Space")
    expect(light).to_have_attribute("aria-checked", "true")
    # Arrow keys move between the page tabs.
    page.get_by_role("tab", name="Ground floor").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="First floor")).to_be_focused()
    expect(page.get_by_role("tab", name="First floor")).to_have_attribute("aria-selected", "true")
    shot(page, "project-dark-desktop")
    assert not problems, problems
