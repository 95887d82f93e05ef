"""Every queue operation as a pure description: which script, which keys, which arguments,
and how to read the reply. The sync client, the asyncio client and the worker all run the
same descriptions, so the protocol with the scripts is written once.

A script that answers with codes has an ``IntEnum`` of them next to its call (``FailReply``
beside ``fail``); the loader declares that enum in the script as a Lua table of the same
name (``return FailReply.RETRIED``), so the numbers are written only here. Negative codes
come from the one ``ScriptCode`` enum (``system.core.errors``). Callers get enum members
or typed results, never raw integers; a code a script does not define raises
``ScriptReplyError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import lru_cache
from itertools import chain, repeat
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

import orjson

from system.core.errors import InvalidTaskId, ScriptCode, ScriptReplyError, TaskNotFound
from system.core.keys import QueueKeys, queue_keys, queue_of
from system.core.task import TaskState

T = TypeVar("T", covariant=True)
E = TypeVar("E", bound=IntEnum)
Arg = str | int | bytes


# Each reply enum's members by code: a dict lookup costs a fraction of calling the enum,
# which matters once per task of a batch.
_BY_CODE: dict[type[IntEnum], dict[int, IntEnum]] = {}


def _reply(enum: type[E], value: Any) -> E:
    """The member of ``enum`` a script answered with."""
    by_code = _BY_CODE.get(enum)
    if by_code is None:
        by_code = _BY_CODE[enum] = {int(m): m for m in enum}
    try:
        return cast(E, by_code[int(value)])
    except (KeyError, ValueError):
        raise ScriptReplyError(f"{enum.__name__} has no code {value!r}") from None


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    script: str
    keys: list[str]
    args: list[Arg]
    parse: Callable[[Any], T]


class NewTask(NamedTuple):
    """A validated submission, ready for the scripts (see ``system.core.submission``).
    A named tuple: built once per task of a batch, where a frozen dataclass's
    constructor cost several times as much."""

    id: str
    queue: str
    task_type: str
    payload_json: bytes
    priority: int
    max_retries: int
    timeout_ms: int
    eta_ms: int
    idempotency_key: str
    # The clock reading it was built with: its eta was computed from it and it becomes the
    # record's created_ms, so a delayed task never seems to start before created + delay.
    created_ms: int


@dataclass(frozen=True, slots=True)
class Retention:
    """What a queue keeps of ended tasks (BullMQ's removeOnComplete / removeOnFail), whichever
    bound comes first; 0 means no bound. Succeeded and cancelled records: ``ttl_ms`` (each
    record's expiry) and ``max_records`` (the newest); dead-lettered ones, separately:
    ``dead_ttl_ms`` and ``dead_max_records``."""

    ttl_ms: int = 0
    max_records: int = 0
    dead_ttl_ms: int = 0
    dead_max_records: int = 0


KEEP_ALL = Retention()


class Submitted(NamedTuple):
    """A named tuple: one is made per task of a batch."""

    id: str
    created: bool  # False: an earlier task with the same idempotency key was returned
    state: str


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    id: str
    token: str
    task_type: str
    payload_json: str
    attempt: int
    max_retries: int
    timeout_ms: int
    eligible_ms: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    lost: list[str]
    cancel_requested: list[str]


@dataclass(frozen=True, slots=True)
class Reaped:
    requeued: int
    dead_lettered: int
    cancelled: int
    refused: bool = False  # the leader token was not the current one: nothing done
    workers_lost: int = 0  # workers declared dead (silent longer than the window) now
    next_deadline_ms: int | None = None  # earliest lease deadline left, epoch ms
    beating: int = 0  # workers holding tasks of the queue that beat (may die: keep checking)


@dataclass(frozen=True, slots=True)
class Promoted:
    count: int
    next_due_ms: int | None
    refused: bool = False  # the leader token was not the current one: nothing done


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished task waiting to be recorded: state 'succeeded' (text = result JSON) or
    'cancelled' (text = reason)."""

    id: str
    token: str
    state: str
    text: bytes | str


def keys_for_task(task_id: str) -> QueueKeys:
    try:
        return queue_keys(queue_of(task_id))
    except ValueError as exc:
        raise InvalidTaskId(str(exc)) from None


@lru_cache(maxsize=1024)
def _submit_keys(queue: str) -> tuple[str, ...]:
    k = queue_keys(queue)
    return (k.queued, k.scheduled, k.meta, k.wake, k.task_prefix, k.leader_wake)


def _parse_submit(r: list[Any]) -> Submitted:
    return Submitted(r[0], bool(r[1]), r[2])


def submit(task: NewTask, idem_ttl_ms: int) -> Call[Submitted]:
    keys = list(_submit_keys(task.queue))
    if task.idempotency_key:
        keys.append(queue_keys(task.queue).idem(task.idempotency_key))
    args: list[Arg] = [
        task.created_ms,
        task.id,
        task.task_type,
        task.payload_json,
        task.priority,
        task.max_retries,
        task.timeout_ms,
        task.eta_ms,
        task.idempotency_key,
        idem_ttl_ms,
    ]
    return Call("submit", keys, args, _parse_submit)


def submit_bulk(
    queue: str,
    ids: list[str],
    types: Sequence[str],
    payloads: list[Any],
    other: Mapping[int, NewTask],
    now_ms: int,
    idem_ttl_ms: int,
    usual_retries: int,
) -> Call[list[Submitted]]:
    """Tasks as three columns: ids, types, payload JSON texts (str or bytes). ``other``:
    the tasks (by 0-based position) without the usual options (priority 0, max retries
    ``usual_retries``, no timeout, no eta, no idempotency key), built with ``now_ms``;
    their id and payload replace those of the columns. A task is 3 arguments, the other
    tasks' options one JSON argument besides: the script takes thousands of arguments
    for a third of what decoding one JSON document of them cost it, and they are made
    here by C loops (no Python code per task)."""
    rows: list[list[str]] = []
    for pos, task in other.items():
        if task.created_ms != now_ms:
            raise ValueError("submit_bulk: every task must be built with the batch's now_ms")
        ids[pos], payloads[pos] = task.id, task.payload_json
        options = (pos + 1, task.priority, task.max_retries, task.timeout_ms, task.eta_ms)
        rows.append([*map(str, options), task.idempotency_key])
    args: list[Arg] = [now_ms, idem_ttl_ms, usual_retries, orjson.dumps(rows) if rows else ""]
    args += chain.from_iterable(zip(ids, types, payloads, strict=True))
    # The replies, made now (while Redis runs the chunk before): every task created; parse
    # only puts in the idempotency hits.
    out = list(map(tuple.__new__, repeat(Submitted), zip(ids, repeat(True), repeat("queued"))))
    for pos, task in other.items():
        if task.eta_ms > now_ms:
            out[pos] = Submitted(task.id, True, "scheduled")

    def parse(r: list[Any]) -> list[Submitted]:
        for i in range(0, len(r), 3):  # idempotency hits: the earlier task, not created
            out[int(r[i]) - 1] = Submitted(r[i + 1], False, r[i + 2])
        return out

    k = queue_keys(queue)
    keys = [k.queued, k.scheduled, k.meta, k.wake, k.task_prefix, k.idem_prefix, k.leader_wake]
    return Call("submit_bulk", keys, args, parse)


def _parse_claim(r: list[Any]) -> list[ClaimedTask]:
    return [
        ClaimedTask(
            r[i],
            str(r[i + 1]),
            r[i + 2],
            r[i + 3],
            int(r[i + 4]),
            int(r[i + 5]),
            int(r[i + 6]),
            int(r[i + 7]),
        )
        for i in range(0, len(r), 8)
    ]


def claim(
    queue: str, now_ms: int, lease_ms: int, count: int, worker_id: str
) -> Call[list[ClaimedTask]]:
    k = queue_keys(queue)
    return Call(
        "claim",
        [k.queued, k.running, k.meta, k.task_prefix, k.alive, k.wake, k.leader_wake],
        [now_ms, lease_ms, count, worker_id],
        _parse_claim,
    )


def beat(queue: str, worker_id: str) -> Call[int]:
    """A worker holding tasks of ``queue`` is alive; the reply is the beat's Redis time, ms."""
    return Call("beat", [queue_keys(queue).alive], [worker_id], int)


def extend(
    queue: str, now_ms: int, lease_ms: int, leases: Sequence[tuple[str, str]]
) -> Call[Heartbeat]:
    k = queue_keys(queue)
    args: list[Arg] = [now_ms, lease_ms]
    for task_id, token in leases:
        args += (task_id, token)
    return Call("extend", [k.running, k.task_prefix], args, lambda r: Heartbeat(r[0], r[1]))


class CompleteReply(IntEnum):
    """complete.lua's answer for each task of the batch."""

    APPLIED = 1  # recorded as given
    STALE_LEASE = ScriptCode.STALE_LEASE  # not the current lease: rejected and counted


def complete(
    queue: str, now_ms: int, retention: Retention, items: Sequence[Completion]
) -> Call[list[CompleteReply]]:
    k = queue_keys(queue)
    rows = [
        [c.id, c.token, c.state, c.text if isinstance(c.text, str) else c.text.decode()]
        for c in items
    ]
    keys = [k.running, k.meta, k.task_prefix, k.done_prefix, k.rate, k.finished]
    args: list[Arg] = [now_ms, retention.ttl_ms, orjson.dumps(rows), retention.max_records]
    return Call("complete", keys, args, lambda r: [_reply(CompleteReply, x) for x in r])


class FailReply(IntEnum):
    """fail.lua's answer."""

    RETRIED = 1  # queued again, or scheduled until its retry delay has passed
    DEAD_LETTERED = 2  # no retry (none left, or none asked for): state 'failed'
    CANCELLED = 3  # cancellation had been requested while it ran
    STALE_LEASE = ScriptCode.STALE_LEASE  # not the current lease: rejected and counted


def fail(
    task_id: str,
    token: str,
    now_ms: int,
    error: str,
    traceback: str,
    retry_delay_ms: int | None,
    retention: Retention,
) -> Call[FailReply]:
    """``retry_delay_ms`` None (or < 0): do not retry, dead-letter now."""
    k = keys_for_task(task_id)
    keys = [
        k.running,
        k.queued,
        k.scheduled,
        k.dead,
        k.meta,
        k.wake,
        k.task(task_id),
        k.done(task_id),
        k.rate,
        k.finished,
        k.task_prefix,
        k.leader_wake,
    ]
    delay = -1 if retry_delay_ms is None else retry_delay_ms
    r = retention
    args: list[Arg] = [task_id, token, now_ms, error, traceback, delay, r.ttl_ms]
    args += [r.max_records, r.dead_ttl_ms, r.dead_max_records]
    return Call("fail", keys, args, lambda r: _reply(FailReply, r))


def reap(
    queue: str,
    now_ms: int,
    limit: int,
    retention: Retention,
    leader_token: int,
    dead_after_ms: int | None = None,
) -> Call[Reaped]:
    """``leader_token``: the caller's fencing token (see ``lead``); refused unless it is the
    current leader's. ``dead_after_ms``: a worker whose last liveness beat is older is
    declared dead and its tasks are reclaimed, whatever their leases say, while a lease
    past its deadline is kept if its worker still beats; None: leases alone decide."""
    k = queue_keys(queue)
    keys = [
        k.running,
        k.queued,
        k.dead,
        k.meta,
        k.wake,
        k.task_prefix,
        k.done_prefix,
        k.rate,
        k.leader,
        k.finished,
        k.alive,
    ]

    def parse(r: list[Any]) -> Reaped:
        if int(r[0]) == ScriptCode.NOT_LEADER:
            return Reaped(0, 0, 0, refused=True)
        deadline = None if r[4] is None else int(r[4])
        return Reaped(int(r[0]), int(r[1]), int(r[2]), False, int(r[3]), deadline, int(r[5]))

    r = retention
    window = -1 if dead_after_ms is None else dead_after_ms
    args: list[Arg] = [now_ms, limit, r.ttl_ms, leader_token]
    args += [r.max_records, r.dead_ttl_ms, r.dead_max_records, window]
    return Call("reap", keys, args, parse)


def promote(queue: str, now_ms: int, limit: int, leader_token: int) -> Call[Promoted]:
    """``leader_token``: the caller's fencing token (see ``lead``); refused unless it is the
    current leader's."""
    k = queue_keys(queue)
    keys = [k.scheduled, k.queued, k.meta, k.wake, k.task_prefix, k.leader]

    def parse(r: list[Any]) -> Promoted:
        if int(r[0]) == ScriptCode.NOT_LEADER:
            return Promoted(0, None, refused=True)
        return Promoted(int(r[0]), None if r[1] is None else int(r[1]))

    return Call("promote", keys, [now_ms, limit, leader_token], parse)


Duty = Literal["maintenance", "autoscaler"]


@dataclass(frozen=True, slots=True)
class Lead:
    token: int  # the fencing token while the candidate leads, else 0
    wait_ms: int  # when another leads: what is left of its lease (ask again after it)


def lead_or_wait(
    queue: str, candidate: str, lease_ms: int, duty: Duty = "maintenance"
) -> Call[Lead]:
    """Take or keep the lease of one of the queue's singleton duties; when another holds
    it, how long until it could be taken. ``lease_ms`` 0 gives it up."""
    k = queue_keys(queue)
    # Maintenance candidates wait on leader_free; the autoscaler's ask at their interval.
    keys = [k.leader, k.meta, k.leader_free] if duty == "maintenance" else [k.autoscaler, k.meta]
    args: list[Arg] = [candidate, lease_ms]
    return Call("leader", keys, args, lambda r: Lead(int(r[0]), int(r[1])))


def lead_many(queues: Sequence[str], candidate: str, lease_ms: int) -> Call[list[Lead]]:
    """``lead_or_wait`` for the maintenance of several queues in one call, one ``Lead`` per
    queue in their order: each queue keeps its own lease and token. Not on a Redis
    Cluster, where the queues' keys may be on different nodes."""
    keys: list[str] = []
    for queue in queues:
        k = queue_keys(queue)
        keys += (k.leader, k.meta, k.leader_free)

    def parse(r: list[Any]) -> list[Lead]:
        return [Lead(int(r[i]), int(r[i + 1])) for i in range(0, len(r), 2)]

    return Call("leader_many", keys, [candidate, lease_ms], parse)


def lead(queue: str, candidate: str, lease_ms: int, duty: Duty = "maintenance") -> Call[int]:
    """``lead_or_wait``'s token alone: > 0 while ``candidate`` holds the lease, else 0."""
    call = lead_or_wait(queue, candidate, lease_ms, duty)
    return Call(call.script, call.keys, call.args, lambda r: int(r[0]))


class CancelReply(IntEnum):
    """cancel.lua's answer."""

    ALREADY_FINISHED = 0  # nothing to cancel: its state is unchanged
    CANCELLED = 1  # queued or scheduled: cancelled now
    REQUESTED = 2  # running: asked to stop; it stops cooperatively
    TASK_NOT_FOUND = ScriptCode.TASK_NOT_FOUND  # never submitted, or its record expired


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    code: CancelReply  # never TASK_NOT_FOUND: that raises TaskNotFound
    state: str


def cancel(task_id: str, now_ms: int, retention: Retention, reason: str) -> Call[CancelOutcome]:
    """Raises ``TaskNotFound`` for an unknown task."""
    k = keys_for_task(task_id)
    keys = [k.queued, k.scheduled, k.meta, k.task(task_id), k.done(task_id), k.rate]
    keys += [k.finished, k.task_prefix]
    args: list[Arg] = [task_id, now_ms, retention.ttl_ms, reason, retention.max_records]

    def parse(r: list[Any]) -> CancelOutcome:
        code = _reply(CancelReply, r[0])
        if code is CancelReply.TASK_NOT_FOUND:
            raise TaskNotFound(task_id)
        return CancelOutcome(code, r[1])

    return Call("cancel", keys, args, parse)


def release(queue: str, now_ms: int, leases: Sequence[tuple[str, str]]) -> Call[int]:
    k = queue_keys(queue)
    args: list[Arg] = [now_ms]
    for task_id, token in leases:
        args += (task_id, token)
    return Call("release", [k.running, k.queued, k.meta, k.wake, k.task_prefix], args, int)


def requeue_dead(queue: str, now_ms: int, limit: int, ids: Sequence[str] = ()) -> Call[list[str]]:
    k = queue_keys(queue)
    keys = [k.dead, k.queued, k.meta, k.wake, k.task_prefix]
    return Call("requeue_dead", keys, [now_ms, limit, *ids], list)


def register_waiter(task_id: str) -> Call[TaskState]:
    """The task's state; its end is announced on its done stream unless it has ended.
    Raises ``TaskNotFound`` for an unknown task."""

    def parse(r: str) -> TaskState:
        if not r:
            raise TaskNotFound(task_id)
        return TaskState(r)

    return Call("register_waiter", [keys_for_task(task_id).task(task_id)], [], parse)


def oldest_queued(queue: str) -> Call[str | None]:
    return Call("oldest_queued", [queue_keys(queue).queued], [], lambda r: r or None)


class DeferReply(IntEnum):
    """defer.lua's answer."""

    DEFERRED = 1
    STALE_LEASE = ScriptCode.STALE_LEASE  # another worker owns it now: nothing done


def defer(task_id: str, token: str, until_ms: int) -> Call[DeferReply]:
    """Hand a claimed task back unrun until ``until_ms`` (its breaker is open)."""
    k = keys_for_task(task_id)
    keys = [k.running, k.scheduled, k.meta, k.task(task_id), k.leader_wake]
    return Call("defer", keys, [task_id, token, until_ms], lambda r: _reply(DeferReply, r))


class BreakerState(StrEnum):
    """A circuit breaker's state (see breaker_acquire.lua)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    state: BreakerState
    retry_at_ms: int  # when denied: when to try again


def breaker_acquire(
    queue: str, task_type: str, now_ms: int, open_ms: int, probes: int
) -> Call[Admission]:
    key = queue_keys(queue).breaker(task_type)

    def parse(r: list[Any]) -> Admission:
        return Admission(bool(int(r[0])), BreakerState(r[1]), int(r[2]))

    return Call("breaker_acquire", [key], [now_ms, open_ms, probes], parse)


@dataclass(frozen=True, slots=True)
class BreakerRules:
    window_ms: int
    min_calls: int
    failure_ratio: float
    probes: int
    open_ms: int


def breaker_record(
    queue: str, task_type: str, now_ms: int, succeeded: bool, rules: BreakerRules
) -> Call[BreakerState]:
    """Count one outcome; returns the breaker's state afterwards."""
    k = queue_keys(queue)
    args: list[Arg] = [
        now_ms,
        int(succeeded),
        task_type,
        rules.window_ms,
        rules.min_calls,
        repr(rules.failure_ratio),
        rules.probes,
    ]
    keys = [k.breaker(task_type), k.breakers]
    return Call("breaker_record", keys, args, lambda r: BreakerState(r[0]))


# Each script's reply enum, declared in the script by the loader (``system.core.scripts``).
REPLY_CODES: dict[str, type[IntEnum]] = {
    "complete": CompleteReply,
    "fail": FailReply,
    "cancel": CancelReply,
    "defer": DeferReply,
}
