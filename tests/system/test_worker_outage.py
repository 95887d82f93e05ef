"""A worker outlives Redis going away: it keeps running through a Redis crash and
restart (and a pause), then records what it held and claims again. Nothing is lost."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from system.client import Client
from system.config import QueueSettings
from system.redis_server import RedisServer
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Overrides the shared fixture: a private server this test may crash and restart,
    with every write on disk before it is acknowledged (AOF always)."""
    with RedisServer(tmp_path / "redis", appendonly=True, appendfsync="always") as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


def test_worker_survives_a_redis_crash_and_a_pause(
    redis_server: RedisServer,
    queue_name: str,
    start_worker: Callable[..., TaskqProcess],
    tmp_path: Path,
) -> None:
    settings = QueueSettings(result_ttl_seconds=600)
    worker = start_worker("-Q", queue_name, "-c", "8")
    with Client(redis_server.url, settings) as client:
        ids = [client.submit("io", {"ms": 300}, queue=queue_name).id for _ in range(16)]
        deadline = time.monotonic() + 10
        while client.stats(queue_name).running == 0:  # the worker holds tasks now
            assert time.monotonic() < deadline
            time.sleep(0.02)
    redis_server.kill()
    time.sleep(1.5)  # longer than the 1 s lease: the held tasks will be redelivered
    assert worker.alive
    redis_server.restart()
    with Client(redis_server.url, settings) as client:
        ids += [client.submit("io", {"ms": 10}, queue=queue_name).id for _ in range(16)]
        os.kill(redis_server.pid, signal.SIGSTOP)  # a hung Redis: commands time out
        time.sleep(1.0)
        os.kill(redis_server.pid, signal.SIGCONT)
        records = wait_until_finished(client, ids, timeout_seconds=60)
        assert {r.state.value for r in records} == {"succeeded"}
        assert worker.alive
        # Work done after the outage: the worker claims again (not only the reaper).
        assert client.stats(queue_name).counters["succeeded"] >= 16
    # Its loops say once that Redis went away and once that it came back, not every
    # round (the maintenance loop runs every 0.05 s here).
    log = (tmp_path / "worker-0.log").read_text()
    assert log.count("maintenance: Redis unavailable") <= 2, log[-3000:]
    assert "maintenance: Redis answers again" in log
