"""Run the proxy server in a background thread with its own event loop (for the lab and
tests): ``with ToxiproxyServer(seed=1) as server: server.url``.

The HTTP API (uvicorn) and every proxy share that one loop, so the API's changes reach
open connections without locks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType

import uvicorn

from lab.toxiproxy.server import ProxyCollection, create_app
from system.redis_server import free_port

START_TIMEOUT_SECONDS = 10.0


class ToxiproxyServer:
    def __init__(self, port: int = 0, *, seed: int | str = 0) -> None:
        self.port = port or free_port()
        self.collection = ProxyCollection(seed)
        config = uvicorn.Config(
            create_app(self.collection),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ToxiproxyServer:
        self._thread = threading.Thread(target=self._run, name="toxiproxy", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the toxiproxy server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        async def serve() -> None:
            try:
                await self._server.serve()
            finally:
                await self.collection.close()

        asyncio.run(serve())

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(START_TIMEOUT_SECONDS)
        self._thread = None

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
