"""The maintenance page: the service password, the admins, granting the admin flag."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import (
    PHONE,
    SERVICE_PASSWORD,
    House,
    shot,
    sync_api,
    watch_console,
)
from tests.support.processes import redeem_over_http

pytestmark = pytest.mark.slow
expect = sync_api.expect


def test_service_password_shows_admins_and_grants_the_flag(house: House, new_context: Any) -> None:
    token = house.admin_token()
    with house.server.http() as c:
        r = c.post("/api/clients", json={}, headers={"Authorization": f"Bearer {token}"})
    r, _ = redeem_over_http(house.server, r.json()["otp"], "Eve")
    assert r.status_code == 200, r.text

    page = new_context().new_page()
    problems = watch_console(page)
    page.goto(house.url + "/maintenance")
    page.get_by_label("Service password").fill("wrong")
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong service password.")
    page.get_by_label("Service password").fill(SERVICE_PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_text("Administrators: alice")).to_be_visible()
    expect(page.get_by_text(house.server.fingerprint[:2] + ":")).to_be_visible()
    users = page.get_by_role("table", name="Users")
    eve = users.get_by_role("row").filter(has_text="Eve")
    eve.get_by_role("button", name="Make administrator").click()
    expect(page.get_by_text("Administrators: alice, Eve")).to_be_visible()
    expect(eve.get_by_role("button", name="Remove administrator")).to_be_visible()
    expect(page.get_by_text("admin.grant").first).to_be_visible()
    shot(page, "maintenance-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "maintenance-phone")
    page.get_by_role("button", name="Lock").click()
    expect(page.get_by_label("Service password")).to_be_visible()
    assert not problems, problems
