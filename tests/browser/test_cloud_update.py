"""Automatic server update off (issue 14, item 4): a version published through the cloud
is not applied by itself; the admin's page says "update available (version N)" live, the
maintenance page says it too, and its Apply button applies it — the admin's page then
shows the new project without reload.

Real processes (``tests/support/cloudhouse.py``): a cloud, the demo house whose first
deploy pinned an integrator key; the version is published through the cloud's API as
``domogate cloud publish`` does (``tests/support/published.py``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright import sync_api

from domogate.core import cloudwire
from tests.support.browser import CHROMIUM, SERVICE_PASSWORD, login_admin, watch_console
from tests.support.cloudhouse import CLOUD_PASSWORD, CloudHouse, chromium_args
from tests.support.published import signed_version

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium")]
expect = sync_api.expect
INTEGRATOR = Ed25519PrivateKey.generate()


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[CloudHouse]:
    house = CloudHouse.start(
        tmp_path,
        system={"automatic_server_update": False},
        publisher_key=cloudwire.public_key_text(INTEGRATOR.public_key()),
    )
    try:
        yield house
    finally:
        house.stop()


def publish(ch: CloudHouse, version: int, name: str) -> None:
    data = copy.deepcopy(ch.house.data)
    data["name"] = name
    signed = signed_version(ch.name, version, INTEGRATOR, project=data)
    with httpx.Client(verify=ch.cloud.ssl_context(), timeout=10) as c:
        r = c.post(
            f"https://127.0.0.1:{ch.cloud.port}/api/installations/{ch.name}/versions",
            json=signed.body(),
            auth=(ch.name, CLOUD_PASSWORD),
        )
    assert r.status_code == 200, r.text


def test_with_automatic_update_off_admins_see_it_and_apply_it_from_the_maintenance_page(
    ch: CloudHouse,
) -> None:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(ch))
        try:
            admin = browser.new_context().new_page()
            problems = watch_console(admin)
            login_admin(admin, ch.local_url)
            expect(admin.get_by_role("heading", name="Demo house")).to_be_visible()
            admin.get_by_role("button", name="Advanced settings", exact=True).click()

            publish(ch, 1, "Demo house, published")
            notice = admin.locator("#update-notice")
            expect(notice).to_contain_text("Update available: version 1", timeout=5000)
            assert ch.info()["name"] == "Demo house"  # nothing applied by itself

            page = browser.new_context().new_page()
            page.goto(ch.local_url + "/maintenance")
            page.get_by_label("Service password").fill(SERVICE_PASSWORD)
            page.get_by_role("button", name="Unlock").click()
            apply = page.get_by_role("button", name="Apply version 1")
            expect(apply).to_be_visible()
            apply.click()
            expect(page.get_by_text("Version 1 applied")).to_be_visible()
            assert ch.info()["name"] == "Demo house, published"
            # the admin's page follows without reload, and the notice is gone
            expect(admin.get_by_role("heading", name="Demo house, published")).to_be_visible()
            expect(notice).not_to_contain_text("Update available")
            assert problems == [], problems
        finally:
            browser.close()
