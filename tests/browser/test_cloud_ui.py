"""The web client away from home, as a person sees it (issue 13): the path chip in the
header, the Local/Cloud choice, Manage clients showing each device's path live, and the app
installable on the cloud origin with its own offline page.

A real ``domogate cloud serve`` and a real server with the demo house (``CloudHouse``), one
for the module; Debian's chromium through the real relay, with only this server's own key
accepted (no ``ignore_https_errors``). Screenshots go to ``build/screenshots/cloud-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from tests.support.browser import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    add_user,
    login_admin,
    open_manage_clients,
    row_of,
    shot,
    watch_console,
)
from tests.support.cloudhouse import CloudHouse, chromium_args

pytestmark = pytest.mark.slow

expect = sync_api.expect


@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudHouse]:
    house = CloudHouse.start(tmp_path_factory.mktemp("cloud-ui"))
    try:
        yield house
    finally:
        house.stop()


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw: Any, ch: CloudHouse) -> Iterator[Any]:
    b = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(ch))
    yield b
    b.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def make(viewport: dict[str, int] | None = None, locale: str = "en-US") -> Any:
        ctx = browser.new_context(viewport=viewport or DESKTOP, locale=locale, color_scheme="light")
        ctx.set_default_timeout(10_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def set_path(page: Any, current: str | None, switching: str | None) -> None:
    """What the failover code does: state.path through state.js's setPath — once the
    live channel has said hello (its own setPath would otherwise come after ours)."""
    page.wait_for_function(
        "() => import('/static/js/state.js')"
        ".then((m) => (window.__livePath = m.state.path.current)) && window.__livePath"
    )
    page.evaluate(
        "async ([current, switching]) =>"
        " (await import('/static/js/state.js')).setPath({ current, switching })",
        [current, switching],
    )


def chip(page: Any) -> Any:
    return page.locator("header .path-chip")


def expect_chip(page: Any, spoken: str, shown: str | None = None) -> None:
    """What a screen reader reads in the chip (on every screen), and what is on screen:
    the long form on a desktop, the short one on a phone (default: the same as spoken,
    without its "Connection: " label)."""
    label, value = spoken.split(":", 1)
    expect(chip(page)).to_match_aria_snapshot(f'- status: "{label}: {value.strip()}"')
    phone = page.viewport_size["width"] < 640
    visible = chip(page).locator(".path-short" if phone else ".path-long")
    expect(visible).to_have_text(shown or value.strip())
    if not phone:
        expect(chip(page).locator(".path-short")).to_be_hidden()


# --- the path chip ------------------------------------------------------------------------


@pytest.mark.parametrize(("viewport", "size"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_header_shows_local_cloud_and_a_switch_under_way(
    ch: CloudHouse, new_context: Any, viewport: dict[str, int], size: str
) -> None:
    page = new_context(viewport).new_page()
    problems = watch_console(page)
    login_admin(page, ch.local_url)
    local = chip(page)
    expect(local).to_be_visible()
    expect(local).to_have_attribute("role", "status")
    # Words, not colour alone: what a screen reader reads out.
    expect_chip(page, "Connection: Local")
    shot(page, f"cloud-chip-local-{size}")

    set_path(page, "local", "cloud")
    expect(local).to_have_class("path-chip switching")
    expect_chip(page, "Connection: Switching to Cloud…", "Cloud…" if size == "phone" else None)
    shot(page, f"cloud-chip-switching-{size}")
    set_path(page, "cloud", None)
    expect_chip(page, "Connection: Cloud")

    away = new_context(viewport).new_page()
    login_admin(away, ch.cloud_url)
    expect_chip(away, "Connection: Cloud")
    expect(chip(away)).to_have_class("path-chip cloud")
    shot(away, f"cloud-chip-cloud-{size}")
    assert problems == []


def test_the_chip_speaks_french_and_is_hidden_while_signed_out(
    ch: CloudHouse, new_context: Any
) -> None:
    page = new_context(PHONE, locale="fr-FR").new_page()
    page.goto(ch.cloud_url + "/")
    popup = page.get_by_role("dialog", name="Authentification")
    expect(popup).to_be_visible()
    expect(chip(page)).to_have_count(0)  # no header before signing in
    popup.get_by_label("Nom d’utilisateur", exact=True).fill("alice")
    popup.get_by_label("Mot de passe", exact=True).fill("alice-password")
    popup.get_by_role("button", name="Se connecter").click()
    expect(popup).to_be_hidden()
    expect_chip(page, "Connexion\u00a0: Cloud")
    set_path(page, "cloud", "local")
    expect_chip(page, "Connexion\u00a0: Bascule vers Local…", "Local…")
    shot(page, "cloud-chip-switching-phone-fr")
    page.set_viewport_size(DESKTOP)
    expect_chip(page, "Connexion\u00a0: Bascule vers Local…")
    shot(page, "cloud-chip-switching-desktop-fr")


# --- the Local/Cloud choice ---------------------------------------------------------------

START_CHOICE = """async () => {
  const { choosePath } = await import('/static/js/pathchoice.js');
  const answer = {};
  const promise = (name) => new Promise((resolve) => { answer[name] = resolve; });
  window.__answer = answer;
  window.__choice = choosePath({ local: promise('local'), cloud: promise('cloud') });
}"""


def open_choice(page: Any, url: str) -> Any:
    """The choice on a page of the client that has not signed in yet (the auth popup is
    closed first: with automatic connection off, the choice comes before it)."""
    page.goto(url + "/")
    auth = page.locator("dialog.auth-dialog")
    expect(auth).to_be_visible()
    auth.evaluate("(d) => d.close()")
    page.evaluate(START_CHOICE)
    return page.locator("dialog.path-dialog")


@pytest.mark.parametrize(("viewport", "size"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_choice_shows_which_path_answers_and_resolves_with_the_one_chosen(
    ch: CloudHouse, new_context: Any, viewport: dict[str, int], size: str
) -> None:
    page = new_context(viewport).new_page()
    problems = watch_console(page)
    choice = open_choice(page, ch.local_url)
    dialog = page.get_by_role("dialog", name="How do you want to connect?")
    expect(dialog).to_be_visible()
    local = dialog.get_by_role("button", name="Local")
    cloud = dialog.get_by_role("button", name="Cloud")
    expect(local).to_have_accessible_description("Checking…")
    expect(cloud).to_have_accessible_description("Checking…")
    expect(local).to_be_focused()
    shot(page, f"cloud-choice-checking-{size}")

    page.evaluate("() => { window.__answer.local(false); window.__answer.cloud(true); }")
    expect(local).to_have_accessible_description("Does not answer")
    expect(cloud).to_have_accessible_description("Answers")
    expect(local).to_be_enabled()  # still selectable, only marked
    shot(page, f"cloud-choice-{size}")

    page.keyboard.press("Escape")  # a path must be chosen
    expect(choice).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(cloud).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("() => window.__choice") == "cloud"
    expect(choice).to_have_count(0)

    # The path that does not answer can be chosen too.
    page.evaluate(START_CHOICE)
    page.evaluate("() => { window.__answer.local(false); window.__answer.cloud(true); }")
    page.get_by_role("dialog", name="How do you want to connect?").get_by_role(
        "button", name="Local"
    ).click()
    assert page.evaluate("() => window.__choice") == "local"
    assert problems == []


def test_the_choice_in_french_with_only_one_path_offered(ch: CloudHouse, new_context: Any) -> None:
    page = new_context(PHONE, locale="fr-FR").new_page()
    open_choice(page, ch.cloud_url)
    dialog = page.get_by_role("dialog", name="Comment vous connecter ?")
    page.evaluate("() => { window.__answer.local(true); window.__answer.cloud(false); }")
    expect(dialog.get_by_role("button", name="Local")).to_have_accessible_description("Répond")
    expect(dialog.get_by_role("button", name="Cloud")).to_have_accessible_description(
        "Ne répond pas"
    )
    shot(page, "cloud-choice-phone-fr")
    dialog.get_by_role("button", name="Local").click()
    assert page.evaluate("() => window.__choice") == "local"

    page.evaluate(
        "async () => { const { choosePath } = await import('/static/js/pathchoice.js');"
        " window.__choice = choosePath({ local: null, cloud: Promise.resolve(true) }); }"
    )
    dialog = page.get_by_role("dialog", name="Comment vous connecter ?")
    expect(dialog.get_by_role("button")).to_have_count(1)
    expect(dialog.get_by_role("button", name="Cloud")).to_have_accessible_description("Répond")
    dialog.get_by_role("button", name="Cloud").click()
    assert page.evaluate("() => window.__choice") == "cloud"


# --- Manage clients -----------------------------------------------------------------------


def test_manage_clients_shows_a_newcomer_online_on_the_cloud_path_without_reload(
    ch: CloudHouse, new_context: Any
) -> None:
    admin = new_context().new_page()
    problems = watch_console(admin)
    login_admin(admin, ch.local_url)
    open_manage_clients(admin)
    otp = add_user(admin, name="Nadia")
    row = row_of(admin, "Nadia")
    expect(row.locator(".badge")).to_have_text("Pending")
    admin.evaluate("() => { window.__notReloaded = true; }")

    newcomer = new_context(PHONE).new_page()
    newcomer.goto(ch.cloud_url + "/")
    popup = newcomer.get_by_role("dialog", name="Authentication")
    popup.get_by_role("switch", name="One-time password").click()
    popup.get_by_label("One-time password", exact=True).fill(otp)
    popup.get_by_role("button", name="Connect").click()
    expect(popup).to_be_hidden()
    expect_chip(newcomer, "Connection: Cloud")

    expect(row.locator(".badge")).to_have_text("Online")
    expect(row.locator("td.path-cell")).to_have_text("Cloud")
    device = row.locator(".devices li")
    expect(device.get_by_role("img", name="Online")).to_be_visible()
    expect(device.locator(".device-path")).to_have_text("Cloud")
    assert admin.evaluate("() => window.__notReloaded") is True
    shot(admin, "cloud-clients-online-desktop")

    newcomer.context.close()  # the device goes offline; its last path stays shown
    expect(row.locator(".badge")).to_have_text("Offline")
    expect(device.get_by_role("img", name="Offline")).to_be_visible()
    expect(device.locator(".device-path")).to_have_text("Cloud")
    expect(row.locator("td.path-cell")).to_have_text("Cloud")
    assert problems == []


# --- installable away from home -----------------------------------------------------------


def cached_paths(page: Any) -> list[str]:
    paths: list[str] = page.evaluate(
        "async () => { const names = await caches.keys(); const out = [];"
        " for (const n of names) for (const r of await (await caches.open(n)).keys())"
        " out.push(new URL(r.url).pathname); return out; }"
    )
    return paths


def test_installable_on_the_cloud_origin_and_our_page_when_the_house_is_unreachable(
    ch: CloudHouse, pw: Any, tmp_path: Path
) -> None:
    """Last in the module: it stops the cloud. A browser profile of its own on disk (a
    context of the shared browser is incognito, where nothing can be installed)."""
    ctx = pw.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        args=chromium_args(ch),
        viewport=PHONE,
        locale="en-US",
        color_scheme="light",
    )
    try:
        ctx.set_default_timeout(10_000)
        installed_then_offline(ch, ctx)
    finally:
        ctx.close()


def installed_then_offline(ch: CloudHouse, ctx: Any) -> None:
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    problems = watch_console(page)
    page.goto(ch.cloud_url + "/")
    expect(page.get_by_role("dialog", name="Authentication")).to_be_visible()
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == ch.cloud_url + "/"
    cdp = ctx.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    page.wait_for_function(
        "async () => (await caches.keys()).length > 0"
        " && (await (await caches.open((await caches.keys())[0])).keys()).length >= 30"
    )
    cached = set(cached_paths(page))
    assert {"/", "/static/js/pathchoice.js", "/static/js/offline.js"} <= cached, cached

    ch.cloud.stop()  # the house cannot be reached from here any more
    page.reload()
    expect(page.get_by_role("heading", name="Cannot reach the house")).to_be_visible()
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_focused()
    shot(page, "cloud-offline-phone")
    retry.click()
    expect(page.get_by_role("status")).to_have_text("Still no answer from the house.")

    page.evaluate("() => localStorage.setItem('domogate.lang', 'fr')")
    page.reload()
    expect(page.get_by_role("heading", name="Impossible de joindre la maison")).to_be_visible()
    expect(page.get_by_role("button", name="Réessayer")).to_be_visible()
    shot(page, "cloud-offline-phone-fr")
    page.set_viewport_size(DESKTOP)
    shot(page, "cloud-offline-desktop-fr")
    assert problems == []
