"""Automatic connection off (issue 13, item 4): the page asks Local or Cloud before it
connects, shows which answers, and then uses the path chosen — its API and its live
channel — and asks again at the next start. With automatic connection on, it asks
nothing (the failover tests start that way).

Real processes (``tests/support/cloudhouse.py``): a cloud, the demo house behind the
Wi-Fi forwarder; Debian's chromium mapping ``*.home.test`` to the relay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright import sync_api

from tests.support.browser import ADMIN, ADMIN_PASSWORD, CHROMIUM, watch_console
from tests.support.cloudhouse import CloudHouse, chromium_args

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium")]
expect = sync_api.expect
PATH_JS = "async () => (await import('/static/js/state.js')).state.path"
TITLE = "How do you want to connect?"


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[CloudHouse]:
    house = CloudHouse.start(tmp_path, system={"automatic_connection": False})
    try:
        yield house
    finally:
        house.stop()


def _choose(page: Any, path: str, *, local: str, cloud: str) -> None:
    dialog = page.get_by_role("dialog", name=TITLE)
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Local")).to_have_accessible_description(local)
    expect(dialog.get_by_role("button", name="Cloud")).to_have_accessible_description(cloud)
    dialog.get_by_role("button", name=path).click()
    expect(dialog).to_have_count(0)


def _sign_in(page: Any) -> None:
    popup = page.get_by_role("dialog", name="Authentication")
    popup.get_by_label("Username", exact=True).fill(ADMIN)
    popup.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    popup.get_by_role("button", name="Connect").click()
    expect(popup).to_be_hidden()


def test_with_automatic_connection_off_the_page_asks_and_uses_the_path_chosen(
    ch: CloudHouse,
) -> None:
    cloud_host = urlsplit(ch.cloud_url).netloc
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(ch))
        try:
            page = browser.new_context().new_page()
            problems = watch_console(page)
            sockets: list[Any] = []
            page.on("websocket", lambda ws: sockets.append(ws))
            page.goto(ch.local_url + "/")
            _choose(page, "Cloud", local="Answers", cloud="Answers")
            _sign_in(page)
            expect(page.get_by_role("switch", name="Living room light")).to_be_visible()
            assert page.evaluate(PATH_JS)["current"] == "cloud"
            assert sockets and urlsplit(sockets[-1].url).netloc == cloud_host
            expect(page.locator("header .path-chip")).to_match_aria_snapshot(
                '- status: "Connection: Cloud"'
            )

            # the next start asks again; this browser's device key (kept by the local
            # origin) signs in by itself on the path chosen, on the cloud as at home
            for path, host in (("Cloud", cloud_host), ("Local", urlsplit(ch.local_url).netloc)):
                sockets.clear()
                page.reload()
                _choose(page, path, local="Answers", cloud="Answers")
                expect(page.get_by_role("switch", name="Living room light")).to_be_visible()
                expect(page.get_by_role("dialog", name="Authentication")).to_have_count(0)
                assert page.evaluate(PATH_JS)["current"] == path.lower()
                assert sockets and urlsplit(sockets[-1].url).netloc == host
            assert problems == [], problems
        finally:
            browser.close()


def test_a_join_link_naming_a_foreign_origin_does_not_send_the_page_there(
    ch: CloudHouse,
) -> None:
    """The link's own c= is not trusted: with the choice made, the page goes to that origin
    only when it answers as this same server (here it names a stranger's site)."""
    server_id = ch.info()["server_id"]
    otp = "ABCDE-FGHJK"
    fragment = f"v=1&s={server_id}&otp={otp}&l={ch.local_url}&c=https://stranger.example"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(ch))
        try:
            page = browser.new_context().new_page()
            visited: list[str] = []
            page.on("framenavigated", lambda frame: visited.append(frame.url))
            page.goto(f"{ch.local_url}/join#{fragment}")
            _choose(page, "Cloud", local="Answers", cloud="Does not answer")
            popup = page.get_by_role("dialog", name="Authentication")
            expect(popup.get_by_role("textbox", name="One-time password")).to_have_value(otp)
            assert all(urlsplit(u).netloc == urlsplit(ch.local_url).netloc for u in visited)
        finally:
            browser.close()
