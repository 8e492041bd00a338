"""The web client's files: media types, caching, security headers, catalogues."""

from __future__ import annotations

import json
import re
from importlib import resources

from tests.support.live import Live

STATIC = resources.files("domogate.web").joinpath("static")


# Scripts, styles, connections and everything else from the server itself only; no
# framing, no <base>, no inline code (the policy names no 'unsafe-…' source).
STRICT_CSP = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "frame-ancestors": {"'none'"},
    "base-uri": {"'none'"},
    "form-action": {"'self'"},
}


def assert_strict_csp(csp: str, where: str) -> None:
    directives: dict[str, set[str]] = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    for name, sources in STRICT_CSP.items():
        assert directives.get(name) == sources, (where, name, csp)
    # connect-src: the page's own origin, and the server's other own origins by name
    # (web/origins.py), never a wildcard or a scheme alone.
    connect = directives.get("connect-src", set())
    assert "'self'" in connect, (where, csp)
    for source in connect - {"'self'"}:
        assert re.fullmatch(r"(https|wss|http|ws)://[a-z0-9.\-\[\]:]+", source), (where, csp)
    assert directives.get("img-src", set()) <= {"'self'", "data:", "blob:"}, (where, csp)
    assert set(directives) <= set(STRICT_CSP) | {"img-src", "connect-src"}, (where, csp)


async def test_pages_and_assets_have_their_media_types_and_headers(live: Live) -> None:
    expected = {
        "/": "text/html",
        "/join": "text/html",
        "/maintenance": "text/html",
        "/manifest.webmanifest": "application/manifest+json",
        "/sw.js": "text/javascript",
        "/static/js/main.js": "text/javascript",
        "/static/css/app.css": "text/css",
        "/static/i18n/fr.json": "application/json",
        "/static/icons/icon.svg": "image/svg+xml",
        "/static/icons/icon-192.png": "image/png",
    }
    for path, media in expected.items():
        r = await live.http.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(media), (path, r.headers["content-type"])
        assert r.headers["cache-control"] == "no-cache"
        assert_strict_csp(r.headers["content-security-policy"], path)
        assert r.headers["x-content-type-options"] == "nosniff"
        again = await live.http.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


async def test_unknown_files_are_404_and_html_only_at_its_routes(live: Live) -> None:
    for path in ("/static/nope.js", "/static/index.html", "/static/../app.py", "/x"):
        r = await live.http.get(path)
        assert r.status_code == 404, path


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    i18n = STATIC.joinpath("i18n")
    languages = json.loads(i18n.joinpath("index.json").read_text("utf-8"))
    assert {"en", "fr"} <= set(languages)
    english = json.loads(i18n.joinpath("en.json").read_text("utf-8"))
    for lang in languages:
        other = json.loads(i18n.joinpath(f"{lang}.json").read_text("utf-8"))
        assert set(other) == set(english), (lang, set(other) ^ set(english))
        for key, text in english.items():
            wanted = set(re.findall(r"\{(\w+)\}", text))
            assert set(re.findall(r"\{(\w+)\}", other[key])) == wanted, (lang, key)


def test_every_key_the_scripts_use_is_in_the_catalogue() -> None:
    english = json.loads(STATIC.joinpath("i18n", "en.json").read_text("utf-8"))
    js = STATIC.joinpath("js")
    used: set[str] = set()
    for entry in js.iterdir():
        source = entry.read_text("utf-8")
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source, entry.name
        assert 'localStorage.setItem("domogate.token' not in source
        used |= set(re.findall(r"\bt\(\"([a-z_]+\.[a-zA-Z_]+)\"", source))
    assert used, "no t(...) calls found"
    assert used <= set(english), used - set(english)


def test_manifest_icons_exist() -> None:
    manifest = json.loads(STATIC.joinpath("manifest.webmanifest").read_text("utf-8"))
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    for icon in manifest["icons"]:
        rel = icon["src"].removeprefix("/static/")
        assert STATIC.joinpath(rel).is_file(), icon["src"]


async def test_every_file_the_service_worker_caches_is_served(live: Live) -> None:
    source = STATIC.joinpath("sw.js").read_text("utf-8")
    shell = re.findall(r'^\s*"(/[^"]*)",?$', source, flags=re.MULTILINE)
    assert "/" in shell and "/static/js/main.js" in shell
    scripts = {f"/static/js/{e.name}" for e in STATIC.joinpath("js").iterdir()}
    assert scripts - {"/static/js/maintenance.js"} <= set(shell)  # the client works offline
    for path in shell:
        assert (await live.http.get(path)).status_code == 200, path


async def test_api_answers_and_errors_carry_the_strict_csp(live: Live) -> None:
    for path in ("/api/info", "/maintenance", "/api/nope"):
        r = await live.http.get(path)
        assert_strict_csp(r.headers["content-security-policy"], path)
