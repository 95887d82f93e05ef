from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from system.redis_server import RedisServer, free_port

# Tests read /metrics right after a change: no cache; and every test has queues of its
# own in one shared Redis: no bound on their number. Tests of either set their own.
TEST_DEFAULTS = {"TASKQ_API__METRICS_CACHE_SECONDS": "0", "TASKQ_API__MAX_QUEUES": "1000000"}


@contextmanager
def running_api(
    redis_url: str, log: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[str]:
    """A real ``taskq api`` process (uvicorn) on a free loopback port; yields its URL.
    ``args``: more options of ``taskq api`` (e.g. ``--import`` a handler module)."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "system",
                "api",
                "--redis-url",
                redis_url,
                "--port",
                str(port),
                "--log-level",
                "warning",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**TEST_DEFAULTS, **os.environ, **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start:\n{Path(log).read_text()}")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def api_url(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_api(redis_server.url, tmp_path_factory.mktemp("api") / "api.log") as url:
        yield url


@pytest.fixture
def http(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c
