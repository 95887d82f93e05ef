"""A downstream service for the lab's handlers to call, which the lab can make fail.

``Dependency`` serves ``GET /call?ms=N`` on a free loopback port from a thread of the lab
process: it waits N ms and answers 200, or, while it is down (``dependency_down``
events), 503 after the down delay (0: at once; a second or so looks like a timing-out
service, which ties up the caller's worker slots). Every call is logged with its time
and status, so a run can show what reached the dependency: for instance that calls stop
while a circuit breaker is open. The handler that calls it is
``lab.faults.handlers.dependency_call``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

URL_VARIABLE = "TASKQ_LAB_DEPENDENCY_URL"  # how worker processes find it
MAX_DELAY_MS = 10_000


@dataclass(frozen=True, slots=True)
class Call:
    at_s: float  # epoch seconds
    status: int


class Dependency:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._down = threading.Event()
        self._down_delay_ms = 0
        self._lock = threading.Lock()
        dependency = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = dependency._serve(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # the call log replaces it
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Dependency:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set_down(self, down: bool, delay_ms: int = 0) -> None:
        self._down_delay_ms = delay_ms
        if down:
            self._down.set()
        else:
            self._down.clear()

    def _serve(self, path: str) -> int:
        parts = urlsplit(path)
        if parts.path != "/call":
            return 404
        if self._down.is_set():
            time.sleep(min(self._down_delay_ms, MAX_DELAY_MS) / 1000)
            status = 503
        else:
            try:
                ms = int(parse_qs(parts.query).get("ms", ["0"])[0])
            except ValueError:
                return 400
            time.sleep(min(max(ms, 0), MAX_DELAY_MS) / 1000)
            status = 200
        with self._lock:
            self.calls.append(Call(time.time(), status))
        return status
