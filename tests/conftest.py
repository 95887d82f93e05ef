"""Shared fixtures: one real Redis per test session, isolated per test by queue name.

Tests never FLUSH: each uses its own ``queue_name`` (and keys under it), so tests can run
in parallel against one server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from system.redis_server import RedisBinaryNotFoundError, RedisServer
from tests.redis_cluster import LocalCluster


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=False)
    yield client
    client.close()


@pytest.fixture
def queue_name() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """A 3-master cluster; skipped without redis-server/redis-cli, except on CI (CI=true
    installs them, so a missing binary there is a failure, not a silent skip)."""
    cluster = LocalCluster()
    try:
        cluster.start()
    except RedisBinaryNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {exc}")
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()
