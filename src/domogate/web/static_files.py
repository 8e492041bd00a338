"""The web client's files, served from inside the package (no internet, no Node.js).

Everything under ``web/static/`` is read once when the app is built. Pages (``/``,
``/join``, ``/maintenance``) and the service worker live at the root so that their scope
covers the whole client; the rest is under ``/static/``. Every answer carries an ETag and
``Cache-Control: no-cache``: browsers keep their copy but revalidate it, so a server update
is picked up at the next load without stale scripts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

from fastapi import APIRouter, Request, Response

from domogate.errors import NotFound

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found.update(_walk(entry, name + "/"))
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        media = MEDIA_TYPES.get(suffix)
        if media is None:
            continue  # only known kinds of files are served
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        found[name] = Asset(body, media, etag)
    return found


def load_assets() -> dict[str, Asset]:
    return _walk(resources.files("domogate.web").joinpath("static"))


def _answer(asset: Asset, request: Request) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def static_router() -> APIRouter:
    assets = load_assets()
    r = APIRouter(include_in_schema=False)

    def page(name: str) -> Asset:
        asset = assets.get(name)
        if asset is None:
            raise NotFound(f"The web client file {name} is missing from this installation.")
        return asset

    @r.get("/")
    @r.get("/join")
    async def client(request: Request) -> Response:
        return _answer(page("index.html"), request)

    @r.get("/maintenance")
    async def maintenance(request: Request) -> Response:
        return _answer(page("maintenance.html"), request)

    @r.get("/manifest.webmanifest")
    async def manifest(request: Request) -> Response:
        return _answer(page("manifest.webmanifest"), request)

    @r.get("/sw.js")
    async def service_worker(request: Request) -> Response:
        return _answer(page("sw.js"), request)

    @r.get("/favicon.ico")
    async def favicon(request: Request) -> Response:
        return _answer(page("icons/icon.svg"), request)

    @r.get("/static/{path:path}")
    async def static(path: str, request: Request) -> Response:
        asset = assets.get(path)
        if asset is None or path.endswith(".html"):
            raise NotFound(f"No file {path!r} in the web client.")
        return _answer(asset, request)

    return r
