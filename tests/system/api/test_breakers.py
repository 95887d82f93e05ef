"""GET /breakers over real HTTP: the circuit breakers of every queue in one answer, the
same as each queue's own list, against real workers whose breakers open."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from system.redis_server import RedisServer
from system.supervisor import TaskqProcess

from .conftest import running_api

SYSTEM_TESTS = Path(__file__).resolve().parents[1]  # where worker_handlers lives


@pytest.fixture(scope="module")
def handlers_api(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """An API that accepts the test handlers' task types (guarded_call has a breaker)."""
    pythonpath = os.pathsep.join(filter(None, [str(SYSTEM_TESTS), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": pythonpath, "TEST_REDIS_URL": redis_server.url}
    log = tmp_path_factory.mktemp("breakers-api") / "api.log"
    with (
        running_api(redis_server.url, log, env, ["--import", "worker_handlers"]) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_breakers_of_every_queue(
    handlers_api: httpx.Client,
    queue_name: str,
    start_worker: Callable[..., TaskqProcess],
    redis_client: redis.Redis,
) -> None:
    down, up = queue_name, f"{queue_name}b"
    redis_client.set(f"test:{down}:down", 1)  # guarded_call fails in this queue only
    for queue in (down, up):
        for i in range(3):
            task = {"task_type": "guarded_call", "payload": i, "queue": queue, "max_retries": 0}
            assert handlers_api.post("/tasks/", json=task).status_code == 202
    long = "600"  # seconds: nothing moves on while the test looks
    start_worker(
        "-Q",
        f"{down},{up}",
        TASKQ_BREAKER__MIN_CALLS="2",
        TASKQ_BREAKER__OPEN_SECONDS=long,
        TASKQ_BREAKER__WINDOW_SECONDS=long,
    )

    def mine() -> list[dict[str, object]]:
        everyone = handlers_api.get("/breakers").json()
        return [b for b in everyone if b["queue"] in (down, up)]

    deadline = time.monotonic() + 20
    while [(b["queue"], b["state"]) for b in mine()] != [(down, "open"), (up, "closed")]:
        assert time.monotonic() < deadline, mine()
        time.sleep(0.05)
    deadline = time.monotonic() + 20
    while mine()[1]["window_calls"] != 3:  # the healthy queue's three successes
        assert time.monotonic() < deadline, mine()
        time.sleep(0.05)
    opened, closed = mine()
    assert opened["task_type"] == "guarded_call" and opened["opens"] == 1 and opened["opened_at"]
    assert (closed["window_failures"], closed["opens"], closed["opened_at"]) == (0, 0, None)
    # The same as each queue's own list, with the queue named.
    for b in (opened, closed):
        (own,) = handlers_api.get(f"/queues/{b['queue']}/breakers").json()
        assert own == {k: v for k, v in b.items() if k != "queue"}
