"""The key map: every Redis key name of the queue is built here, and only here.

Layout (``Q`` is the queue name, ``ID`` a task id; ``{Q}`` is a Redis Cluster hash tag, so
every key of one queue lives in one slot and every script runs on one node)::

    taskq:{Q}:queued          ZSET  task id -> priority score (higher first, FIFO within)
    taskq:{Q}:scheduled       ZSET  task id -> epoch ms it becomes eligible (delay, backoff)
    taskq:{Q}:running         ZSET  task id -> lease deadline, epoch ms
    taskq:{Q}:alive           ZSET  worker id -> last liveness beat, Redis time ms (workers
                                    holding tasks of Q; see beat.lua and reap.lua)
    taskq:{Q}:dead            ZSET  task id -> epoch ms it was dead-lettered
    taskq:{Q}:finished        ZSET  task id -> epoch ms it succeeded or was cancelled: the
                                    records stored, bounded by retention (see _lib.lua)
    taskq:{Q}:meta            HASH  seq (FIFO), token (fencing counter), paused, counters
    taskq:{Q}:wake            LIST  wake-up tokens that idle workers block on (capped)
    taskq:{Q}:leader_wake     LIST  one token that wakes the leader's maintenance (a new
                                    earliest delayed task, a worker joining alive)
    taskq:{Q}:rate            HASH  bucket (RATE_BUCKET_MS) -> tasks that ended in it (throughput)
    taskq:{Q}:leader          HASH  the worker that runs the queue's maintenance (leader.lua)
    taskq:{Q}:leader_free     LIST  one token when that worker gives the lease up (a waiting
                                    worker takes over at once)
    taskq:{Q}:autoscaler      HASH  the supervisor whose autoscaler sizes the workers (same)
    taskq:{Q}:breakers        SET   task types of this queue that have a circuit breaker
    taskq:{Q}:breaker:TYPE    HASH  a task type's circuit breaker (see breaker_record.lua)
    taskq:{Q}:task:ID         HASH  the task record (see ``system.core.task.TaskRecord``)
    taskq:{Q}:done:ID         STREAM  one entry when the task ends, written only if somebody waits
    taskq:{Q}:idem:KEY        STRING  idempotency key -> task id
    taskq:queues              SET   names of known queues (outside any slot: listing only)
    taskq:workers             ZSET  worker id -> last heartbeat, epoch ms
    taskq:worker:WID          HASH  worker description (host, pid, queues, concurrency, ...)

A task id is ``Q.<32 hex>`` (queue names cannot contain ``.``), so the id alone tells which
queue, and therefore which keys, hold the task: no index, no scan.

Scripts that touch a variable set of task keys (a claim pops ids it could not know in
advance) receive a key *prefix* in ``KEYS`` (``taskq:{Q}:task:``) and append the id inside
Lua. The prefix carries the hash tag, so the keys it yields stay in the declared slot.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache

ROOT = "taskq"
# Anchored for JSON Schema and pydantic (where ``$`` is the end of the text); in Python,
# where ``$`` also matches before a final newline, check names with ``is_queue_name``.
QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QUEUES = f"{ROOT}:queues"
WORKERS = f"{ROOT}:workers"


def is_queue_name(name: str) -> bool:
    """The one check of a queue name: the whole text, so ``"q\\n"`` is not one."""
    return QUEUE_NAME_PATTERN.fullmatch(name) is not None


def validate_queue_name(name: str) -> str:
    """Return ``name`` if it is a legal queue name, else raise ``ValueError`` saying why."""
    if not is_queue_name(name):
        raise ValueError(f"invalid queue name {name!r}: use 1-64 characters from A-Z a-z 0-9 _ -")
    return name


def worker_key(worker_id: str) -> str:
    return f"{ROOT}:worker:{worker_id}"


def new_task_id(queue: str, now_ms: int | None = None) -> str:
    """A time-ordered unique id (48-bit ms clock + 80 random bits) prefixed by its queue."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{queue}.{ms:012x}{os.urandom(10).hex()}"


def queue_of(task_id: str) -> str:
    """The queue a task id belongs to; ``ValueError`` for a malformed id."""
    queue, sep, rest = task_id.rpartition(".")
    if not sep or not rest or not is_queue_name(queue) or len(rest) > 64:
        raise ValueError(f"malformed task id {task_id!r}")
    return queue


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """All key names of one queue."""

    name: str
    queued: str
    scheduled: str
    running: str
    alive: str
    dead: str
    finished: str
    meta: str
    wake: str
    leader_wake: str
    rate: str
    leader: str
    leader_free: str
    autoscaler: str
    breakers: str
    breaker_prefix: str
    task_prefix: str
    done_prefix: str
    idem_prefix: str

    def task(self, task_id: str) -> str:
        return self.task_prefix + task_id

    def done(self, task_id: str) -> str:
        return self.done_prefix + task_id

    def idem(self, idempotency_key: str) -> str:
        return self.idem_prefix + idempotency_key

    def breaker(self, task_type: str) -> str:
        return self.breaker_prefix + task_type


@lru_cache(maxsize=1024)
def queue_keys(queue: str) -> QueueKeys:
    validate_queue_name(queue)
    base = f"{ROOT}:{{{queue}}}:"
    return QueueKeys(
        name=queue,
        queued=base + "queued",
        scheduled=base + "scheduled",
        running=base + "running",
        alive=base + "alive",
        dead=base + "dead",
        finished=base + "finished",
        meta=base + "meta",
        wake=base + "wake",
        leader_wake=base + "leader_wake",
        rate=base + "rate",
        leader=base + "leader",
        leader_free=base + "leader_free",
        autoscaler=base + "autoscaler",
        breakers=base + "breakers",
        breaker_prefix=base + "breaker:",
        task_prefix=base + "task:",
        done_prefix=base + "done:",
        idem_prefix=base + "idem:",
    )
