"""Completion counter shared by every system's no-op task.

Each no-op task, whatever the library, ends by calling one Lua script in the benchmark's
private Redis. The script increments ``bench:done`` and stamps the Redis server clock
(``TIME``) of the first and of the latest completion. Because scripts run one at a time
on the server, "latest" really is the last completion, whichever process made it, and all
timestamps come from a single clock.

The harness resets these keys (FLUSHALL of its private server) before each measurement,
reads them afterwards and asserts that the count equals the number of tasks submitted.

Keys (all under the ``bench:`` prefix, none of which any measured library uses):

- ``bench:done``       integer, completions so far
- ``bench:t_first_us`` integer, Redis server time of the first completion, microseconds
- ``bench:t_last_us``  integer, Redis server time of the latest completion, microseconds
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import redis

if TYPE_CHECKING:  # not imported at run time: keeps a forked RQ work horse's imports light
    import redis.asyncio

#: Environment variable through which worker processes learn the benchmark Redis URL.
URL_ENV = "BENCH_REDIS_URL"

DONE_KEY = "bench:done"
FIRST_KEY = "bench:t_first_us"
LAST_KEY = "bench:t_last_us"
KEYS = (DONE_KEY, FIRST_KEY, LAST_KEY)

#: KEYS[1] counter, KEYS[2] first-completion time (us), KEYS[3] last-completion time (us).
#: Returns the new count.
MARK_DONE_LUA = """
local c = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local us = t[1] .. string.format('%06d', tonumber(t[2]))
if c == 1 then redis.call('SET', KEYS[2], us) end
redis.call('SET', KEYS[3], us)
return c
"""
MARK_DONE_SHA = hashlib.sha1(MARK_DONE_LUA.encode()).hexdigest()


def bench_url() -> str:
    """The benchmark Redis URL from the environment; only a private loopback server."""
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"{URL_ENV} is not set: the benchmark needs its own private Redis URL")
    check_url(url)
    return url


def check_url(url: str) -> None:
    """Refuse a non-loopback Redis or the machine's shared one on 6379."""
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError(f"benchmark Redis must be on loopback, got {url!r}")
    if (parsed.port or 6379) == 6379:
        raise RuntimeError("refusing port 6379: that Redis belongs to the machine")


def mark_done(client: redis.Redis) -> int:
    """Count one completion (sync redis-py client)."""
    try:
        return int(client.evalsha(MARK_DONE_SHA, 3, *KEYS))
    except redis.exceptions.NoScriptError:
        return int(client.eval(MARK_DONE_LUA, 3, *KEYS))


async def mark_done_async(client: redis.asyncio.Redis) -> int:
    """Count one completion (asyncio redis-py client)."""
    try:
        return int(await client.evalsha(MARK_DONE_SHA, 3, *KEYS))
    except redis.exceptions.NoScriptError:
        return int(await client.eval(MARK_DONE_LUA, 3, *KEYS))


_own: dict[int, redis.Redis] = {}


def own_client() -> redis.Redis:
    """A per-process client for tasks whose library hands them no Redis connection (Celery)."""
    pid = os.getpid()
    client = _own.get(pid)
    if client is None:
        _own.clear()
        client = redis.Redis.from_url(bench_url())
        _own[pid] = client
    return client


@dataclass(frozen=True)
class Completions:
    count: int
    first_us: int | None
    last_us: int | None


def read(client: redis.Redis) -> Completions:
    raw: list[Any] = client.mget(*KEYS)
    count, first, last = (int(v) if v is not None else None for v in raw)
    return Completions(count or 0, first, last)


def count(client: redis.Redis) -> int:
    v = client.get(DONE_KEY)
    return int(v) if v is not None else 0


def server_time_us(client: redis.Redis) -> int:
    sec, usec = client.time()
    return int(sec) * 1_000_000 + int(usec)


def load(client: redis.Redis) -> None:
    """Load the script (SCRIPT LOAD) so the first task does not pay an EVAL."""
    sha = client.script_load(MARK_DONE_LUA)
    assert sha == MARK_DONE_SHA, (sha, MARK_DONE_SHA)
