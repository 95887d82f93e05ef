"""No 503 while Redis is healthy (issue 18, section 1): the API's connections to Redis are
bounded pools that requests wait for, /metrics reads thousands of queues in a few round
trips, and long polls have their own cap, past which the answer is 429, not 503."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from system.client import Client
from system.core.submission import TaskRequest
from system.redis_server import RedisServer

from .conftest import running_api

QUEUES = 2000
SUBMITS = 200
LONG_POLLS = 200  # over the cap below: the rest are refused with 429
MAX_LONG_POLLS = 150
ENV = {
    "TASKQ_API__METRICS_CACHE_SECONDS": "1",  # the default
    "TASKQ_API__MAX_LONG_POLLS": str(MAX_LONG_POLLS),
    "TASKQ_API__MAX_QUEUES": str(QUEUES + 10),
}


@pytest.fixture(scope="module")
def loaded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """An API on its own Redis holding 2,000 queues, one queued task in each."""
    log = tmp_path_factory.mktemp("pools") / "api.log"
    with RedisServer() as server, running_api(server.url, log, ENV) as url:
        with Client(server.url) as client:
            subs = client.submit_many([TaskRequest("echo", queue=f"q{i}") for i in range(QUEUES)])
        yield url, [s.id for s in subs]


async def _load(url: str, task_ids: list[str]) -> tuple[Counter[int], Counter[int], list[int]]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        scraping = True

        async def scrape() -> list[int]:
            codes = []
            while scraping:
                codes.append((await http.get("/metrics")).status_code)
            return codes

        async def submit(i: int) -> int:
            task = {"task_type": "echo", "queue": f"q{i % QUEUES}"}
            r = await http.post("/tasks/", json=task)
            assert r.status_code == 202, r.text
            return r.status_code

        async def long_poll(task_id: str) -> int:
            r = await http.get(f"/tasks/{task_id}/result", params={"wait": 3})
            assert r.status_code != 503, r.text
            if r.status_code == 429:
                assert "long polls" in r.text and r.headers["retry-after"], r.text
            return r.status_code

        scrapers = [asyncio.create_task(scrape()) for _ in range(2)]
        await asyncio.sleep(0.5)
        polls = [asyncio.create_task(long_poll(t)) for t in task_ids[:LONG_POLLS]]
        await asyncio.sleep(0.5)  # the polls are waiting now
        submits = await asyncio.gather(*(submit(i) for i in range(SUBMITS)))
        poll_codes = await asyncio.gather(*polls)
        scraping = False
        scrapes = [c for s in await asyncio.gather(*scrapers) for c in s]
    return Counter(submits), Counter(poll_codes), scrapes


@pytest.mark.slow
def test_no_503_under_load_while_redis_is_healthy(loaded_api: tuple[str, list[str]]) -> None:
    url, task_ids = loaded_api
    start = time.monotonic()
    submits, polls, scrapes = asyncio.run(_load(url, task_ids))
    assert submits == Counter({202: SUBMITS}), submits
    assert set(polls) <= {200, 429}, polls
    assert polls[200] >= MAX_LONG_POLLS * 0.9, polls  # the cap is what refused, not Redis
    assert scrapes and set(scrapes) == {200}, Counter(scrapes)
    metrics = httpx.get(f"{url}/metrics").text
    assert "taskq_redis_up 1.0" in metrics
    assert metrics.count("taskq_queue_depth{") >= QUEUES  # every queue was read
    assert time.monotonic() - start < 60


def test_get_queues_lists_thousands_of_queues(loaded_api: tuple[str, list[str]]) -> None:
    """(Its round trips are counted in tests/system/test_client.py: a few per 250 queues.)"""
    url, _ = loaded_api
    queues = httpx.get(f"{url}/queues", timeout=30)
    assert queues.status_code == 200
    depths = {q["name"]: q["depth"]["queued"] for q in queues.json()}
    assert all(depths[f"q{i}"] >= 1 for i in range(QUEUES))


def test_a_request_waits_for_a_free_connection(tmp_path: Path) -> None:
    """Two connections for requests, forty concurrent requests: all are served, and the
    API never held more than its two (plus the test's own)."""
    env = {"TASKQ_API__REDIS_CONNECTIONS": "2"}
    with RedisServer() as server, running_api(server.url, tmp_path / "api.log", env) as url:

        async def burst() -> Counter[int]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                task = {"task_type": "echo", "queue": "burst"}
                rs = await asyncio.gather(*(http.post("/tasks/", json=task) for _ in range(40)))
            return Counter(r.status_code for r in rs)

        assert asyncio.run(burst()) == Counter({202: 40})
        with redis.Redis.from_url(server.url) as r:
            assert r.info("clients")["connected_clients"] <= 3


def test_metrics_reuse_a_recent_read(redis_server: RedisServer, tmp_path: Path) -> None:
    env = {"TASKQ_API__METRICS_CACHE_SECONDS": "30"}
    with running_api(redis_server.url, tmp_path / "api.log", env) as url:
        before = httpx.get(f"{url}/metrics").text
        queue = "cached" + str(time.monotonic_ns())
        assert httpx.post(f"{url}/tasks/", json={"task_type": "echo", "queue": queue}).is_success
        after = httpx.get(f"{url}/metrics").text
        # The queue gauges were read before the task existed (30 s cache); this process's
        # own counters are live.
        assert f'taskq_queue_depth{{queue="{queue}"' not in after
        assert f'taskq_tasks_submitted_total{{queue="{queue}"' in after
        assert "taskq_redis_up 1.0" in before and "taskq_redis_up 1.0" in after
