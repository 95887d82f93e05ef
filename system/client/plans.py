"""Every client operation written once, as a plan: a generator that yields each round trip
it needs (a script ``Call``, one ``Command``, or a ``Pipeline`` of commands), is sent back
the reply, and returns the result. ``Client`` and ``AsyncClient`` only drive plans, one
blocking and one awaiting, so both make the same round trips and read the replies the same
way (httpx shares its models and logic between its two clients likewise). ``queues``,
for one, is ``return sorted((yield Command("smembers", QUEUES)))``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from itertools import chain, compress
from operator import attrgetter, itemgetter, not_
from typing import Any, TypeAlias, TypeVar, cast

from system.client.models import BreakerStatus, QueueStats, WorkerInfo, finished_rate
from system.config import QueueSettings
from system.core import ops
from system.core.errors import InvalidSubmission, TaskNotFound
from system.core.keys import QUEUES, WORKERS, queue_keys, queue_of, worker_key
from system.core.ops import Call, CancelOutcome, Submitted
from system.core.submission import Checked, TaskRequest, build_task, check_many, new_ids
from system.core.task import TaskRecord
from system.metrics import TASKS_SUBMITTED

T = TypeVar("T")
# Tasks per submit_bulk call: large enough to amortise the round trip, small enough that
# one script call does not hold Redis for long (a few ms).
BULK_CHUNK = 1000
CANCEL_REASON = "cancelled by request"
# Queues read per pipeline by the *_many operations: one pipeline's replies are parsed
# without a pause, so a smaller chunk keeps the event loop of a busy API responsive.
MANY_CHUNK = 250
# A wait blocks in steps this long, well under any reply timeout in use (the API's 1 s,
# redis-py's default 5 s, which the API's long polls get), so a wait longer than the
# timeout is not taken for a dead connection.
WAIT_STEP_MS = 500
# States kept in a sorted set, which is what makes them listable: queued (priority order),
# scheduled (due time), running (lease deadline), failed (time dead-lettered). Succeeded
# and cancelled tasks are only their own expiring records, with no index.
LISTABLE_STATES = ("queued", "scheduled", "running", "failed")
# Fields of the meta hash that are not counters of tasks.
_NOT_COUNTERS = ("seq", "token", "leader_token", "paused")


class Command:
    """One Redis command, one round trip: the redis-py method ``name`` and its arguments."""

    __slots__ = ("args", "kwargs", "name")

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.name, self.args, self.kwargs = name, args, kwargs

    def issue(self, redis: Any) -> Any:
        """Send it: the reply from a blocking client, an awaitable of it from an asyncio
        one; on a pipeline, it is queued."""
        return getattr(redis, self.name)(*self.args, **self.kwargs)


class Pipeline:
    """Commands sent together in one round trip (not a transaction); the reply is the
    list of theirs. An empty one makes no round trip."""

    __slots__ = ("commands",)

    def __init__(self, commands: Iterable[Command]) -> None:
        self.commands = tuple(commands)

    def issue(self, redis: Any) -> Any:
        pipe = redis.pipeline(transaction=False)
        for command in self.commands:
            command.issue(pipe)
        return pipe.execute()


class Scripts:
    """Script calls sent together in one round trip (a pipeline, not a transaction); the
    reply is the list of their parsed replies. An empty one makes no round trip."""

    __slots__ = ("calls",)

    def __init__(self, calls: Iterable[Call[Any]]) -> None:
        self.calls = tuple(calls)


class Streamed:
    """Script calls made one by one (``calls`` is iterated once, lazily), for a driver that
    can send each as soon as it is made, so Python prepares the next while Redis runs the
    one before; the reply is the list of their parsed replies. A driver that cannot runs
    them one after another. An error stops nothing already sent (as a pipeline)."""

    __slots__ = ("calls",)

    def __init__(self, calls: Iterable[Call[Any]]) -> None:
        self.calls = calls


Step: TypeAlias = Call[Any] | Command | Pipeline | Scripts | Streamed
Plan: TypeAlias = Generator[Step, Any, T]


def script(call: Call[T]) -> Plan[T]:
    """One script call in a plan, typed: ``x = yield from script(call)``."""
    reply: T = yield call
    return reply


def now_ms() -> int:
    return int(time.time() * 1000)


def _wait_steps(timeout_seconds: float) -> Iterator[int]:
    """The XREAD block of each step (ms) until the deadline; at least one step."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        yield max(1, min(left_ms, WAIT_STEP_MS))
        if left_ms <= WAIT_STEP_MS:
            return


def _stats(queue: str, replies: list[Any], oldest: dict[str, str] | None) -> QueueStats:
    queued, scheduled, running, dead, meta, rate, finished = replies
    counters = {k: int(v) for k, v in meta.items() if k not in _NOT_COUNTERS}
    at = now_ms()
    since = (oldest or {}).get("eligible_ms") or (oldest or {}).get("created_ms")
    age = max(0.0, at / 1000 - int(since) / 1000) if since else None
    paused = "paused" in meta
    return QueueStats(
        queue,
        queued,
        scheduled,
        running,
        dead,
        paused,
        counters,
        age,
        finished_rate(rate, at),
        finished,
    )


def _state_index(queue: str, state: str) -> str:
    k = queue_keys(queue)
    index = {"queued": k.queued, "scheduled": k.scheduled, "running": k.running, "failed": k.dead}
    if state not in index:
        raise InvalidSubmission(
            f"status: {state!r} cannot be listed; listable: {', '.join(LISTABLE_STATES)} "
            "(finished tasks are kept only as records; look them up by id)"
        )
    return index[state]


def _record(task_id: str, h: dict[str, str]) -> TaskRecord:
    if not h:
        raise TaskNotFound(task_id)
    return TaskRecord.from_hash(task_id, queue_of(task_id), h)


# The counter's child per (queue, task type): ``labels()`` validates and locks on every
# call, which a single submit would otherwise pay each time.
_submitted_children: dict[tuple[str, str], Any] = {}


def _count_submitted(queue: str, task_type: str, n: int = 1) -> None:
    child = _submitted_children.get((queue, task_type))
    if child is None:
        child = _submitted_children[queue, task_type] = TASKS_SUBMITTED.labels(queue, task_type)
    child.inc(n)


class Plans:
    """The operations of one client, each a plan; it keeps the client's settings and the
    queues it has already put in the registry of queues. The public methods of both
    clients are these, driven, with the same names and parameters."""

    def __init__(self, settings: QueueSettings | None = None) -> None:
        self.settings = settings or QueueSettings()
        self._known_queues: set[str] = set()

    @property
    def result_ttl_ms(self) -> int:
        return int(self.settings.result_ttl_seconds * 1000)

    @property
    def retention(self) -> ops.Retention:
        s = self.settings
        return ops.Retention(
            ttl_ms=self.result_ttl_ms,
            max_records=s.max_finished_records,
            dead_ttl_ms=int(s.dead_letter_ttl_seconds * 1000),
            dead_max_records=s.dead_letter_max_records,
        )

    @property
    def idem_ttl_ms(self) -> int:
        return int(self.settings.idempotency_ttl_seconds * 1000)

    def _remember_queues(self, queues: Iterable[str]) -> Plan[None]:
        new = [q for q in set(queues) if q not in self._known_queues]
        self._known_queues.update(new)
        if new:
            yield Command("sadd", QUEUES, *new)

    def submit(self, task_type: str, payload: Any = None, **options: Any) -> Plan[Submitted]:
        """Submit one task. Options: queue, priority, max_retries, timeout_seconds,
        delay_seconds, eta, idempotency_key."""
        task = build_task(TaskRequest(task_type, payload, **options), self.settings)
        if task.queue not in self._known_queues:  # no generator for the common case
            yield from self._remember_queues([task.queue])
        sub = yield from script(ops.submit(task, self.idem_ttl_ms))
        if sub.created:
            _count_submitted(task.queue, task_type)
        return sub

    def submit_many(self, requests: Sequence[TaskRequest]) -> Plan[list[Submitted]]:
        """Submit many tasks, one script call per queue and chunk of ``BULK_CHUNK`` (sent
        as one stream where the driver can); results in input order."""
        t = now_ms()
        # All validated first: nothing is written if one is bad. What is left per task
        # (ids, arguments, results) is done chunk by chunk, while Redis runs the one before.
        checked = check_many(requests, self.settings, t)
        queues = {r.queue for r in requests}
        yield from self._remember_queues(queues)
        by_queue: dict[str, Sequence[int]] = {}
        if len(queues) == 1:
            by_queue[next(iter(queues))] = range(len(requests))
        else:
            for i, r in enumerate(requests):
                cast(list[int], by_queue.setdefault(r.queue, [])).append(i)
        chunks = [
            (queue, positions[start : start + BULK_CHUNK])
            for queue, positions in by_queue.items()
            for start in range(0, len(positions), BULK_CHUNK)
        ]
        tallies: list[Counter[str]] = []  # task types per chunk, for the submitted counter
        calls = (self._bulk_chunk(queue, at, requests, checked, t, tallies) for queue, at in chunks)
        replies = (yield Streamed(calls)) if chunks else []
        if len(by_queue) == 1:
            out = list(chain.from_iterable(replies))
        else:
            placed: list[Submitted | None] = [None] * len(requests)
            for (_, at), subs in zip(chunks, replies, strict=True):
                for i, sub in zip(at, subs, strict=True):
                    placed[i] = sub
            out = cast(list[Submitted], placed)
        for (queue, at), subs, tally in zip(chunks, replies, tallies, strict=True):
            # Idempotency hits created nothing (rare: found in C, not a loop per task).
            for i in compress(at, map(not_, map(itemgetter(1), subs))):
                tally[requests[i].task_type] -= 1
            for task_type, n in tally.items():
                if n:
                    _count_submitted(queue, task_type, n)
        return out

    def _bulk_chunk(
        self,
        queue: str,
        at: Sequence[int],
        requests: Sequence[TaskRequest],
        checked: Checked,
        now: int,
        tallies: list[Counter[str]],
    ) -> Call[list[Submitted]]:
        # Columns by C loops (map, no Python code per task); the built tasks are few.
        types = list(map(attrgetter("task_type"), map(requests.__getitem__, at)))
        payloads = list(map(checked.payloads.__getitem__, at))
        built = checked.built
        other = {k: payloads[k] for k, i in enumerate(at) if i in built} if built else {}
        tallies.append(Counter(types))
        return ops.submit_bulk(
            queue,
            new_ids(queue, now, len(at)),
            types,
            payloads,
            cast(dict[int, ops.NewTask], other),
            now,
            self.idem_ttl_ms,
            self.settings.default_max_retries,
        )

    def get(self, task_id: str) -> Plan[TaskRecord]:
        """The task's record; ``TaskNotFound`` if there is none (or it expired)."""
        key = ops.keys_for_task(task_id).task(task_id)
        return _record(task_id, (yield Command("hgetall", key)))

    def wait(self, task_id: str, timeout_seconds: float) -> Plan[TaskRecord]:
        """Block until the task ends or the timeout passes; return its record either way."""
        state = yield from script(ops.register_waiter(task_id))  # TaskNotFound if none
        if not state.terminal:
            done = ops.keys_for_task(task_id).done(task_id)
            for block_ms in _wait_steps(timeout_seconds):
                if (yield Command("xread", {done: "0-0"}, count=1, block=block_ms)):
                    break
        record = yield from self.get(task_id)
        return record

    def cancel(self, task_id: str, reason: str = CANCEL_REASON) -> Plan[CancelOutcome]:
        """A queued or scheduled task is cancelled at once, a running one asked to stop;
        the outcome's code says which (0: it had already ended)."""
        call = ops.cancel(task_id, now_ms(), self.retention, reason)
        return (yield from script(call))

    def pause(self, queue: str) -> Plan[None]:
        """Workers stop claiming from the queue until it is resumed."""
        yield Command("hset", queue_keys(queue).meta, "paused", "1")

    def resume(self, queue: str) -> Plan[None]:
        """Undo ``pause``; wakes one idle worker, and each claim that leaves work behind
        wakes the next (claim.lua)."""
        k = queue_keys(queue)
        yield Pipeline([Command("hdel", k.meta, "paused"), Command("rpush", k.wake, "1")])

    def stats(self, queue: str, *, with_age: bool = False) -> Plan[QueueStats]:
        """Depth by state and counters; ``with_age`` adds the longest wait (two more
        round trips, so callers that only need counts leave it off)."""
        (one,) = yield from self.stats_many([queue], with_age=with_age)
        return one

    def stats_many(
        self, queues: Sequence[str], *, with_age: bool = False
    ) -> Plan[list[QueueStats]]:
        """``stats`` of many queues: at most three round trips per ``MANY_CHUNK`` queues
        (the API's /metrics and queue listing read thousands at once)."""
        out: list[QueueStats] = []
        for start in range(0, len(queues), MANY_CHUNK):
            chunk = queues[start : start + MANY_CHUNK]
            out += yield from self._stats_chunk(chunk, with_age)
        return out

    def _stats_chunk(self, queues: Sequence[str], with_age: bool) -> Plan[list[QueueStats]]:
        keys = [queue_keys(q) for q in queues]
        ttl_ms = self.result_ttl_ms  # entries older than the TTL: records already expired
        kept_since = now_ms() - ttl_ms if ttl_ms else "-inf"
        replies = yield Pipeline(
            command
            for k in keys
            for command in (
                Command("zcard", k.queued),
                Command("zcard", k.scheduled),
                Command("zcard", k.running),
                Command("zcard", k.dead),
                Command("hgetall", k.meta),
                Command("hgetall", k.rate),
                Command("zcount", k.finished, kept_since, "+inf"),
            )
        )
        rows = [replies[i * 7 : i * 7 + 7] for i in range(len(keys))]
        oldest: list[dict[str, str] | None] = [None] * len(keys)
        busy = [i for i, row in enumerate(rows) if row[0]] if with_age else []
        if busy:  # only queues with queued tasks have an oldest one to read
            ids = yield Scripts(ops.oldest_queued(queues[i]) for i in busy)
            found = [(i, task_id) for i, task_id in zip(busy, ids, strict=True) if task_id]
            hashes = yield Pipeline(Command("hgetall", keys[i].task(t)) for i, t in found)
            for (i, _), h in zip(found, hashes, strict=True):
                oldest[i] = h
        return [_stats(q, row, o) for q, row, o in zip(queues, rows, oldest, strict=True)]

    def known_queues(self, queues: Sequence[str]) -> Plan[tuple[list[bool], int]]:
        """Whether each of ``queues`` exists (is in the registry of queues), and how many
        queues exist; one round trip."""
        flags, count = yield Pipeline(
            [Command("smismember", QUEUES, *queues), Command("scard", QUEUES)]
        )
        return [bool(f) for f in flags], int(count)

    def queues(self) -> Plan[list[str]]:
        """The queues tasks were submitted to through a client, by name."""
        return sorted((yield Command("smembers", QUEUES)))

    def list_tasks(
        self, queue: str, state: str, offset: int = 0, limit: int = 100
    ) -> Plan[list[TaskRecord]]:
        """Tasks of one queue in a state that has an index (see ``LISTABLE_STATES``), in
        that index's order; tasks that end while being read are skipped."""
        index = _state_index(queue, state)
        ids = yield Command("zrange", index, offset, offset + limit - 1)
        k = queue_keys(queue)
        hashes = yield Pipeline(Command("hgetall", k.task(i)) for i in ids)
        return [_record(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    def workers(self) -> Plan[list[WorkerInfo]]:
        """Live workers (their registry entry expires when they stop heartbeating)."""
        hashes = []
        for worker_id in (yield Command("zrange", WORKERS, 0, -1)):
            hashes.append((yield Command("hgetall", worker_key(worker_id))))
        return [WorkerInfo.from_hash(h) for h in hashes if h]

    def breakers(self, queue: str) -> Plan[list[BreakerStatus]]:
        """Circuit breakers of the queue's task types, by task type (a breaker appears
        once it counted an outcome)."""
        (one,) = yield from self.breakers_many([queue])
        return one

    def breakers_many(self, queues: Sequence[str]) -> Plan[list[list[BreakerStatus]]]:
        """``breakers`` of many queues: two round trips per ``MANY_CHUNK`` queues."""
        out: list[list[BreakerStatus]] = []
        for start in range(0, len(queues), MANY_CHUNK):
            out += yield from self._breakers_chunk(queues[start : start + MANY_CHUNK])
        return out

    def _breakers_chunk(self, queues: Sequence[str]) -> Plan[list[list[BreakerStatus]]]:
        keys = [queue_keys(q) for q in queues]
        members = yield Pipeline(Command("smembers", k.breakers) for k in keys)
        types = [sorted(m) for m in members]
        if not any(types):
            return [[] for _ in queues]
        hashes = yield Pipeline(
            Command("hgetall", k.breaker(t)) for k, ts in zip(keys, types, strict=True) for t in ts
        )
        out, at = [], 0
        for ts in types:
            out.append(
                [BreakerStatus.from_hash(t, h) for t, h in zip(ts, hashes[at:], strict=False)]
            )
            at += len(ts)
        return out

    def dead_letters(self, queue: str, limit: int = 100) -> Plan[list[TaskRecord]]:
        """The queue's dead-lettered tasks, oldest first."""
        records = []
        for task_id in (yield Command("zrange", queue_keys(queue).dead, 0, limit - 1)):
            records.append((yield from self.get(task_id)))
        return records

    def requeue_dead(
        self, queue: str, ids: Sequence[str] = (), limit: int = 1000
    ) -> Plan[list[str]]:
        """Move dead-lettered tasks back to the queue with a fresh retry budget: these
        ``ids``, or else the ``limit`` oldest; returns the ids moved."""
        return (yield from script(ops.requeue_dead(queue, now_ms(), limit, ids)))
