"""The lab pages' static files, read once at import, and the headers they go out with.

Besides its own files (``static/``), the lab serves two of the console's unchanged
(``system/api/console/``): ``dom.js`` (building nodes without innerHTML) and
``console.css`` (the look), so the two sets of pages share them instead of copying.
Requests name a file of this table or get a 404: no path from a request is ever joined.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response

from system.api.routes.console import CONSOLE_DIR, HEADERS, MEDIA_TYPES

STATIC_DIR = Path(__file__).resolve().parent / "static"
SHARED = {"dom.js": CONSOLE_DIR / "js" / "dom.js", "console.css": CONSOLE_DIR / "console.css"}
# The console's policy: this origin only, no inline script. A lab page needs nothing more.
PAGE_HEADERS = dict(HEADERS)


def _read() -> dict[str, tuple[bytes, str]]:
    files = {p.name: p for p in sorted(STATIC_DIR.iterdir()) if p.suffix in MEDIA_TYPES}
    files |= SHARED
    return {name: (path.read_bytes(), MEDIA_TYPES[path.suffix]) for name, path in files.items()}


ASSETS = _read()


def asset(name: str) -> Response:
    """The file ``name`` of the table, or a 404."""
    if name not in ASSETS:
        return Response("Not Found", status_code=404, media_type="text/plain")
    content, media_type = ASSETS[name]
    return Response(content, media_type=media_type, headers=PAGE_HEADERS)
