"""The circuit breaker's scripts against a real Redis, with explicit clock values: the
closed / open / half-open transitions, and deferring a claimed task."""

from __future__ import annotations

import time

from system.client import Client
from system.core import ops
from system.core.keys import queue_keys
from system.core.task import TaskState

T = "guarded"
RULES = ops.BreakerRules(window_ms=10_000, min_calls=4, failure_ratio=0.5, probes=2, open_ms=5_000)


def acquire(client: Client, queue: str, at: int) -> ops.Admission:
    return client.run(ops.breaker_acquire(queue, T, at, RULES.open_ms, RULES.probes))


def record(client: Client, queue: str, at: int, ok: bool) -> str:
    return client.run(ops.breaker_record(queue, T, at, ok, RULES))


def test_opens_at_min_calls_with_enough_failures(client: Client, queue_name: str) -> None:
    t = 1_000_000
    assert acquire(client, queue_name, t) == ops.Admission(True, "closed", 0)
    # Three failures: a ratio of 1, but fewer than min_calls outcomes.
    assert [record(client, queue_name, t + i, False) for i in range(3)] == ["closed"] * 3
    assert record(client, queue_name, t + 3, False) == "open"
    denied = acquire(client, queue_name, t + 5)
    assert denied == ops.Admission(False, "open", t + 3 + RULES.open_ms)
    # Outcomes of tasks that started before it opened change nothing.
    assert record(client, queue_name, t + 6, True) == "open"
    (status,) = client.breakers(queue_name)
    assert (status.task_type, status.state, status.opened_ms, status.opens) == (
        T,
        "open",
        t + 3,
        1,
    )


def test_opens_when_the_failure_ratio_reaches_the_threshold(
    client: Client, queue_name: str
) -> None:
    t = 1_000_000
    outcomes = [True, True, True, False, False]  # 2 of 5 failed: 40 %
    assert {record(client, queue_name, t + i, ok) for i, ok in enumerate(outcomes)} == {"closed"}
    assert record(client, queue_name, t + 5, False) == "open"  # 3 of 6: 50 %


def test_window_restarts_so_old_failures_do_not_count(client: Client, queue_name: str) -> None:
    t = 1_000_000
    for i in range(3):
        record(client, queue_name, t + i, False)
    later = t + RULES.window_ms
    # A new window: one failure among few calls does not open it.
    assert record(client, queue_name, later, False) == "closed"
    assert [record(client, queue_name, later + i, True) for i in range(1, 4)] == ["closed"] * 3


def test_low_failure_ratio_keeps_it_closed(client: Client, queue_name: str) -> None:
    t = 1_000_000
    outcomes = [True, False, True, True, False, True, True, True]  # 25 % fail
    assert {record(client, queue_name, t + i, ok) for i, ok in enumerate(outcomes)} == {"closed"}


def open_breaker(client: Client, queue: str, at: int) -> None:
    for i in range(RULES.min_calls):
        record(client, queue, at + i, False)
    assert acquire(client, queue, at + RULES.min_calls).state == "open"


def test_half_open_admits_probes_and_their_successes_close_it(
    client: Client, queue_name: str
) -> None:
    t = 1_000_000
    open_breaker(client, queue_name, t)
    opened = t + RULES.min_calls - 1
    after = opened + RULES.open_ms
    assert not acquire(client, queue_name, after - 1).allowed
    probes = [acquire(client, queue_name, after + i) for i in range(3)]
    assert [(a.allowed, a.state) for a in probes] == [
        (True, "half_open"),
        (True, "half_open"),
        (False, "half_open"),  # only `probes` at once
    ]
    assert probes[2].retry_at_ms > after
    assert record(client, queue_name, after + 10, True) == "half_open"
    assert record(client, queue_name, after + 11, True) == "closed"
    assert acquire(client, queue_name, after + 12) == ops.Admission(True, "closed", 0)
    # Closed again with a fresh window: one failure does not reopen it.
    assert record(client, queue_name, after + 13, False) == "closed"


def test_a_failed_probe_reopens_it(client: Client, queue_name: str) -> None:
    t = 1_000_000
    open_breaker(client, queue_name, t)
    after = t + RULES.min_calls - 1 + RULES.open_ms
    assert acquire(client, queue_name, after).allowed
    assert record(client, queue_name, after + 5, False) == "open"
    denied = acquire(client, queue_name, after + 6)
    assert denied == ops.Admission(False, "open", after + 5 + RULES.open_ms)
    assert client.breakers(queue_name)[0].opens == 2


def test_probes_that_never_report_are_replaced(client: Client, queue_name: str) -> None:
    """A probe's worker died: after another open period new probes may start."""
    t = 1_000_000
    open_breaker(client, queue_name, t)
    after = t + RULES.min_calls - 1 + RULES.open_ms
    assert acquire(client, queue_name, after).allowed
    assert acquire(client, queue_name, after + 1).allowed
    assert not acquire(client, queue_name, after + 2).allowed
    assert acquire(client, queue_name, after + RULES.open_ms).allowed


def test_defer_hands_the_task_back_without_counting_an_attempt(
    client: Client, queue_name: str
) -> None:
    sub = client.submit(T, {"n": 1}, queue=queue_name)
    now = int(time.time() * 1000)
    (task,) = client.run(ops.claim(queue_name, now, 10_000, 1, "w-test"))
    assert task.attempt == 1
    until = now + 60_000
    assert client.run(ops.defer(task.id, str(int(task.token) + 1), until)) == -1  # stale
    assert client.run(ops.defer(task.id, task.token, until)) == 1
    rec = client.get(sub.id)
    assert rec.state is TaskState.SCHEDULED and rec.attempts == 0 and rec.worker is None
    k = queue_keys(queue_name)
    assert client.redis.zscore(k.scheduled, sub.id) == until
    assert client.redis.zscore(k.running, sub.id) is None
    assert client.stats(queue_name).counters["deferred"] == 1
    assert client.run(ops.defer(task.id, task.token, until)) == -1  # no longer running
