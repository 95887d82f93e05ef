"""The load generator: open loop on a seeded schedule, closed loop, or a pre-filled backlog.

Coordinated omission: every submission keeps its *intended* send time (the schedule's),
and latency is measured from it, so a system that slows the generator down is charged for
the wait. ``sent_s`` - ``intended_s`` is recorded as the send lag. A refused submit (429 / 503)
waits its Retry-After and is retried ``retries_when_refused`` times, then counts as
``rejected`` / ``unavailable``: refused, never acknowledged, so not lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

from lab.run.schedule import Arrival, schedule
from lab.run.senders import Refused, Sender
from lab.scenario.model import LoadConfig, Scenario, TaskKind
from system.core.submission import DEFAULT_QUEUE

CLOSED_LOOP_WAIT_SECONDS = 30.0
# Built-in handlers whose randomness the lab seeds per task from the scenario's seed, so
# the seed fixes service times too (io's jitter). Not flaky: a seed in its payload would
# make every retry of a task draw the same failure.
SEEDED_TASK_TYPES = frozenset({"io"})
SEED_MAX = 2**63 - 1


def seeded(kind: TaskKind, scenario_seed: int, seq: int) -> TaskKind:
    """``kind`` with a per-task seed in its payload when its handler draws randomness
    (and the scenario did not give one)."""
    if kind.task_type not in SEEDED_TASK_TYPES or "seed" in kind.payload:
        return kind
    seed = random.Random(f"{scenario_seed}-payload-{seq}").randrange(SEED_MAX)
    return kind.model_copy(update={"payload": {**kind.payload, "seed": seed}})


@dataclass(slots=True)
class Submission:
    """One arrival and what became of its submit. Times are epoch seconds."""

    seq: int
    kind: int
    intended_s: float
    sent_s: float | None = None  # first attempt
    acked_s: float | None = None
    status: str = "pending"  # accepted, rejected, unavailable, error
    task_id: str | None = None
    refusals: int = 0
    refused_429: int = 0  # refusals by reason: back pressure ...
    refused_503: int = 0  # ... or the API (or Redis) unavailable, 503 / connection refused
    capped: bool = False  # sent late because the generator's in-flight cap was reached
    # (it waited for a slot, or came behind one that did before the dispatcher caught up)
    error: str | None = None


@dataclass
class LoadProgress:
    """Live counters for the progress display."""

    planned: int = 0
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    done: bool = False


class QueueGate(Protocol):
    """Holds the workers back while a backlog is submitted (``AsyncClient`` is one)."""

    async def pause(self, queue: str) -> None: ...
    async def resume(self, queue: str) -> None: ...


@dataclass
class LoadGenerator:
    scenario: Scenario
    sender: Sender
    # Backlog mode: pause the queue while filling it, so the drain starts full.
    gate: QueueGate | None = None
    progress: LoadProgress = field(default_factory=LoadProgress)
    submissions: list[Submission] = field(default_factory=list)

    @property
    def load(self) -> LoadConfig:
        return self.scenario.load

    async def run(self, t0_s: float) -> list[Submission]:
        """Offer the load; ``t0_s`` is the epoch time the load starts (offset 0)."""
        try:
            if self.load.mode == "closed":
                await self._closed(t0_s)
            elif self.load.mode == "backlog":
                await self._backlog(t0_s)
            else:
                await self._open(t0_s)
        finally:
            self.progress.done = True
        return self.submissions

    async def _submit(self, sub: Submission) -> None:
        kind = seeded(self.load.mix[sub.kind], self.scenario.seed, sub.seq)
        sub.sent_s = time.time()
        self.progress.sent += 1
        while True:
            try:
                sub.task_id = await self.sender.submit(kind)
            except Refused as refused:
                sub.refusals += 1
                if refused.status == "rejected":
                    sub.refused_429 += 1
                else:
                    sub.refused_503 += 1
                self.progress.refused += 1
                if sub.refusals > self.load.retries_when_refused:
                    sub.status = refused.status
                    return
                await asyncio.sleep(refused.retry_after_seconds)
                continue
            except Exception as exc:  # recorded per task; the run goes on
                sub.status, sub.error = "error", f"{type(exc).__name__}: {exc}"
                self.progress.failed += 1
                return
            sub.acked_s, sub.status = time.time(), "accepted"
            self.progress.accepted += 1
            return

    async def _open(self, t0_s: float) -> None:
        arrivals = schedule(self.load, self.scenario.seed)
        self.progress.planned = len(arrivals)
        outstanding = asyncio.Semaphore(self.load.max_outstanding_requests)
        running: set[asyncio.Task[None]] = set()

        async def one(sub: Submission) -> None:
            try:
                await self._submit(sub)
            finally:
                outstanding.release()

        held = False  # behind schedule since the dispatcher last waited at the cap
        for a in arrivals:
            delay = t0_s + a.offset_seconds - time.time()
            if delay > 0:
                held = False  # caught up
                await asyncio.sleep(delay)
            # At the cap the dispatcher waits: later arrivals are sent late, and their
            # send lag shows it; ``capped`` marks those that waited for a slot and those
            # sent late behind them until the dispatcher caught up, so the verdict can
            # name the cap (the API answering too slowly) as the cause.
            held = outstanding.locked() or held
            await outstanding.acquire()
            sub = self._new(a, t0_s)
            sub.capped = held
            task = asyncio.create_task(one(sub))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    def _new(self, a: Arrival, t0_s: float) -> Submission:
        sub = Submission(a.seq, a.kind, t0_s + a.offset_seconds)
        self.submissions.append(sub)
        return sub

    async def _backlog(self, t0_s: float) -> None:
        """All tasks at once (batched), to measure how fast the system drains them; with
        a gate the queue is paused until the last one is acknowledged (pre-filled)."""
        arrivals = schedule(self.load, self.scenario.seed)
        self.progress.planned = len(arrivals)
        subs = [self._new(a, t0_s) for a in arrivals]
        # Not before the load's start: times (and the capacity window) are measured from it.
        await asyncio.sleep(max(0.0, t0_s - time.time()))
        sent = time.time()
        self.progress.sent = len(subs)
        if self.gate is not None:
            await self.gate.pause(DEFAULT_QUEUE)
        try:
            ids = await self.sender.submit_many(
                [seeded(self.load.mix[s.kind], self.scenario.seed, s.seq) for s in subs]
            )
        except Exception as exc:
            for s in subs:
                s.sent_s, s.status, s.error = sent, "error", f"{type(exc).__name__}: {exc}"
            self.progress.failed = len(subs)
            return
        finally:
            if self.gate is not None:
                await self.gate.resume(DEFAULT_QUEUE)
        acked = time.time()
        for s, task_id in zip(subs, ids, strict=True):
            s.sent_s, s.acked_s, s.status, s.task_id = sent, acked, "accepted", task_id
        self.progress.accepted = len(subs)

    async def _closed(self, t0_s: float) -> None:
        """``clients`` loops of submit-then-wait until the duration is over."""
        end = t0_s + self.load.duration_seconds
        seq = iter(range(10**9))

        async def client(i: int) -> None:
            rng = random.Random(f"{self.scenario.seed}-client-{i}")
            weights = [k.weight for k in self.load.mix]
            while (now := time.time()) < end:
                kind = rng.choices(range(len(self.load.mix)), weights=weights)[0]
                sub = self._new(Arrival(next(seq), now - t0_s, kind), t0_s)
                self.progress.planned += 1
                await self._submit(sub)
                if sub.task_id is not None:
                    await self.sender.wait(sub.task_id, CLOSED_LOOP_WAIT_SECONDS)

        await asyncio.gather(*(client(i) for i in range(self.load.clients)))
