"""The live page of a run: ``lab run`` serves it on a free loopback port while the run goes
(``--no-live`` turns it off) and prints its URL beside the progress line.

``GET /`` the page · ``GET /static/NAME`` its files · ``GET /api/run`` the run's document
(``RunFeed.document``), conditional: the page polls every second with the ETag of the
last answer, and an unchanged document is a 304 without a body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from lab.scenario.model import Scenario
from lab.web.assets import asset
from lab.web.feed import RunFeed
from lab.web.server import BackgroundServer
from system.api.conditional import ConditionalGet

NO_STORE = {"Cache-Control": "no-cache"}
# An open page polls every second: this lets it read the verdict before the server goes.
FINAL_READ_SECONDS = 3.0


def live_app(feed: RunFeed) -> ASGIApp:
    async def page(request: Request) -> Response:
        return asset("live.html")

    async def static(request: Request) -> Response:
        return asset(request.path_params["name"])

    def document(request: Request) -> Response:  # sync: Starlette runs it in a thread
        return JSONResponse(feed.document(), headers=NO_STORE)

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/run", document),
    ]
    return ConditionalGet(Starlette(routes=routes))


@contextlib.contextmanager
def live_page(scenario: Scenario, run_dir: Path, enabled: bool = True) -> Iterator[RunFeed | None]:
    """The run's feed, served while the block runs (None when disabled)."""
    if not enabled:
        yield None
        return
    feed = RunFeed(scenario, run_dir)
    server = BackgroundServer(live_app(feed)).start()
    feed.url = f"{server.url}/"
    try:
        yield feed
    finally:
        feed.wait_until_seen(FINAL_READ_SECONDS)
        server.stop()
