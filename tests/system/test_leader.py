"""Leader election for the queue's maintenance (promoting delayed tasks, reclaiming expired
leases): one leader at a time under a lease with a fencing token, a deposed leader's
calls refused, and a new leader within one lease period after the old one is killed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from system.client import Client
from system.core import ops
from system.core.keys import queue_keys
from system.core.ops import KEEP_ALL
from system.core.task import TaskState
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished

StartWorker = Callable[..., TaskqProcess]


def test_one_leader_at_a_time_and_old_tokens_are_refused(client: Client, queue_name: str) -> None:
    first = client.run(ops.lead(queue_name, "a", 300))
    assert first > 0
    assert client.run(ops.lead(queue_name, "b", 300)) == 0  # a leads
    assert client.run(ops.lead(queue_name, "a", 300)) == first  # renewed, same token
    client.submit("echo", 1, queue=queue_name, delay_seconds=0.05)
    time.sleep(0.4)  # a's lease lapses (a paused, say)
    second = client.run(ops.lead(queue_name, "b", 300))
    assert second > first
    # a still believes it leads: its calls change nothing...
    now = int(time.time() * 1000)
    assert client.run(ops.promote(queue_name, now, 100, first)).refused
    assert client.run(ops.reap(queue_name, now, 100, KEEP_ALL, first)).refused
    assert client.stats(queue_name).scheduled == 1
    # ...and the new leader's do.
    promoted = client.run(ops.promote(queue_name, now, 100, second))
    assert (promoted.count, promoted.refused) == (1, False)
    assert not client.run(ops.reap(queue_name, now, 100, KEEP_ALL, second)).refused
    # Giving the lease up lets another take it at once, with a new token.
    assert client.run(ops.lead(queue_name, "a", 0)) == 0  # not a's to give: no effect
    assert client.run(ops.lead(queue_name, "c", 300)) == 0
    assert client.run(ops.lead(queue_name, "b", 0)) == 0
    assert client.run(ops.lead(queue_name, "c", 300)) > second
    assert "leader_token" not in client.stats(queue_name).counters


def test_without_the_leaders_token_nothing_is_promoted_or_reaped(
    client: Client, queue_name: str
) -> None:
    client.submit("echo", 1, queue=queue_name, delay_seconds=0.01)
    later = int(time.time() * 1000) + 1000
    # Nobody leads: no token passes, not even the 0 that lead() gives a non-leader.
    assert client.run(ops.promote(queue_name, later, 100, 0)).refused
    assert client.run(ops.reap(queue_name, later, 100, KEEP_ALL, 0)).refused
    token = client.run(ops.lead(queue_name, "a", 60_000))
    assert client.run(ops.promote(queue_name, later, 100, token + 1)).refused
    assert client.stats(queue_name).scheduled == 1
    assert client.run(ops.promote(queue_name, later, 100, token)).count == 1


@pytest.mark.parametrize("n_queues", [1, 2])
def test_killed_leader_is_replaced_within_one_lease(
    client: Client, queue_name: str, start_worker: StartWorker, n_queues: int
) -> None:
    """With two queues the leases are renewed and asked for together (leader_many.lua)."""
    lease_s = 1.0  # FAST_ENV's TASKQ_WORKER__LEADER_LEASE_SECONDS
    queues = [queue_name, f"{queue_name}b"][:n_queues]
    workers = [start_worker("-Q", ",".join(queues)) for _ in range(3)]
    leader_keys = [queue_keys(q).leader for q in queues]

    def holders() -> list[str | None]:
        return [client.redis.hget(k, "holder") for k in leader_keys]

    deadline = time.monotonic() + 10
    while None in holders():
        assert time.monotonic() < deadline, "no worker took the lead"
        time.sleep(0.02)
    old = holders()[0]
    assert old is not None
    (leader,) = [w for w in workers if f"-{w.pid}-" in old]
    leader.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    # A delayed task due right away needs a leader to be promoted.
    subs = [client.submit("echo", "after", queue=q, delay_seconds=0.01) for q in queues]
    while any(h in (None, old) for h in holders()):
        assert time.monotonic() - killed_at < lease_s + 1.0, "no new leader within the lease"
        time.sleep(0.02)
    takeover = time.monotonic() - killed_at
    assert takeover <= lease_s + 0.5
    recs = wait_until_finished(client, [s.id for s in subs], 10)
    assert all(rec.state is TaskState.SUCCEEDED for rec in recs)


def test_graceful_stop_hands_the_lead_over_at_once(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    env = {"TASKQ_WORKER__LEADER_LEASE_SECONDS": "30"}  # a lapse would take 30 s
    first = start_worker("-Q", queue_name, **env)
    leader_key = queue_keys(queue_name).leader
    deadline = time.monotonic() + 10
    while client.redis.hget(leader_key, "holder") is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = start_worker("-Q", queue_name, **env)
    time.sleep(0.5)
    assert f"-{first.pid}-" in (client.redis.hget(leader_key, "holder") or "")
    first.stop(timeout_seconds=10)
    deadline = time.monotonic() + 3
    while f"-{second.pid}-" not in (client.redis.hget(leader_key, "holder") or ""):
        assert time.monotonic() < deadline, "the lead was not handed over"
        time.sleep(0.02)


def _queues(queue_name: str, n: int) -> list[str]:
    return [f"{queue_name}{i}" for i in range(n)]


def test_several_leases_are_taken_and_renewed_in_one_call(client: Client, queue_name: str) -> None:
    queues = _queues(queue_name, 3)
    taken = client.run(ops.lead_many(queues, "a", 60_000))
    assert [lead.wait_ms for lead in taken] == [0, 0, 0]
    assert all(lead.token > 0 for lead in taken)
    for q, lead in zip(queues, taken, strict=True):  # each queue its own lease and token
        leader = queue_keys(q).leader
        assert client.redis.hgetall(leader) == {"holder": "a", "token": str(lead.token)}
        client.redis.pexpire(leader, 5_000)
    renewed = client.run(ops.lead_many(queues, "a", 60_000))
    assert renewed == taken  # same tokens
    assert all(client.redis.pttl(queue_keys(q).leader) > 5_000 for q in queues)
    others = client.run(ops.lead_many(queues, "b", 60_000))
    assert all(lead.token == 0 and 5_000 < lead.wait_ms <= 60_000 for lead in others)
    # One call answers for each queue alone: b takes the one a gave up, a keeps the rest.
    assert client.run(ops.lead(queues[1], "a", 0)) == 0
    mixed = client.run(ops.lead_many(queues, "b", 60_000))
    assert [lead.token > 0 for lead in mixed] == [False, True, False]
    assert mixed[1].token > taken[1].token
    again = client.run(ops.lead_many(queues, "a", 60_000))
    assert [lead.token for lead in again] == [taken[0].token, 0, taken[2].token]


def test_a_deposed_leaders_token_is_refused_for_the_queue_it_lost_only(
    client: Client, queue_name: str
) -> None:
    q1, q2 = _queues(queue_name, 2)
    old1, old2 = (lead.token for lead in client.run(ops.lead_many([q1, q2], "a", 60_000)))
    for q in (q1, q2):
        client.submit("echo", q, queue=q, delay_seconds=0.01)
    # a's last renewal of q1 (it stalls, say) was a short one: q1's lease lapses, q2's not.
    assert client.run(ops.lead_many([q1], "a", 50)) == [ops.Lead(old1, 0)]
    time.sleep(0.2)
    new1, b2 = client.run(ops.lead_many([q1, q2], "b", 60_000))
    assert new1.token > old1 and b2.token == 0
    later = int(time.time() * 1000) + 1000
    assert client.run(ops.promote(q1, later, 100, old1)).refused
    assert client.run(ops.reap(q1, later, 100, KEEP_ALL, old1)).refused
    assert client.stats(q1).scheduled == 1
    assert client.run(ops.promote(q2, later, 100, old2)).count == 1  # still a's
    assert client.run(ops.promote(q1, later, 100, new1.token)).count == 1
    lost, kept = client.run(ops.lead_many([q1, q2], "a", 60_000))
    assert (lost.token, kept.token) == (0, old2) and lost.wait_ms > 0


def test_several_leases_are_taken_over_when_they_run_out_or_are_given_up(
    client: Client, queue_name: str
) -> None:
    queues = _queues(queue_name, 3)
    old = [lead.token for lead in client.run(ops.lead_many(queues, "a", 300))]
    waits = [lead.wait_ms for lead in client.run(ops.lead_many(queues, "b", 300))]
    assert all(0 < w <= 300 for w in waits)
    time.sleep(max(waits) / 1000 + 0.1)  # a stops renewing
    taken = [lead.token for lead in client.run(ops.lead_many(queues, "b", 60_000))]
    assert all(new > before for new, before in zip(taken, old, strict=True))
    later = int(time.time() * 1000) + 1000
    for q, token in zip(queues, old, strict=True):
        assert client.run(ops.promote(q, later, 100, token)).refused
    assert all(lead.token == 0 for lead in client.run(ops.lead_many(queues, "a", 300)))
    # b stops: one call gives every lease up and tells the waiting workers at once.
    frees = [queue_keys(q).leader_free for q in queues]
    client.redis.delete(*frees)
    assert client.run(ops.lead_many(queues, "b", 0)) == [ops.Lead(0, 0)] * 3
    assert [client.redis.lpop(f) for f in frees] == ["1"] * 3
    third = [lead.token for lead in client.run(ops.lead_many(queues, "c", 60_000))]
    assert all(new > before for new, before in zip(third, taken, strict=True))
