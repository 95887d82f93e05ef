"""Queue maintenance: promote delayed tasks that are due, redeliver the tasks of dead
workers and expired leases.

Maintenance of a queue runs in one worker at a time, its leader, under a lease in Redis
with a fencing token (``leader.lua``): a deposed leader's late calls are refused. A worker
that stops gives its lease up, so another takes over at once.

Nothing here polls. The others ask for the lease again only when what is left of it has
run out (``lead_or_wait``), so a dead leader is replaced within 1.25 leases, or at once
when the leader gives it up (they block on the queue's leader-free list). The leader
renews its lease at half of it. A worker renews the leases it holds and asks for the
others together, in one call (``leader_many.lua``; one per queue on a Redis Cluster,
whose nodes hold different queues): what is due within a quarter lease rides along with
what is due now, so their times line up and an idle worker sends about one lease call
per half lease, however many queues it serves. Each queue keeps its own lease and token.
Otherwise the leader sleeps until its next known duty: the earliest delayed task
(``promote`` says when), the next liveness check while workers hold tasks, the earliest
lease deadline (``reap`` says both). What it cannot know in advance wakes it through
the queue's leader-wake list: a delayed task submitted (or a retry scheduled) earlier
than every other, a worker joining the alive set. The wait is a BLPOP on those lists;
Redis ends a blocking wait only on its own clock tick (``hz``, 100 ms by default), so the
last 100 ms of a wait are slept here instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
import redis.asyncio.cluster

from system.client import AsyncClient
from system.config import WorkerSettings
from system.core import ops
from system.core.keys import queue_keys
from system.worker.retry import OutageLog
from system.worker.waiting import blpop_or_stop

log = logging.getLogger("taskq.worker")
REAP_LIMIT = 1000
PROMOTE_LIMIT = 1000
# Redis ends a blocking command's timeout on its clock tick (hz 10: every 100 ms); the
# last part of a wait is slept locally, so a due task is promoted on time.
SERVER_TICK_SECONDS = 0.1
MIN_BLOCK_SECONDS = 0.01  # BLPOP's timeout 0 means forever: shorter waits are slept here
RETRY_AFTER_ERROR_SECONDS = 0.5


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _Duty:
    """One queue's maintenance as this worker sees it; times are ``time.monotonic()``."""

    token: int = 0  # > 0: this worker leads the queue
    next_lead: float = 0.0  # renew the lease (leader) or ask for it (the others)
    next_promote: float = math.inf
    next_reap: float = math.inf


class Maintenance:
    def __init__(
        self,
        client: AsyncClient,
        queues: Sequence[str],
        worker_id: str,
        settings: WorkerSettings,
        stop: asyncio.Event,
    ) -> None:
        self.client = client
        self.queues = queues
        self.worker_id = worker_id
        self.ws = settings
        self._stop = stop  # set: the loop ends between rounds
        self._duties = {q: _Duty() for q in queues}
        self._leader_ms = int(settings.leader_lease_seconds * 1000)
        self._cluster = isinstance(client.redis, redis.asyncio.cluster.RedisCluster)

    @property
    def leading(self) -> list[str]:
        return [q for q, d in self._duties.items() if d.token]

    async def run(self) -> None:
        outage = OutageLog(log, "maintenance")
        while not self._stop.is_set():
            try:
                await self._lead_due()
                for queue, duty in self._duties.items():
                    await self._attend(queue, duty)
                outage.ok()
                due, promotion = self._next_due()
                await self._sleep(due - time.monotonic(), precise=promotion)
                continue
            except redis.RedisError as exc:  # Redis away: the next round tries again
                outage.failed(exc)
            except Exception:
                log.exception("maintenance failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_AFTER_ERROR_SECONDS)
        with contextlib.suppress(Exception):  # let another take over now, not after the lease
            await self._lead(self.leading, 0)

    def _next_due(self) -> tuple[float, bool]:
        """When the next duty is due, and whether it is a promotion (which must be on
        time; a renewal or a check may be up to a server tick late)."""
        due, promotion = math.inf, False
        for d in self._duties.values():
            if d.next_lead < due:
                due, promotion = d.next_lead, False
            if d.token and d.next_reap < due:
                due, promotion = d.next_reap, False
            if d.token and d.next_promote < due:
                due, promotion = d.next_promote, True
        return due, promotion

    async def _lead(self, queues: Sequence[str], lease_ms: int) -> list[ops.Lead]:
        """``lead_or_wait`` for each of ``queues``: one call for all of them, except on a
        cluster (their keys may be on different nodes)."""
        if not queues:
            return []
        if self._cluster or len(queues) == 1:
            return [
                await self.client.run(ops.lead_or_wait(q, self.worker_id, lease_ms)) for q in queues
            ]
        return await self.client.run(ops.lead_many(queues, self.worker_id, lease_ms))

    async def _lead_due(self) -> None:
        """Renew the leases held and ask for the others, if one of them is due. Those due
        within a quarter lease go in the same call: renewing early costs nothing, and an
        ask is planned a quarter lease after the holder's lease would run out, so it
        still comes after. The leases of a worker are thus renewed (asked for) together."""
        now = time.monotonic()
        if all(d.next_lead > now for d in self._duties.values()):
            return
        soon = now + self.ws.leader_lease_seconds / 4
        queues = [q for q, d in self._duties.items() if d.next_lead <= soon]
        leads = await self._lead(queues, self._leader_ms)
        answered = time.monotonic()
        for queue, lead in zip(queues, leads, strict=True):
            duty = self._duties[queue]
            if lead.token and lead.token != duty.token:
                log.info("leading maintenance of %s (token %d)", queue, lead.token)
                duty.next_promote = duty.next_reap = now  # a new leader looks at everything
            elif duty.token and not lead.token:
                log.info("no longer leading maintenance of %s", queue)
            duty.token = lead.token
            if lead.token:
                duty.next_lead = now + self.ws.leader_lease_seconds / 2
            else:
                # Ask again once the holder's lease has run out, should it not renew (its
                # time left counted from the answer, which came after it was measured).
                # The holder renews at half of it: asking a quarter lease after the expiry
                # falls between two renewals, so a live holder is asked about once per lease.
                margin = self.ws.leader_lease_seconds / 4
                duty.next_lead = answered + lead.wait_ms / 1000 + margin

    async def _attend(self, queue: str, duty: _Duty) -> None:
        """Whatever of the queue's maintenance is due now (while it leads it)."""
        if not duty.token:
            return
        now = time.monotonic()
        if now >= duty.next_promote:
            await self._promote(queue, duty)
        if duty.token and now >= duty.next_reap:
            await self._reap(queue, duty)

    def _deposed(self, queue: str, duty: _Duty) -> None:
        log.info("no longer leading maintenance of %s", queue)
        duty.token, duty.next_lead = 0, time.monotonic()

    async def _promote(self, queue: str, duty: _Duty) -> None:
        promoted = await self.client.run(ops.promote(queue, _now_ms(), PROMOTE_LIMIT, duty.token))
        if promoted.refused:
            return self._deposed(queue, duty)
        now = time.monotonic()
        if promoted.count >= PROMOTE_LIMIT:
            duty.next_promote = now  # more are due
        elif promoted.next_due_ms is None:
            duty.next_promote = math.inf  # until a submit wakes the leader
        else:
            duty.next_promote = now + max(0, promoted.next_due_ms - _now_ms()) / 1000
        if self._cluster:  # no wake-up for queues beyond the first: look regularly
            duty.next_promote = min(duty.next_promote, now + self.ws.scheduler_interval_seconds)

    async def _reap(self, queue: str, duty: _Duty) -> None:
        keep = self.client.retention
        dead_after_ms = int(self.ws.dead_after_seconds * 1000)
        call = ops.reap(queue, _now_ms(), REAP_LIMIT, keep, duty.token, dead_after_ms)
        reaped = await self.client.run(call)
        if reaped.refused:
            return self._deposed(queue, duty)
        if reaped.workers_lost:
            log.warning("%d worker(s) of %s went silent: redelivering", reaped.workers_lost, queue)
        if reaped.requeued or reaped.dead_lettered:
            log.warning("reclaimed leases in %s: %s", queue, reaped)
        now = time.monotonic()
        ended = reaped.requeued + reaped.dead_lettered + reaped.cancelled
        if ended >= REAP_LIMIT:
            duty.next_reap = now  # more are waiting
        elif reaped.beating or self._cluster:
            duty.next_reap = now + self.ws.reap_interval_seconds  # one of them may die
        elif reaped.next_deadline_ms is not None:  # tasks of workers that do not beat
            duty.next_reap = now + max(0, reaped.next_deadline_ms - _now_ms()) / 1000
        else:
            duty.next_reap = math.inf  # until a claim wakes the leader

    async def _sleep(self, seconds: float, *, precise: bool) -> None:
        """Sleep ``seconds``, or less when woken (the leader by its queues' leader-wake
        lists, the others by a leader giving its lease up) or the loop is stopped.
        ``precise``: do not overrun (the server's timeout may, by up to a tick)."""
        if seconds <= 0:
            return
        blocking = seconds - SERVER_TICK_SECONDS if precise else seconds
        if blocking >= MIN_BLOCK_SECONDS:
            started = time.monotonic()
            if await self._wait_for_wakeup(blocking):
                return
            seconds -= time.monotonic() - started
            if not precise:
                return
        if seconds > 0:  # a token that arrives meanwhile is seen by the next wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    async def _wait_for_wakeup(self, seconds: float) -> bool:
        """Block on the leader-wake lists of the queues this worker leads and the
        leader-free lists of the others; True when one woke it (that queue's duties, or
        its lease, are then due) or the loop is stopping."""
        wakes: dict[str, tuple[str, bool]] = {}  # key -> (queue, led)
        for queue, duty in self._duties.items():
            k = queue_keys(queue)
            key = k.leader_wake if duty.token else k.leader_free
            wakes[key] = (queue, bool(duty.token))
        keys = list(wakes)
        if self._cluster:
            keys = keys[:1]  # one BLPOP cannot span slots; the others are looked at regularly
        woken = await blpop_or_stop(self.client.redis, keys, seconds, self._stop)
        if woken is not None:
            queue, led = wakes[woken]
            duty = self._duties[queue]
            if led:
                duty.next_promote = duty.next_reap = time.monotonic()
            else:
                duty.next_lead = time.monotonic()
            return True
        return self._stop.is_set()
