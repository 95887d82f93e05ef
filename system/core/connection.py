"""Redis connections from a URL, and the start-up check of the server's configuration.

``redis://`` and ``rediss://`` (TLS) URLs may carry a user and password (ACL). A
``redis+cluster://`` or ``rediss+cluster://`` URL names one node of a Redis Cluster.

``SyncRedis`` and ``AsyncRedis`` name the handles that are passed around: a single
server's client or a cluster's, which offer the same commands.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from system.core.errors import UnsafeRedisConfig

SAFE_EVICTION_POLICIES = frozenset({"noeviction"})
SyncRedis: TypeAlias = redis.Redis | redis.cluster.RedisCluster
AsyncRedis: TypeAlias = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
CLUSTER_TYPES = (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)


REDACTED = "***"


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``: the one way a Redis URL is
    printed or logged. Anything that does not parse as a URL is hidden whole."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{user}:{REDACTED}@{host}{port}"
    except ValueError:
        return REDACTED
    return urlunsplit(parts._replace(netloc=netloc))


def _split_cluster(url: str) -> tuple[str, bool]:
    scheme, sep, rest = url.partition("://")
    if sep and scheme.endswith("+cluster"):
        return f"{scheme.removesuffix('+cluster')}://{rest}", True
    return url, False


def connect(url: str, **kwargs: Any) -> SyncRedis:
    """A sync client (``redis.Redis`` or ``redis.cluster.RedisCluster``), strings decoded."""
    plain, cluster = _split_cluster(url)
    if cluster:
        return redis.cluster.RedisCluster.from_url(plain, decode_responses=True, **kwargs)
    return redis.Redis.from_url(plain, decode_responses=True, **kwargs)


class PoolExhausted(redis.ConnectionError):
    """Every connection of a bounded pool stayed in use for the whole wait: this process
    is busy, which says nothing about whether Redis can be reached."""

    def __init__(self, size: int, wait_seconds: float) -> None:
        super().__init__(f"all {size} connections to Redis stayed in use for {wait_seconds:g} s")
        self.size = size
        self.wait_seconds = wait_seconds


class _WaitingPool(redis.asyncio.BlockingConnectionPool):
    """At most ``max_connections``; a caller waits up to ``timeout`` seconds for one."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except redis.ConnectionError as exc:
            if isinstance(exc.__cause__, asyncio.TimeoutError):
                raise PoolExhausted(self.max_connections, self.timeout or 0) from exc
            raise


def connect_async(
    url: str,
    *,
    max_connections: int | None = None,
    wait_seconds: float | None = None,
    **kwargs: Any,
) -> AsyncRedis:
    """An asyncio client (``redis.asyncio.Redis`` or its cluster twin), strings decoded.
    ``max_connections`` bounds its pool; with ``wait_seconds`` a command waits that long
    for a free connection (``PoolExhausted`` after), instead of failing at once."""
    plain, cluster = _split_cluster(url)
    if max_connections is not None:
        kwargs["max_connections"] = max_connections
    if cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(plain, decode_responses=True, **kwargs)
    if wait_seconds is not None:
        waiting = _WaitingPool.from_url(
            plain, decode_responses=True, timeout=wait_seconds, **kwargs
        )
        client = redis.asyncio.Redis(connection_pool=waiting)
        client.auto_close_connection_pool = True
    else:
        client = redis.asyncio.Redis.from_url(plain, decode_responses=True, **kwargs)
    pool = client.connection_pool
    pool.connection_class = _reset_aware(pool.connection_class)  # TCP, TLS or unix socket
    return client


class _ResetAware:
    """uvloop refuses a write on a transport the peer has reset ("the handler is closed")
    with a RuntimeError, which redis-py lets through after dropping the connection. It is
    a lost connection: raised as one, callers treat it as such (the API answers 503, a
    worker rides it out instead of dying) and the client's retry takes a new connection."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except RuntimeError as exc:
            if "handler is closed" not in str(exc):
                raise
            raise redis.ConnectionError(f"Connection reset by peer ({exc})") from exc


_RESET_AWARE: dict[type, type] = {}


def _reset_aware(connection_class: type) -> type:
    if connection_class not in _RESET_AWARE:
        name = f"ResetAware{connection_class.__name__}"
        _RESET_AWARE[connection_class] = type(name, (_ResetAware, connection_class), {})
    return _RESET_AWARE[connection_class]


def _policies(info: dict[str, Any]) -> list[str]:
    # A cluster client answers INFO with one dict per node.
    if "maxmemory_policy" in info:
        return [str(info["maxmemory_policy"])]
    return [str(v["maxmemory_policy"]) for v in info.values() if isinstance(v, dict)]


def check_policies(policies: list[str]) -> None:
    unsafe = sorted({p for p in policies if p not in SAFE_EVICTION_POLICIES})
    if unsafe:
        raise UnsafeRedisConfig(
            f"Redis maxmemory-policy is {', '.join(unsafe)}: under memory pressure Redis would "
            "evict keys, and an evicted task key is a lost task. Set "
            "'maxmemory-policy noeviction' (Redis then refuses writes when full, and taskq "
            "reports the error instead of silently losing work)."
        )


def check_redis(client: SyncRedis) -> None:
    """Refuse a Redis whose eviction policy could delete task keys."""
    check_policies(_policies(client.info("memory")))


async def check_redis_async(client: AsyncRedis) -> None:
    check_policies(_policies(await client.info("memory")))
