"""The benchmark's private Redis: ``system.redis_server.RedisServer`` on a free loopback port.

Persistence off (``--save "" --appendonly no``), a temporary data directory, stopped on
exit whatever happens. The machine's Redis on 6379 is never touched (``check_url``).
Between measurements the harness FLUSHALLs this server, and only this one.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from bench import _proc
from bench.counter import check_url
from system.redis_server import RedisServer, find_redis_binary


def server_version() -> str:
    binary = find_redis_binary()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return f"{binary}: {out.stdout.strip()}"


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(data_dir=None, port=None, appendonly=False)
    server.start()
    try:
        _proc.protect(server.pid)
        check_url(server.url)
        yield server
    finally:
        server.stop()
