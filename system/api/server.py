"""Serving the API with uvicorn, with deadlines on what a client may hold open.

uvicorn closes a keep-alive connection idle between requests (``idle_timeout_seconds``),
but waits for a request's headers as long as they keep trickling in, and for a new
connection that sends nothing forever: a client sending a header a byte at a time was
served after 36 s. ``HeaderDeadline`` closes a connection whose request headers are not
complete ``header_timeout_seconds`` after it opened or after its previous response (408).
The body has its own deadline (``system.api.limits.BodyLimit``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from system.config import ApiSettings

REDIS_URL_ENV = "TASKQ_REDIS_URL"

_TOO_SLOW = b"the request headers did not arrive in time\n"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW)
)


class HeaderDeadline(HttpToolsProtocol):
    """httptools protocol with a deadline on each request's headers."""

    header_timeout_seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(
                self.header_timeout_seconds, self._headers_too_slow
            )

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMED_OUT)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers (the idle timeout may close it first)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def serve(app: FastAPI, settings: ApiSettings, host: str, port: int, log_level: str) -> None:
    """Run ``app`` until interrupted, with the settings' connection deadlines (one
    process; ``serve_processes`` for several)."""
    protocol = type(
        "TaskqHttp", (HeaderDeadline,), {"header_timeout_seconds": settings.header_timeout_seconds}
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=protocol,
        timeout_keep_alive=max(1, round(settings.idle_timeout_seconds)),
    )


# Several processes (``api.workers``): uvicorn's supervisor starts them (spawned, not
# forked: each builds its own app, event loop and Redis pools) on one listening socket
# and restarts one that dies. Each child builds the app from the environment the parent
# prepared: the settings as ``Settings()`` reads them (the Redis URL put there by the
# parent), the handler modules in IMPORTS_ENV, and PROMETHEUS_MULTIPROC_DIR so that
# /metrics adds up every process's counters (``system.worker.exposition``).
IMPORTS_ENV = "TASKQ_API_IMPORT_MODULES"
LOG_LEVEL_ENV = "TASKQ_API_LOG_LEVEL"


def app_from_environment() -> FastAPI:
    """The app of one of several server processes (uvicorn's factory)."""
    import system.handlers  # noqa: F401  (the API validates payloads of the built-ins)
    from system.api.app import create_app
    from system.config import Settings
    from system.redis_server import die_with_parent
    from system.registry import import_modules

    die_with_parent(os.getppid())  # a supervisor killed outright leaves no server behind
    logging.basicConfig(  # as ``taskq api`` sets it up in one process
        level=os.environ.get(LOG_LEVEL_ENV, "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s",
    )
    settings = Settings()
    import_modules([m for m in os.environ.get(IMPORTS_ENV, "").split(",") if m])
    HeaderDeadline.header_timeout_seconds = settings.api.header_timeout_seconds
    return create_app(settings)


def serve_processes(
    redis_url: str,
    imports: Sequence[str],
    settings: ApiSettings,
    host: str,
    port: int,
    log_level: str,
) -> None:
    """Run ``settings.workers`` server processes on one port until interrupted. The
    caller must have called ``system.worker.exposition.use_multiprocess_dir`` before
    importing prometheus_client."""
    os.environ[REDIS_URL_ENV] = redis_url
    os.environ[IMPORTS_ENV] = ",".join(imports)
    os.environ[LOG_LEVEL_ENV] = log_level
    uvicorn.run(
        "system.api.server:app_from_environment",
        factory=True,
        workers=settings.workers,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=HeaderDeadline,
        timeout_keep_alive=max(1, round(settings.idle_timeout_seconds)),
    )
