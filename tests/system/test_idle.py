"""Idle workers cost almost nothing, and still react at once: they block on wake-up lists
instead of polling, only the leader does the leader's work, and it sleeps until its next
known duty. Real Redis (a private one where commands are counted), real workers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from system.client import Client
from system.core.keys import WORKERS
from system.core.submission import TaskRequest
from system.redis_server import RedisServer
from system.supervisor import TaskqProcess
from system.worker.worker import UNWOKEN_CLAIM_SECONDS

from .conftest import wait_until_finished

StartWorker = Callable[..., TaskqProcess]
BLOCKING = {"BLPOP"}
# The defaults, not the test suite's fast intervals: what an idle worker costs by default.
DEFAULT_INTERVALS = {
    "TASKQ_QUEUE__LEASE_SECONDS": "10",
    "TASKQ_WORKER__POLL_INTERVAL_SECONDS": "1",
    "TASKQ_WORKER__REAP_INTERVAL_SECONDS": "0.5",
    "TASKQ_WORKER__LEADER_LEASE_SECONDS": "2",
    "TASKQ_WORKER__SCHEDULER_INTERVAL_SECONDS": "0.1",
}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private server: MONITOR sees only this test's traffic."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


def _monitor(url: str, seconds: float) -> list[str]:
    """Commands clients sent during ``seconds`` (those run inside scripts left out)."""
    seen: list[str] = []
    stop = threading.Event()

    def monitor() -> None:
        with redis.Redis.from_url(url, decode_responses=True).monitor() as m:  # type: ignore[no-untyped-call]
            while not stop.is_set():
                cmd = m.next_command()
                if cmd.get("client_type") != "lua":
                    seen.append(str(cmd["command"]))

    t = threading.Thread(target=monitor, daemon=True)
    t.start()
    time.sleep(0.3)
    start = len(seen)
    time.sleep(seconds)
    got = seen[start:]
    stop.set()
    redis.Redis.from_url(url).ping()  # unblock the monitor's read
    t.join(5)
    return got


def _count_commands(url: str, seconds: float) -> Counter[str]:
    """Commands clients sent during ``seconds``, by name."""
    return Counter(c.split(" ", 1)[0].upper() for c in _monitor(url, seconds))


def test_idle_workers_block_instead_of_polling(
    redis_url: str, queue_name: str, start_worker: StartWorker
) -> None:
    queues = f"{queue_name}a,{queue_name}b"
    workers = [start_worker("-Q", queues, **DEFAULT_INTERVALS) for _ in range(3)]
    probe = redis.Redis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + 60
    while probe.zcard(WORKERS) < len(workers):  # started and registered
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    time.sleep(3)  # past start-up: a leader chosen, scripts loaded
    seconds = 6.0
    counted = _count_commands(redis_url, seconds)
    non_blocking = sum(n for c, n in counted.items() if c not in BLOCKING)
    per_worker = non_blocking / seconds / len(workers)
    print(f"idle: {per_worker:.2f} non-blocking commands/s per worker; {dict(counted)}")
    # Before blocking waits and a sleeping leader: about 30 per second per worker.
    assert per_worker <= 3.0, counted
    assert all(w.alive() for w in workers)


def test_a_worker_renews_and_asks_for_all_its_leases_in_one_call_per_half_lease(
    redis_url: str, queue_name: str, start_worker: StartWorker
) -> None:
    """Whatever the number of queues: a leader renews all it leads together, the others
    ask for theirs together (before, one call per queue: 3 per second for this leader)."""
    queues = [f"{queue_name}{i}" for i in range(3)]
    workers = [start_worker("-Q", ",".join(queues), **DEFAULT_INTERVALS) for _ in range(2)]
    probe = redis.Redis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + 60
    while probe.zcard(WORKERS) < len(workers):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    time.sleep(3)  # past start-up: leaders chosen
    seconds = 6.0
    calls: Counter[str] = Counter()  # lease calls by candidate
    leads: Counter[str] = Counter()  # queues renewed or asked for, by candidate
    for command in _monitor(redis_url, seconds):
        parts = command.split(" ")
        if parts[0].upper() != "EVALSHA" or not parts[3].endswith(":leader"):
            continue
        n = int(parts[2])
        candidate = parts[3 + n]
        calls[candidate] += 1
        leads[candidate] += n // 3
    print(f"lease calls in {seconds:.0f} s: {dict(calls)}; queues in them: {dict(leads)}")
    assert len(calls) == len(workers), calls
    half_lease = float(DEFAULT_INTERVALS["TASKQ_WORKER__LEADER_LEASE_SECONDS"]) / 2
    # About one call per half lease each (a stray one when a new leader lines up).
    assert all(n <= seconds / half_lease + 2 for n in calls.values()), calls
    assert sum(leads.values()) > sum(calls.values()), "no call covered several queues"
    assert all(w.alive() for w in workers)


def test_idle_leader_promotes_a_delayed_task_on_time(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    start_worker("-Q", queue_name, **DEFAULT_INTERVALS)
    time.sleep(2.5)  # the leader is idle: nothing scheduled, nothing running
    late = []
    for delay in (0.3, 0.05, 1.2):
        sub = client.submit("echo", delay, queue=queue_name, delay_seconds=delay)
        (rec,) = wait_until_finished(client, [sub.id], 10)
        assert rec.started_ms is not None and rec.eligible_ms is not None
        late.append((rec.started_ms - rec.eligible_ms) / 1000)
    print(f"started after due: {[f'{s * 1000:.0f} ms' for s in late]}")
    # Promotion within 100 ms of due, plus a claim round trip; a loaded machine adds more.
    assert max(late) < 0.1 + 0.4, late


def test_resume_wakes_every_idle_worker_it_needs(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    """One wake-up token reaches one worker; each claim that leaves work behind wakes the
    next, so four single-slot workers all start within moments, not a safety-net poll."""
    workers = [start_worker("-Q", queue_name, "-c", "1", **DEFAULT_INTERVALS) for _ in range(4)]
    time.sleep(2)
    client.pause(queue_name)
    reqs = [TaskRequest("count_exec", {"sleep": 3}, queue=queue_name) for _ in range(8)]
    ids = [s.id for s in client.submit_many(reqs)]
    time.sleep(1.5)  # the submit's wake-up tokens are spent on claims of a paused queue
    client.resume(queue_name)
    resumed = time.monotonic()
    deadline = resumed + 20
    while client.stats(queue_name).running < len(workers):
        assert time.monotonic() < deadline, "not every idle worker was woken"
        time.sleep(0.02)
    print(f"resume -> {len(workers)} workers running: {time.monotonic() - resumed:.2f} s")
    # Half the 30 s safety-net claim: only the chain of wake-ups can be this quick (it
    # took 5.6 s once under a load average of 10, so a tighter bound would be flaky).
    assert time.monotonic() - resumed < UNWOKEN_CLAIM_SECONDS / 2
    wait_until_finished(client, ids, 60)


def test_an_idle_worker_starts_a_new_task_at_once(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    """Blocked in BLPOP, not polling: the submit's wake-up token starts the claim."""
    start_worker("-Q", queue_name, **DEFAULT_INTERVALS)
    client.submit("echo", "warm-up", queue=queue_name)
    time.sleep(3)  # idle now: several poll intervals without work
    waits = []
    for i in range(5):
        sub = client.submit("echo", i, queue=queue_name)
        (rec,) = wait_until_finished(client, [sub.id], 10)
        assert rec.started_ms is not None and rec.created_ms is not None
        waits.append((rec.started_ms - rec.created_ms) / 1000)
        time.sleep(1.3)  # into the next BLPOP
    print(f"submit -> started: {[f'{s * 1000:.0f} ms' for s in waits]}")
    # One round trip is well under a millisecond; a poll would show up as hundreds.
    assert sorted(waits)[len(waits) // 2] < 0.1, waits
