"""The web console at ``/ui``: static files (HTML, JavaScript modules, CSS) that call the
JSON endpoints from the browser.

The files hold no data, so they load without an API key (their paths are in
``OPEN_PATHS``); every data call the page makes carries the key as a Bearer header.
Everything is served from ``system/api/console/`` inside the package: no CDN, and the
Content-Security-Policy lets the page talk to this origin only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import RedirectResponse

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
PREFIX = "/ui"
INDEX = "index.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Scripts, styles and requests from this origin only; no inline script, no framing.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag) on each load: an upgrade shows at once
}


def _read_assets() -> dict[str, tuple[bytes, str]]:
    """Relative path -> (content, media type) of every servable file, read once."""
    assets = {}
    for path in sorted(CONSOLE_DIR.rglob("*")):
        if path.is_file() and path.suffix in MEDIA_TYPES:
            name = path.relative_to(CONSOLE_DIR).as_posix()
            assets[name] = (path.read_bytes(), MEDIA_TYPES[path.suffix])
    return assets


ASSETS = _read_assets()
# What the API lets through without a key (the files, never data).
OPEN_PATHS = frozenset({PREFIX, f"{PREFIX}/", *(f"{PREFIX}/{name}" for name in ASSETS)})

router = APIRouter(include_in_schema=False)


@router.get(PREFIX)
async def console_root() -> RedirectResponse:
    # Relative, so the console also works behind a proxy that serves the API under a path.
    return RedirectResponse("ui/", status_code=308)


@router.get(f"{PREFIX}/")
async def console_index() -> Response:
    return _asset(INDEX)


@router.get(PREFIX + "/{name:path}")
async def console_asset(name: str) -> Response:
    return _asset(name)


def _asset(name: str) -> Response:
    if name not in ASSETS:  # only the files found at start: no path is ever joined
        raise HTTPException(404, "Not Found")
    content, media_type = ASSETS[name]
    return Response(content, media_type=media_type, headers=HEADERS)
