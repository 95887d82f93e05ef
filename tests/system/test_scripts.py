"""Each Lua script against a real Redis: the transitions of the task state machine."""

from __future__ import annotations

import time

import pytest

from system.client import Client
from system.core import ops
from system.core.errors import InvalidSubmission, TaskNotFound
from system.core.keys import queue_keys
from system.core.ops import KEEP_ALL, Completion, Retention
from system.core.submission import TaskRequest, build_task
from system.core.task import TaskState

from .conftest import lead

LEASE_MS = 10_000


def now() -> int:
    return int(time.time() * 1000)


def claim(client: Client, queue: str, n: int = 10, at: int | None = None) -> list[ops.ClaimedTask]:
    return client.run(ops.claim(queue, at or now(), LEASE_MS, n, "w-test"))


def test_submit_creates_a_queued_task(client: Client, queue_name: str) -> None:
    sub = client.submit("echo", {"x": 1}, queue=queue_name, priority=3, max_retries=2)
    assert sub.created and sub.state == "queued"
    assert sub.id.startswith(queue_name + ".")
    rec = client.get(sub.id)
    assert rec.state is TaskState.QUEUED
    assert (rec.payload, rec.priority, rec.max_retries, rec.attempts) == ({"x": 1}, 3, 2, 0)
    assert client.stats(queue_name).queued == 1


def test_priorities_run_highest_first_and_fifo_within(client: Client, queue_name: str) -> None:
    order = [(0, "a"), (5, "b"), (0, "c"), (9, "d"), (5, "e")]
    for prio, tag in order:
        client.submit("echo", tag, queue=queue_name, priority=prio)
    got = [t.payload_json for t in claim(client, queue_name, 10)]
    assert got == ['"d"', '"b"', '"e"', '"a"', '"c"']


def test_bulk_submit_keeps_input_order_and_writes_all(client: Client, queue_name: str) -> None:
    reqs = [TaskRequest("echo", i, queue=queue_name) for i in range(2500)]
    subs = client.submit_many(reqs)
    assert [s.created for s in subs] == [True] * 2500
    assert len({s.id for s in subs}) == 2500
    assert client.get(subs[1234].id).payload == 1234
    assert client.stats(queue_name).queued == 2500


def test_bulk_submit_validates_everything_before_writing(client: Client, queue_name: str) -> None:
    reqs = [
        TaskRequest("echo", 1, queue=queue_name),
        TaskRequest("echo", 2, queue=queue_name, priority=999),
    ]
    with pytest.raises(InvalidSubmission, match="priority"):
        client.submit_many(reqs)
    assert client.stats(queue_name).queued == 0


def test_idempotency_key_returns_the_first_task(client: Client, queue_name: str) -> None:
    first = client.submit("echo", 1, queue=queue_name, idempotency_key="order-42")
    again = client.submit("echo", 2, queue=queue_name, idempotency_key="order-42")
    bulk = client.submit_many(
        [TaskRequest("echo", 3, queue=queue_name, idempotency_key="order-42")]
    )
    assert first.created and not again.created and not bulk[0].created
    assert again.id == first.id == bulk[0].id
    assert client.stats(queue_name).queued == 1
    assert client.get(first.id).payload == 1


def test_claim_sets_lease_token_attempt(client: Client, queue_name: str) -> None:
    ids = [
        s.id
        for s in client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(3)])
    ]
    t0 = now()
    tasks = claim(client, queue_name, 2, at=t0)
    assert [t.id for t in tasks] == ids[:2]
    assert len({t.token for t in tasks}) == 2
    assert all(t.attempt == 1 for t in tasks)
    running = client.redis.zrange(queue_keys(queue_name).running, 0, -1, withscores=True)
    assert {m: int(s) for m, s in running} == {ids[0]: t0 + LEASE_MS, ids[1]: t0 + LEASE_MS}
    rec = client.get(ids[0])
    assert rec.state is TaskState.RUNNING and rec.worker == "w-test" and rec.started_ms == t0


def test_complete_applies_and_rejects_stale_token(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name)
    (t,) = claim(client, queue_name)
    stale = Completion(t.id, str(int(t.token) + 1000), "succeeded", b'"forged"')
    good = Completion(t.id, t.token, "succeeded", b'{"ok": true}')
    assert client.run(ops.complete(queue_name, now(), Retention(ttl_ms=60_000), [stale])) == [-1]
    assert client.get(t.id).state is TaskState.RUNNING
    assert client.run(ops.complete(queue_name, now(), Retention(ttl_ms=60_000), [good])) == [1]
    rec = client.get(t.id)
    assert rec.state is TaskState.SUCCEEDED and rec.result == {"ok": True}
    assert 0 < client.redis.pttl(queue_keys(queue_name).task(t.id)) <= 60_000
    # A second completion of a finished task is stale too: never applied twice.
    assert client.run(ops.complete(queue_name, now(), Retention(ttl_ms=60_000), [good])) == [-1]
    assert client.stats(queue_name).counters["stale_rejected"] == 2


def test_fail_retries_with_delay_then_dead_letters(client: Client, queue_name: str) -> None:
    sub = client.submit("echo", 1, queue=queue_name, max_retries=1)
    (t,) = claim(client, queue_name)
    assert client.run(ops.fail(t.id, t.token, now(), "E: x", "tb1", 5000, KEEP_ALL)) == 1
    rec = client.get(t.id)
    assert rec.state is TaskState.SCHEDULED and rec.error == "E: x"
    assert client.stats(queue_name).scheduled == 1
    # Not promoted before its time, promoted after.
    assert client.run(ops.promote(queue_name, now(), 100, lead(client, queue_name))).count == 0
    assert (
        client.run(ops.promote(queue_name, now() + 6000, 100, lead(client, queue_name))).count == 1
    )
    (t2,) = claim(client, queue_name)
    assert t2.id == sub.id and t2.attempt == 2
    assert client.run(ops.fail(t2.id, t2.token, now(), "E: y", "tb2", 5000, KEEP_ALL)) == 2
    rec = client.get(sub.id)
    assert rec.state is TaskState.FAILED and rec.traceback == "tb2" and rec.finished_ms
    assert client.redis.zscore(queue_keys(queue_name).dead, sub.id) is not None
    assert client.redis.pttl(queue_keys(queue_name).task(sub.id)) == -1  # kept for inspection


def test_fail_with_zero_delay_requeues_at_once(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name)
    (t,) = claim(client, queue_name)
    assert client.run(ops.fail(t.id, t.token, now(), "E", "", 0, KEEP_ALL)) == 1
    assert client.get(t.id).state is TaskState.QUEUED


def test_fail_without_retry_dead_letters(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name, max_retries=5)
    (t,) = claim(client, queue_name)
    assert client.run(ops.fail(t.id, t.token, now(), "E", "", -1, KEEP_ALL)) == 2
    assert client.get(t.id).state is TaskState.FAILED


def test_stale_fail_is_rejected(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name)
    (t,) = claim(client, queue_name)
    assert client.run(ops.fail(t.id, "0", now(), "E", "", 0, KEEP_ALL)) == -1
    assert client.get(t.id).state is TaskState.RUNNING


def test_extend_renews_own_leases_and_reports_lost(client: Client, queue_name: str) -> None:
    client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(2)])
    a, b = claim(client, queue_name)
    later = now() + 5000
    beat = client.run(ops.extend(queue_name, later, LEASE_MS, [(a.id, a.token), (b.id, "999")]))
    assert beat.lost == [b.id] and beat.cancel_requested == []
    assert int(client.redis.zscore(queue_keys(queue_name).running, a.id)) == later + LEASE_MS


def test_reap_requeues_expired_and_fences_old_holder(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name, max_retries=1)
    (t,) = claim(client, queue_name)
    assert (
        client.run(ops.reap(queue_name, now(), 100, KEEP_ALL, lead(client, queue_name))).requeued
        == 0
    )  # not expired yet
    reaped = client.run(
        ops.reap(queue_name, now() + LEASE_MS + 1, 100, KEEP_ALL, lead(client, queue_name))
    )
    assert (reaped.requeued, reaped.dead_lettered) == (1, 0)
    assert client.get(t.id).state is TaskState.QUEUED
    (t2,) = claim(client, queue_name)
    assert t2.attempt == 2 and t2.token != t.token
    # The first holder comes back: its outcome is rejected, the new holder's applies.
    late = Completion(t.id, t.token, "succeeded", b'"late"')
    assert client.run(ops.complete(queue_name, now(), KEEP_ALL, [late])) == [-1]
    assert client.run(ops.fail(t.id, t.token, now(), "E", "", 0, KEEP_ALL)) == -1
    ok = Completion(t2.id, t2.token, "succeeded", b'"new"')
    assert client.run(ops.complete(queue_name, now(), KEEP_ALL, [ok])) == [1]
    assert client.get(t.id).result == "new"
    # Expiring the last attempt dead-letters it.
    client.submit("echo", 2, queue=queue_name, max_retries=0)
    (t3,) = claim(client, queue_name)
    reaped = client.run(
        ops.reap(queue_name, now() + LEASE_MS + 1, 100, KEEP_ALL, lead(client, queue_name))
    )
    assert reaped.dead_lettered == 1
    rec = client.get(t3.id)
    assert rec.state is TaskState.FAILED and "lease expired" in (rec.error or "")


def test_a_delayed_task_is_stamped_with_the_clock_reading_of_its_eta(
    client: Client, queue_name: str
) -> None:
    # One clock reading gives the eta and created_ms, so eligible - created is the delay
    # to the millisecond, however slowly the submission runs.
    task = build_task(TaskRequest("echo", 1, queue=queue_name, delay_seconds=0.6), client.settings)
    assert ops.submit(task, 1000).args[0] == task.created_ms == task.eta_ms - 600
    sub = client.submit("echo", 1, queue=queue_name, delay_seconds=0.6)
    rec = client.get(sub.id)
    assert rec.created_ms is not None and rec.eligible_ms == rec.created_ms + 600


def test_delayed_task_waits_in_scheduled(client: Client, queue_name: str) -> None:
    sub = client.submit("echo", 1, queue=queue_name, delay_seconds=30)
    assert sub.state == "scheduled"
    assert claim(client, queue_name) == []
    promoted = client.run(ops.promote(queue_name, now(), 100, lead(client, queue_name)))
    assert promoted.count == 0 and promoted.next_due_ms is not None
    assert (
        client.run(ops.promote(queue_name, now() + 31_000, 100, lead(client, queue_name))).count
        == 1
    )
    (t,) = claim(client, queue_name)
    assert t.id == sub.id and t.eligible_ms == promoted.next_due_ms


def test_cancel_queued_scheduled_running_and_finished(client: Client, queue_name: str) -> None:
    queued = client.submit("echo", 1, queue=queue_name)
    scheduled = client.submit("echo", 2, queue=queue_name, delay_seconds=60)
    assert client.cancel(queued.id).code == 1
    assert client.cancel(scheduled.id).code == 1
    st = client.stats(queue_name)
    assert (st.queued, st.scheduled) == (0, 0)
    assert client.get(queued.id).state is TaskState.CANCELLED
    running = client.submit("echo", 3, queue=queue_name)
    (t,) = claim(client, queue_name)
    assert client.cancel(running.id).code == 2
    beat = client.run(ops.extend(queue_name, now(), LEASE_MS, [(t.id, t.token)]))
    assert beat.cancel_requested == [t.id]
    # A failure of a task whose cancellation was requested ends it cancelled, no retry.
    assert client.run(ops.fail(t.id, t.token, now(), "E", "", 0, KEEP_ALL)) == 3
    assert client.get(t.id).state is TaskState.CANCELLED
    assert client.cancel(t.id).code == 0
    with pytest.raises(TaskNotFound):
        client.cancel(f"{queue_name}.doesnotexist")


def test_release_returns_task_without_counting_attempt(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name)
    (t,) = claim(client, queue_name)
    assert client.run(ops.release(queue_name, now(), [(t.id, t.token), (t.id, "1")])) == 1
    rec = client.get(t.id)
    assert rec.state is TaskState.QUEUED and rec.attempts == 0
    (t2,) = claim(client, queue_name)
    assert t2.attempt == 1


def test_requeue_dead_by_id_and_all(client: Client, queue_name: str) -> None:
    ids = []
    for i in range(3):
        client.submit("echo", i, queue=queue_name, max_retries=0)
        (t,) = claim(client, queue_name)
        client.run(ops.fail(t.id, t.token, now(), "E", "", -1, KEEP_ALL))
        ids.append(t.id)
    assert client.requeue_dead(queue_name, [ids[1], "nope"]) == [ids[1]]
    rec = client.get(ids[1])
    assert rec.state is TaskState.QUEUED and rec.attempts == 0 and rec.error is None
    assert sorted(client.requeue_dead(queue_name)) == sorted([ids[0], ids[2]])
    assert client.stats(queue_name).dead == 0


def test_pause_stops_claims_until_resume(client: Client, queue_name: str) -> None:
    client.submit("echo", 1, queue=queue_name)
    client.pause(queue_name)
    assert client.stats(queue_name).paused
    assert claim(client, queue_name) == []
    client.resume(queue_name)
    assert len(claim(client, queue_name)) == 1


def test_wait_returns_when_task_finishes(client: Client, queue_name: str) -> None:
    sub = client.submit("echo", 1, queue=queue_name)
    t0 = time.monotonic()
    assert client.wait(sub.id, 0.2).state is TaskState.QUEUED  # times out, still queued
    assert time.monotonic() - t0 >= 0.19
    (t,) = claim(client, queue_name)
    client.run(
        ops.complete(queue_name, now(), KEEP_ALL, [Completion(t.id, t.token, "succeeded", b"7")])
    )
    rec = client.wait(sub.id, 5)
    assert rec.state is TaskState.SUCCEEDED and rec.result == 7


def test_unknown_and_malformed_ids(client: Client) -> None:
    with pytest.raises(TaskNotFound):
        client.get("default.0000")
    with pytest.raises(ValueError, match="malformed"):
        client.get("no-dot-here")


def test_submission_validation(client: Client, queue_name: str) -> None:
    with pytest.raises(InvalidSubmission, match="JSON"):
        client.submit("echo", {1, 2}, queue=queue_name)
    with pytest.raises(InvalidSubmission, match="queue"):
        client.submit("echo", 1, queue="bad.name")
    with pytest.raises(InvalidSubmission, match="not both"):
        client.submit("echo", 1, queue=queue_name, delay_seconds=1, eta=time.time())
    with pytest.raises(InvalidSubmission, match="over the limit"):
        client.submit("echo", "x" * 2_000_000, queue=queue_name)


def test_oldest_queued_spans_priorities(client: Client, queue_name: str) -> None:
    assert client.stats(queue_name, with_age=True).oldest_queued_age_seconds is None
    first = client.submit("echo", "old, low priority", queue=queue_name, priority=1)
    time.sleep(0.3)
    for prio in (9, 5, 1, 0):
        client.submit("echo", prio, queue=queue_name, priority=prio)
    assert client.run(ops.oldest_queued(queue_name)) == first.id
    assert client.stats(queue_name).oldest_queued_age_seconds is None  # only when asked
    age = client.stats(queue_name, with_age=True).oldest_queued_age_seconds
    assert age is not None and 0.3 <= age < 5
    client.cancel(first.id)
    age = client.stats(queue_name, with_age=True).oldest_queued_age_seconds
    assert age is not None and age < 0.3
