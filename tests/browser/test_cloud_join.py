"""Must-hold of issue 13: a newcomer joins with the OTP through the cloud name, with no
certificate error, and the admin's Manage clients shows them Online on path Cloud without
reload.

Everything is real: Debian's pebble issues the cloud name's certificate by TLS-ALPN-01
through the relay; the newcomer's chromium trusts pebble's root only (an NSS database of
its own HOME) and is NOT told to accept the server's self-signed key, so any other
certificate on the cloud name would stop the page. The admin works from the local origin
(the house's Wi-Fi forwarder), having accepted the self-signed certificate once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright import sync_api

from tests.support import pebble as pebble_support
from tests.support.browser import (
    CHROMIUM,
    PHONE,
    add_user,
    decode_qr,
    login_admin,
    open_manage_clients,
    row_of,
    shot,
    watch_console,
)
from tests.support.cloudhouse import ZONE, CloudHouse, chromium_args

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and pebble_support.available() and shutil.which("certutil")),
        reason="needs Debian's chromium, pebble and libnss3-tools (scripts/system-deps.sh)",
    ),
]
expect = sync_api.expect


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[CloudHouse]:
    house = CloudHouse.start(tmp_path, acme=True)
    try:
        house.wait_certificate()
        yield house
    finally:
        house.stop()


def test_a_newcomer_joins_through_the_cloud_name_with_no_certificate_error(
    ch: CloudHouse, tmp_path: Path
) -> None:
    assert ch.pebble is not None
    trust = pebble_support.chromium_trusting(ch.pebble.root_pem(), tmp_path / "home")
    with sync_api.sync_playwright() as pw:
        at_home = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(ch))
        away = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=chromium_args(ch, accept_own_certificate=False),
            env=trust,
        )
        try:
            admin = at_home.new_context().new_page()
            admin_problems = watch_console(admin)
            login_admin(admin, ch.local_url)
            open_manage_clients(admin)
            otp = add_user(admin)
            row_of(admin, otp).get_by_role("button", name="Show QR code").click()
            link = decode_qr(admin, otp)
            admin.get_by_role("dialog", name="QR code").get_by_role("button", name="Close").click()
            # the QR's link opens on the cloud name and still says where home is
            assert link.startswith(ch.cloud_url + "/join#"), link
            fields = parse_qs(urlsplit(link).fragment)
            assert fields["c"] == [ch.cloud_url] and fields["otp"] == [otp]
            assert fields["l"][0].startswith("https://")

            phone = away.new_context(viewport=PHONE).new_page()
            problems = watch_console(phone)
            hosts: set[str] = set()
            phone.on("request", lambda r: hosts.add(urlsplit(r.url).hostname or ""))
            answer = phone.goto(link)  # any certificate error would raise here
            assert answer is not None and answer.ok
            security = answer.security_details()
            assert security is not None and security.get("subjectName") == ch.host
            assert "Pebble" in str(security.get("issuer")), security
            popup = phone.get_by_role("dialog", name="Authentication")
            expect(popup.get_by_role("textbox", name="One-time password")).to_have_value(otp)
            popup.get_by_label("Your name").fill("Bob")
            popup.get_by_role("button", name="Connect").click()
            expect(popup).to_be_hidden()
            expect(phone.get_by_role("switch", name="Living room light")).to_be_visible()
            chip = phone.locator(".path-chip")
            expect(chip).to_match_aria_snapshot('- status: "Connection: Cloud"')
            shot(phone, "cloud-join-phone")
            # a trusted certificate: the service worker (the installable app) works here
            ready = "() => navigator.serviceWorker.ready.then((r) => Boolean(r.active))"
            assert phone.evaluate(ready) is True
            assert hosts == {ch.host}, hosts  # the phone away never tried the LAN
            assert otp not in ch.server.log()

            # the admin at home sees Bob online, on the cloud path, without reload
            bob = row_of(admin, "Bob")
            expect(bob.get_by_text("Online")).to_be_visible(timeout=3000)
            expect(bob.locator("td.path-cell")).to_have_text("Cloud", timeout=3000)
            assert not admin_problems and not problems, admin_problems + problems
        finally:
            away.close()
            at_home.close()
    assert ZONE in ch.host
