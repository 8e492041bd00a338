"""The page follows the policy (issue 13): a page loaded locally with ``local_and_cloud``
moves its API and live channel to the cloud name when the house's Wi-Fi dies and comes
back when it returns; ``local`` never touches the cloud, ``cloud`` never the LAN; a page
on another origin cannot use the API nor the live channel (docs/cloud-browser.md).

Real processes: ``domogate cloud serve``, ``domogate server`` behind a forwarder (the
Wi-Fi, ``tests/support/cloudhouse.py``), Debian's chromium mapping ``*.home.test`` to the
relay and accepting the server's own key (no ``ignore_https_errors``)."""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright import sync_api
from playwright.sync_api import expect

from tests.support.browser import ADMIN, CHROMIUM, DESKTOP, login_admin, watch_console
from tests.support.cloudhouse import CloudHouse, chromium_args

LIGHT = "Living room light"
NOT_SENT = "Not connected; nothing was sent."

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is needed")


@dataclass
class Tab:
    page: Any
    sockets: list[Any] = field(default_factory=list)  # every WebSocket the page opened
    hosts: list[str] = field(default_factory=list)  # host:port of every request it made
    problems: list[str] = field(default_factory=list)

    def until(self, condition: Any, what: str, timeout: float) -> None:
        """Wait for ``condition()`` while Playwright delivers the page's events (its sync
        API only does so inside its own calls)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.page.wait_for_timeout(50)

    def live_url(self) -> str:
        """The URL of the page's live channel now (the last one opened and not closed)."""
        open_ = [ws for ws in self.sockets if not ws.is_closed()]
        return str(open_[-1].url) if open_ else ""


@contextmanager
def chromium(ch: CloudHouse) -> Iterator[Tab]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(ch))
        try:
            context = browser.new_context(viewport=DESKTOP, locale="en-US")
            context.set_default_timeout(10_000)
            page = context.new_page()
            tab = Tab(page)
            tab.problems = watch_console(page)
            page.on("websocket", lambda ws: tab.sockets.append(ws))
            page.on("request", lambda r: tab.hosts.append(urlsplit(r.url).netloc))
            yield tab
        finally:
            browser.close()


@pytest.fixture
def house(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[CloudHouse]:
    policy = getattr(request, "param", "local_and_cloud")
    ch = CloudHouse.start(tmp_path, policy=policy)
    try:
        yield ch
    finally:
        ch.stop()


def _admin(ch: CloudHouse) -> httpx.Client:
    """The admin's API on the server's own port (not through the Wi-Fi that gets cut)."""
    c = ch.server.http()
    c.headers["Authorization"] = f"Bearer {ch.house.admin_token()}"
    return c


def _light_state(ch: CloudHouse) -> Any:
    with _admin(ch) as c:
        return c.get("/api/states").json()["states"]["living-light"]


def _live_light(page: Any) -> Any:
    """The light's switch, once the page holds its state from the live channel."""
    light = page.get_by_role("switch", name=LIGHT)
    expect(light).to_have_attribute("aria-checked", "false")
    expect(light).not_to_have_class(re.compile(r"\bunknown\b"))
    return light


def _cloud_host(ch: CloudHouse) -> str:
    return urlsplit(ch.cloud_url).netloc


def test_a_local_page_moves_to_the_cloud_and_back_and_revoking_it_signs_it_out(
    house: CloudHouse,
) -> None:
    ch = house
    with chromium(ch) as tab:
        page = tab.page
        login_admin(page, ch.local_url)
        light = _live_light(page)
        local_ws = f"wss://{urlsplit(ch.local_url).netloc}/api/ws"
        cloud_ws = f"wss://{_cloud_host(ch)}/api/ws"
        assert tab.live_url() == local_ws

        # The Wi-Fi dies; the switch is operated at once (during the switch).
        ch.local.cut()
        cut_at = time.monotonic()
        light.click()
        # Polled by the page itself (every frame), not by expect's widening intervals.
        page.wait_for_function(
            '(name) => document.querySelector(`[role=switch][aria-label="${name}"]`)'
            ".getAttribute('aria-checked') === 'true'",
            arg=LIGHT,
            polling="raf",
            timeout=5_000,
        )
        took = time.monotonic() - cut_at
        assert took < 2.0, f"the command took {took:.2f} s to come back through the cloud"
        assert tab.live_url() == cloud_ws
        assert _light_state(ch)["on"] is True
        expect(page.get_by_role("dialog")).to_have_count(0)  # no popup
        expect(page.get_by_text(NOT_SENT)).to_have_count(0)

        # The Wi-Fi comes back: the page goes back to local (and closes the cloud channel).
        ch.local.restore()
        restored_at = time.monotonic()
        tab.until(lambda: tab.live_url() == local_ws, "the page back on local", 30)
        assert time.monotonic() - restored_at < 30
        tab.until(
            lambda: all(ws.is_closed() for ws in tab.sockets if ws.url == cloud_ws),
            "the cloud channel closed",
            5,
        )
        light.click()
        expect(light).to_have_attribute("aria-checked", "false")

        # Away again; the admin revokes this browser's device: its page is signed out
        # through the relay within a second.
        ch.local.cut()
        tab.until(lambda: tab.live_url() == cloud_ws, "the page on the cloud", 5)
        expect(light).to_be_visible()
        with _admin(ch) as c:
            clients = c.get("/api/clients").json()["clients"]
            alice = next(cl for cl in clients if cl["name"] == ADMIN)
            on_cloud = [d for d in alice["devices"] if d["online"] and d["path"] == "cloud"]
            assert len(on_cloud) == 1, alice["devices"]
            r = c.delete(f"/api/clients/{alice['id']}/devices/{on_cloud[0]['id']}")
            assert r.status_code in (200, 204), r.text
        expect(page.get_by_role("dialog", name="Authentication")).to_be_visible(timeout=1_000)
        assert not tab.problems, tab.problems


def test_a_command_that_cannot_go_anywhere_says_it_was_not_sent(house: CloudHouse) -> None:
    ch = house
    with chromium(ch) as tab:
        page = tab.page
        login_admin(page, ch.local_url)
        light = _live_light(page)
        ch.cloud.stop()  # no cloud either: the switch cannot happen
        ch.local.cut()
        expect(page.get_by_text("Connection lost — reconnecting…")).to_be_visible(timeout=5_000)
        light.click()
        status = page.locator("article", has=light).get_by_role("status")
        expect(status).to_have_text(NOT_SENT, timeout=5_000)
        expect(light).to_have_attribute("aria-checked", "false")
        assert _light_state(ch).get("on") is not True
        ch.local.restore()  # back home: the page reconnects by itself
        expect(page.get_by_text("Connection lost — reconnecting…")).to_be_hidden(timeout=20_000)
        light.click()
        expect(light).to_have_attribute("aria-checked", "true")


@pytest.mark.parametrize("house", ["local"], indirect=True)
def test_policy_local_never_touches_the_cloud(house: CloudHouse) -> None:
    ch = house
    with chromium(ch) as tab:
        page = tab.page
        login_admin(page, ch.local_url)
        light = _live_light(page)
        ch.local.cut()
        expect(page.get_by_text("Connection lost — reconnecting…")).to_be_visible(timeout=5_000)
        ch.local.restore()
        expect(page.get_by_text("Connection lost — reconnecting…")).to_be_hidden(timeout=20_000)
        light.click()
        expect(light).to_have_attribute("aria-checked", "true")
        assert _cloud_host(ch) not in tab.hosts, tab.hosts
        assert all(_cloud_host(ch) not in ws.url for ws in tab.sockets)


@pytest.mark.parametrize("house", ["cloud"], indirect=True)
def test_policy_cloud_on_the_cloud_origin_never_touches_the_lan(house: CloudHouse) -> None:
    ch = house
    with chromium(ch) as tab:
        page = tab.page
        login_admin(page, ch.cloud_url)
        light = page.get_by_role("switch", name=LIGHT)
        light.click()
        expect(light).to_have_attribute("aria-checked", "true")
        assert set(tab.hosts) == {_cloud_host(ch)}, set(tab.hosts)
        assert tab.live_url() == f"wss://{_cloud_host(ch)}/api/ws"
        assert not tab.problems, tab.problems


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def _stranger_site(house_url: str) -> Iterator[str]:
    """A page on another origin (http://127.0.0.3:PORT) that tries the house's API and
    live channel, and writes what happened into its title."""
    ws_url = house_url.replace("https://", "wss://") + "/api/ws"
    script = f"""
      const out = {{}};
      fetch("{house_url}/api/info").then(() => out.fetch = "ok", () => out.fetch = "failed")
        .then(() => new Promise((done) => {{
          const ws = new WebSocket("{ws_url}");
          ws.onopen = () => {{ out.ws = "open"; done(); }};
          ws.onerror = () => {{ out.ws = "failed"; done(); }};
        }}))
        .then(() => document.title = JSON.stringify(out));
    """
    handler = type("Page", (_Page,), {"body": f"<!doctype html><script>{script}</script>".encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.3", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.3:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("house", ["local"], indirect=True)
def test_a_page_on_another_origin_cannot_use_the_api_nor_the_live_channel(
    house: CloudHouse,
) -> None:
    ch = house
    with _stranger_site(ch.local_url) as stranger, chromium(ch) as tab:
        tab.page.goto(stranger + "/")
        expect(tab.page).to_have_title('{"fetch":"failed","ws":"failed"}')
    # Without a browser's CORS in the way, the server's own answer is visible: refused.
    verify = ch.server.ssl_context()
    with httpx.Client(base_url=ch.local_url, verify=verify, timeout=10) as c:
        r = c.get("/api/info", headers={"Origin": stranger})
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_refused"
        assert c.get("/api/info").status_code == 200  # no Origin: the Python client
    assert f"from origin '{stranger}'" in ch.server.log()
