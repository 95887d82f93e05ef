"""``lab serve [RESULTS]``: past runs and sweeps in a browser, on a loopback port.

``GET /`` the page (``static/browse.html``; its views are ``#/``, ``#/result/KEY``,
``#/compare?key=A&key=B``) · ``GET /static/NAME`` its files · ``GET /api/results`` every
run and sweep found, with its headline numbers · ``GET /api/report?key=KEY`` a result's
report (HTML, the one ``lab report`` writes) · ``GET /api/compare?key=A&key=B[...]`` the
report ``lab compare`` writes for those results, in that order.

Answers are conditional (ETag / 304, as the console's). A key the scan did not list is a
404 that names it; fewer than two results to compare is a 400.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from lab.report.folder import NotAResultsFolder
from lab.web.assets import asset
from lab.web.browse import Result, Results
from system.api.conditional import ConditionalGet

# A report is the lab's own HTML (every text escaped when written): inline style and
# embedded figures, never a script, nothing from elsewhere.
REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MAX_COMPARED = 20


class Unknown(LookupError):
    pass


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": "Bad request" if status < 500 else "Error", "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def serve_app(results: Results) -> ASGIApp:
    def lookup(keys: list[str]) -> list[Result]:
        found = results.scan()
        missing = [k for k in keys if k not in found]
        if missing:
            raise Unknown(f"no run or sweep named {missing[0]!r} under {results.root}")
        return [found[k] for k in keys]

    async def page(request: Request) -> Response:
        return asset("browse.html")

    async def static(request: Request) -> Response:
        return asset(request.path_params["name"])

    def listing(request: Request) -> Response:
        entries = [r.listing() for r in results.scan().values()]
        return JSONResponse({"root": str(results.root), "results": entries})

    def report(request: Request) -> Response:
        keys = request.query_params.getlist("key")
        if len(keys) != 1:
            return _problem(400, "give one result: ?key=PATH (a key from /api/results)")
        try:
            (result,) = lookup(keys)
            path = results.report(result)
        except Unknown as exc:
            return _problem(404, str(exc))
        except (NotAResultsFolder, OSError, ValueError, KeyError) as exc:
            return _problem(422, f"{keys[0]}: its report could not be made: {exc}")
        return Response(path.read_bytes(), media_type="text/html", headers=REPORT_HEADERS)

    def compare(request: Request) -> Response:
        keys = request.query_params.getlist("key")
        if not 2 <= len(keys) <= MAX_COMPARED:
            return _problem(400, f"compare 2 to {MAX_COMPARED} results: ?key=A&key=B")
        if len(set(keys)) != len(keys):
            return _problem(400, "a result appears twice in the comparison")
        try:
            path = results.compare(lookup(keys))
        except Unknown as exc:
            return _problem(404, str(exc))
        except (NotAResultsFolder, OSError, ValueError, KeyError) as exc:
            return _problem(422, f"these results could not be compared: {exc}")
        return Response(path.read_bytes(), media_type="text/html", headers=REPORT_HEADERS)

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/results", listing),
        Route("/api/report", report),
        Route("/api/compare", compare),
    ]
    return ConditionalGet(Starlette(routes=routes))


def make_app(root: Path, cache: Path) -> ASGIApp:
    return serve_app(Results(root, cache))
