from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from system.client import Client
from system.config import QueueSettings
from system.core import ops
from system.core.task import TaskRecord
from system.redis_server import RedisServer
from system.supervisor import TaskqProcess


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A Redis of the test's own, for tests that stop, pause or restart it."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        if server.running:
            os.kill(server.pid, signal.SIGCONT)  # in case the test left it stopped
        server.stop()


@pytest.fixture
def client(redis_url: str) -> Iterator[Client]:
    with Client(redis_url, QueueSettings(result_ttl_seconds=600)) as c:
        yield c


# Short leases and intervals so that recovery paths take fractions of a second in tests.
FAST_ENV = {
    "TASKQ_QUEUE__LEASE_SECONDS": "1",
    "TASKQ_QUEUE__RETRY_BACKOFF_SECONDS": "0.2",
    "TASKQ_WORKER__POLL_INTERVAL_SECONDS": "0.2",
    "TASKQ_WORKER__REAP_INTERVAL_SECONDS": "0.2",
    "TASKQ_WORKER__LEADER_LEASE_SECONDS": "1",
    "TASKQ_WORKER__SCHEDULER_INTERVAL_SECONDS": "0.05",
    "TASKQ_WORKER__PROCESSES": "1",
}
HERE = Path(__file__).parent


@pytest.fixture
def start_worker(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., TaskqProcess]]:
    """Start real ``taskq worker`` processes (with the test handlers importable); all are
    stopped after the test."""
    procs: list[TaskqProcess] = []
    pythonpath = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))

    def start(*args: str, **env: str) -> TaskqProcess:
        w = TaskqProcess(
            redis_url,
            ["--import", "worker_handlers", *args],
            env={**FAST_ENV, "TEST_REDIS_URL": redis_url, "PYTHONPATH": pythonpath, **env},
            log_path=tmp_path / f"worker-{len(procs)}.log",
        )
        procs.append(w)
        return w

    yield start
    for w in procs:
        w.stop(timeout_seconds=5)


def lead(client: Client, queue: str) -> int:
    """Take the queue's maintenance lease, as a worker does, and return its fencing token:
    promote and reap accept only the current leader's."""
    token = client.run(ops.lead(queue, "test-leader", 60_000))
    assert token > 0, "another leader holds the queue"
    return token


def wait_until_finished(
    client: Client, ids: Sequence[str], timeout_seconds: float = 30
) -> list[TaskRecord]:
    """Poll until every task is terminal; fail the test with a count of the rest."""
    deadline = time.monotonic() + timeout_seconds
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        pending = [i for i in pending if not client.get(i).terminal]
        if pending:
            time.sleep(0.1)
    assert not pending, (
        f"{len(pending)} of {len(ids)} tasks unfinished, e.g. {client.get(pending[0])}"
    )
    return [client.get(i) for i in ids]
