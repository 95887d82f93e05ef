"""A hypothesis stateful test of the task state machine on a real Redis.

A simple model tracks what each task's state must be; random sequences of submit, claim,
complete (current or stale token), fail, lease expiry, cancel and requeue are applied to
both, and after every step every task's state and ZSET membership must agree with the
model. In particular no task is ever in no place (lost) or in two places.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from system.client import Client
from system.core import ops
from system.core.keys import queue_keys
from system.core.ops import KEEP_ALL, Completion

LEASE_MS = 1000


@dataclass
class ModelTask:
    state: str = "queued"
    attempts: int = 0
    max_retries: int = 0
    token: str | None = None
    cancel_requested: bool = False
    stale_tokens: list[str] = field(default_factory=list)


def make_machine(client: Client) -> type[RuleBasedStateMachine]:
    class QueueMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.queue = "sm" + uuid.uuid4().hex[:10]
            self.keys = queue_keys(self.queue)
            self.clock = int(time.time() * 1000)
            self.tasks: dict[str, ModelTask] = {}

        def _in(self, state: str) -> list[str]:
            # In submission order, not by id: ids are random, so an order by id would
            # differ when Hypothesis replays an example, and the same draws would pick
            # other tasks (it then reports inconsistent data generation, not the failure).
            return [i for i, t in self.tasks.items() if t.state == state]

        @rule(max_retries=st.integers(0, 2))
        def submit(self, max_retries: int) -> None:
            sub = client.submit("echo", None, queue=self.queue, max_retries=max_retries)
            self.tasks[sub.id] = ModelTask(max_retries=max_retries)

        @rule(n=st.integers(1, 3))
        def claim(self, n: int) -> None:
            got = client.run(ops.claim(self.queue, self.clock, LEASE_MS, n, "w"))
            assert len(got) == min(n, len(self._in("queued")))
            for c in got:
                m = self.tasks[c.id]
                assert m.state == "queued"
                m.state, m.token, m.attempts = "running", c.token, m.attempts + 1
                assert c.attempt == m.attempts

        @precondition(lambda self: self._in("running"))
        @rule(data=st.data(), stale=st.booleans())
        def complete(self, data: st.DataObject, stale: bool) -> None:
            tid = data.draw(st.sampled_from(self._in("running")))
            m = self.tasks[tid]
            token = "0" if stale else m.token
            assert token is not None
            done = Completion(tid, token, "succeeded", b"1")
            code = client.run(ops.complete(self.queue, self.clock, KEEP_ALL, [done]))[0]
            if stale:
                assert code == -1
            else:
                assert code == 1
                m.state, m.token = "succeeded", None

        @precondition(lambda self: self._in("running"))
        @rule(data=st.data(), retry=st.booleans())
        def fail(self, data: st.DataObject, retry: bool) -> None:
            tid = data.draw(st.sampled_from(self._in("running")))
            m = self.tasks[tid]
            assert m.token is not None
            code = client.run(
                ops.fail(tid, m.token, self.clock, "E", "", 0 if retry else -1, KEEP_ALL)
            )
            m.token = None
            if m.cancel_requested:
                assert code == 3
                m.state = "cancelled"
            elif retry and m.attempts <= m.max_retries:
                assert code == 1
                m.state = "queued"
            else:
                assert code == 2
                m.state = "failed"

        @rule()
        def expire_leases(self) -> None:
            self.clock += LEASE_MS + 1
            token = client.run(ops.lead(self.queue, "test-leader", 60_000))
            client.run(ops.reap(self.queue, self.clock, 1000, KEEP_ALL, token))
            for m in self.tasks.values():
                if m.state != "running":
                    continue
                assert m.token is not None
                m.stale_tokens.append(m.token)
                m.token = None
                if m.cancel_requested:
                    m.state = "cancelled"
                elif m.attempts > m.max_retries:
                    m.state = "failed"
                else:
                    m.state = "queued"

        @precondition(lambda self: any(t.stale_tokens for t in self.tasks.values()))
        @rule(data=st.data())
        def late_completion_is_rejected(self, data: st.DataObject) -> None:
            tid = data.draw(st.sampled_from([i for i, t in self.tasks.items() if t.stale_tokens]))
            token = self.tasks[tid].stale_tokens[-1]
            done = Completion(tid, token, "succeeded", b'"late"')
            assert client.run(ops.complete(self.queue, self.clock, KEEP_ALL, [done])) == [-1]

        @precondition(lambda self: self.tasks)
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            tid = data.draw(st.sampled_from(list(self.tasks)))
            m = self.tasks[tid]
            code = client.cancel(tid).code
            if m.state == "queued":
                assert code == 1
                m.state = "cancelled"
            elif m.state == "running":
                assert code == 2
                m.cancel_requested = True
            else:
                assert code == 0

        @precondition(lambda self: self._in("failed"))
        @rule()
        def requeue_dead(self) -> None:
            moved = client.requeue_dead(self.queue)
            assert sorted(moved) == sorted(self._in("failed"))
            for tid in moved:
                self.tasks[tid].state, self.tasks[tid].attempts = "queued", 0

        @invariant()
        def redis_agrees_with_model(self) -> None:
            k = self.keys
            places = {
                "queued": set(client.redis.zrange(k.queued, 0, -1)),
                "running": set(client.redis.zrange(k.running, 0, -1)),
                "failed": set(client.redis.zrange(k.dead, 0, -1)),
                "scheduled": set(client.redis.zrange(k.scheduled, 0, -1)),
            }
            for name, members in places.items():
                assert members == set(self._in(name)), name
            for tid, m in self.tasks.items():
                assert client.redis.hget(k.task(tid), "state") == m.state, tid

    return QueueMachine


def test_state_machine_matches_model(client: Client) -> None:
    machine = make_machine(client)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
