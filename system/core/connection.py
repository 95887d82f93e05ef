"""Redis connections from a URL, and the start-up check of the server's configuration.

``redis://`` and ``rediss://`` (TLS) URLs may carry a user and password (ACL). A
``redis+cluster://`` or ``rediss+cluster://`` URL names one node of a Redis Cluster.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from system.core.errors import UnsafeRedisConfig

SAFE_EVICTION_POLICIES = frozenset({"noeviction"})


def _split_cluster(url: str) -> tuple[str, bool]:
    scheme, sep, rest = url.partition("://")
    if sep and scheme.endswith("+cluster"):
        return f"{scheme.removesuffix('+cluster')}://{rest}", True
    return url, False


def connect(url: str, **kwargs: Any) -> Any:
    """A sync client (``redis.Redis`` or ``redis.cluster.RedisCluster``), strings decoded."""
    plain, cluster = _split_cluster(url)
    if cluster:
        return redis.cluster.RedisCluster.from_url(plain, decode_responses=True, **kwargs)
    return redis.Redis.from_url(plain, decode_responses=True, **kwargs)


def connect_async(url: str, **kwargs: Any) -> Any:
    """An asyncio client (``redis.asyncio.Redis`` or its cluster twin), strings decoded."""
    plain, cluster = _split_cluster(url)
    if cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(plain, decode_responses=True, **kwargs)
    return redis.asyncio.Redis.from_url(plain, decode_responses=True, **kwargs)


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


def check_redis(client: Any) -> None:
    """Refuse a Redis whose eviction policy could delete task keys."""
    check_policies(_policies(client.info("memory")))


async def check_redis_async(client: Any) -> None:
    check_policies(_policies(await client.info("memory")))
