"""Objects operated from the page, and screenshots at phone and desktop sizes (must-hold 6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
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
    assert not problems, problems


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
