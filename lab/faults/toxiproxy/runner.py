"""Run the proxy server: in a background thread with its own event loop
(``ToxiproxyServer``, for tests: ``with ToxiproxyServer(seed=1) as server: server.url``), or
as a child process (``ToxiproxyProcess``, for lab runs: the proxies then do not compete
with the load generator for the lab's interpreter).

Either way the HTTP API (uvicorn) and every proxy share one loop, so the API's changes reach
open connections without locks.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx
import uvicorn

from lab.faults.toxiproxy.server import ProxyCollection, create_app
from system.redis_server import die_with_parent, free_port

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


class ToxiproxyProcess:
    """``python -m lab.faults.toxiproxy`` as a child in its own process group that dies with us."""

    def __init__(self, *, seed: int | str = 0, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.seed = seed
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ToxiproxyProcess:
        cmd = [
            sys.executable,
            "-m",
            "lab.faults.toxiproxy",
            "--port",
            str(self.port),
            "--seed",
            str(self.seed),
            "--log-level",
            "warning",
        ]
        parent = os.getpid()
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdout=log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=lambda: die_with_parent(parent),
            )
        finally:
            if log is not None:
                log.close()  # the child has its own copy
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{self.url}/version", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the toxiproxy process did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(START_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
