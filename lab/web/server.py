"""An ASGI application served on a free loopback port: in a background thread while a run
goes (``BackgroundServer``), or in the foreground for ``lab serve`` (``serve_forever``).

Loopback only: the lab's pages show a run's data and accept no key, so they are never
offered to another host.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    return sock


def _config(app: Any) -> uvicorn.Config:
    # asyncio, not uvloop: the server may share the process with the run's own loop.
    return uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", loop="asyncio"
    )


class BackgroundServer:
    """``app`` on ``http://127.0.0.1:PORT`` (a free port unless one is given) in a daemon
    thread, until ``stop``."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._sock = _bind(port)
        self.url = f"http://{HOST}:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(_config(app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="lab-web"
        )

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the lab's web server did not start at {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5.0)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(app: Any, port: int, announce: Any) -> None:
    """Serve in the foreground until Ctrl-C; ``announce(url)`` once the socket is bound."""
    sock = _bind(port)
    announce(f"http://{HOST}:{sock.getsockname()[1]}")
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
