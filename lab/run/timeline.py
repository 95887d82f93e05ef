"""Events on the run's timeline: scale, kill, pause/resume, restart Redis, take the
dependency down, network faults on a process's Redis connection (``lab.faults.network``).

Each event is recorded with three times (epoch seconds): ``scheduled_s`` (the scenario's
``at_seconds``), ``requested_s`` (when the lab issued it; later than scheduled if an
earlier event was still taking effect) and ``effective_s`` (when it had happened: new
workers registered, a killed worker reaped, Redis answering again). An event with a
duration also records ``lifted_s``, when it was undone. A kill also records
``in_flight``: the tasks the worker held when it died, read from the running set, which
bounds the duplicate executions that kill can cause; a partition or blackhole records
the same for the workers it cuts off (and keeps their task ids in ``Timeline.cut_off``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from lab.backends import Backend
from lab.faults.dependency import Dependency
from lab.faults.network import fault
from lab.faults.toxiproxy import ToxiproxyClient, ToxiproxyError
from lab.scenario.events import (
    CUT_OFF_ACTIONS,
    DependencyDown,
    Event,
    KillWorker,
    NetworkEvent,
    Pause,
    RestartRedis,
    Resume,
    ScaleWorkers,
)
from system.client import AsyncClient
from system.core.keys import queue_keys
from system.core.submission import DEFAULT_QUEUE

EFFECT_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.02


@dataclass(slots=True)
class EventRecord:
    """One event as it happened; times are epoch seconds."""

    index: int
    action: str
    detail: str
    scheduled_s: float
    requested_s: float
    effective_s: float | None = None
    processes: str = ""  # which process(es) it acted on
    in_flight: int | None = None
    note: str = ""
    lifted_s: float | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _detail(event: Event) -> str:
    skip = {"at_seconds", "action"}
    return " ".join(f"{k}={v}" for k, v in event.model_dump().items() if k not in skip)


async def _until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + EFFECT_TIMEOUT_SECONDS
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {EFFECT_TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


def _stopped(pid: int) -> bool:
    """Linux: the process is in state T (stopped); elsewhere assume the signal took."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("T", "t")


class Timeline:
    def __init__(
        self, backend: Backend, client: AsyncClient, dependency: Dependency | None = None
    ) -> None:
        self.backend = backend
        self.client = client
        self.dependency = dependency
        self.records: list[EventRecord] = []
        self._lifts: list[asyncio.Task[None]] = []  # undo events that have a duration
        self.cut_off: dict[str, str] = {}  # task id -> the worker that held it at a partition

    async def run(self, events: list[Event], t0_s: float) -> list[EventRecord]:
        for event in events:
            scheduled = t0_s + event.at_seconds
            if (delay := scheduled - time.time()) > 0:
                await asyncio.sleep(delay)
            await self._record(event, event.action, _detail(event), scheduled)
        await asyncio.gather(*self._lifts)
        return self.records

    async def scale_now(self, action: str, detail: str, workers: int) -> EventRecord:
        """A scaling decision taken during the run (not on the scenario's timeline)."""
        scale = ScaleWorkers(action="scale_workers", at_seconds=0, workers=workers)
        return await self._record(scale, action, detail, time.time())

    async def _record(
        self, event: Event, action: str, detail: str, scheduled: float
    ) -> EventRecord:
        rec = EventRecord(len(self.records), action, detail, scheduled, time.time())
        self.records.append(rec)
        try:
            await self.apply(event, rec)
        except Exception as exc:  # recorded; the run and the other events go on
            rec.note = f"failed: {type(exc).__name__}: {exc}"
        return rec

    def _lift_after(self, seconds: float, undo: Any, rec: EventRecord) -> None:
        async def lift() -> None:
            try:
                await asyncio.sleep(seconds)
            finally:  # also when the run is cut short: never leave a fault behind
                undo()
                rec.lifted_s = time.time()

        self._lifts.append(asyncio.create_task(lift()))

    async def apply(self, event: Event, rec: EventRecord) -> None:
        match event:
            case ScaleWorkers():
                await self._scale(event.workers, rec)
            case KillWorker():
                await self._kill(event, rec)
            case Pause():
                affected = self.backend.pause(event.target, event.which)
                if affected is None:
                    rec.note = "no process to pause"
                    return
                rec.processes = affected.process
                if affected.pid is not None:
                    pid = affected.pid
                    await _until(lambda: _async(_stopped(pid)), f"{affected.process} stopped")
            case Resume():
                rec.processes = ",".join(a.process for a in self.backend.resume(event.target))
            case RestartRedis():
                rec.processes = self.backend.restart_redis(event.crash).process
            case DependencyDown():
                dependency = self.dependency
                if dependency is None:
                    rec.note = "no dependency in this run"
                    return
                dependency.set_down(True, event.delay_ms)
                rec.processes = "dependency"
                self._lift_after(event.duration_seconds, lambda: dependency.set_down(False), rec)
            case _:
                if not await self._network(event, rec):
                    return
        rec.effective_s = time.time()

    async def _network(self, event: NetworkEvent, rec: EventRecord) -> bool:
        url = self.backend.toxiproxy_url
        hit = self.backend.network_proxies(event.target, event.which)
        if url is None or not hit:
            rec.note = "no proxy to act on" if url else "system.network_faults is off"
            return False
        rec.processes = ",".join(a.process for a, _ in hit)
        client = ToxiproxyClient(url)
        undos: list[Callable[[], None]] = []

        def lift() -> None:
            for undo in undos:  # each one, even if another fails (its proxy is gone)
                with contextlib.suppress(ToxiproxyError, httpx.HTTPError):
                    undo()
            client.close()

        # Scheduled first: if applying fails half-way, what was applied is still undone.
        self._lift_after(event.duration_seconds, lift, rec)
        for _, proxy in hit:
            apply, undo = fault(client, proxy, event)
            await asyncio.to_thread(apply)
            undos.append(undo)
        if event.action in CUT_OFF_ACTIONS and event.target != "api":
            # Read after the cut: a worker cut off can no longer claim or complete, so
            # what Redis still leases to it is exactly what it held.
            ids = {w.pid: w.id for w in await self.client.workers()}
            held: dict[str, str] = {}
            for affected, _ in hit:
                if (worker_id := ids.get(affected.pid or -1)) is not None:
                    held |= dict.fromkeys(await self._held_ids(worker_id), worker_id)
            self.cut_off |= held
            rec.in_flight = len(held)
        return True

    async def _registered_pids(self) -> set[int]:
        return {w.pid for w in await self.client.workers()}

    async def _scale(self, target: int, rec: EventRecord) -> None:
        current = self.backend.worker_pids()
        if target > len(current):
            new = [self.backend.spawn_worker() for _ in range(target - len(current))]
            pids = {a.pid for a in new if a.pid is not None}
            rec.processes = ",".join(a.process for a in new)

            async def registered() -> bool:
                return pids <= await self._registered_pids()

            await _until(registered, f"{len(new)} new worker(s) registering")
        else:
            stopping = []
            for _ in range(len(current) - target):
                affected = self.backend.signal_worker("newest", signal.SIGTERM)
                if affected is not None:
                    stopping.append(affected)
            rec.processes = ",".join(a.process for a in stopping)
            for a in stopping:
                await self._exited(a.pid)

    async def _exited(self, pid: int | None) -> None:
        if pid is not None:
            await _until(lambda: _async(self.backend.worker_exited(pid)), f"pid {pid} exiting")

    async def _kill(self, event: KillWorker, rec: EventRecord) -> None:
        ids = {w.pid: w.id for w in await self.client.workers()}
        affected = self.backend.signal_worker(event.which, signal.Signals[event.signal])
        if affected is None:
            rec.note = "no worker to kill"
            return
        rec.processes = affected.process
        await self._exited(affected.pid)
        worker_id = ids.get(affected.pid or -1)
        rec.in_flight = await self._held_by(worker_id) if worker_id else 0
        if worker_id is None:
            rec.note = "worker had not registered yet"

    async def _held_by(self, worker_id: str) -> int:
        """Tasks still leased to a (dead) worker: it held them when it died."""
        return len(await self._held_ids(worker_id))

    async def _held_ids(self, worker_id: str) -> list[str]:
        keys = queue_keys(DEFAULT_QUEUE)
        ids = await self.client.redis.zrange(keys.running, 0, -1)
        pipe = self.client.redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.hget(keys.task(task_id), "worker")
        return [t for t, w in zip(ids, await pipe.execute(), strict=True) if w == worker_id]


async def _async(value: bool) -> bool:
    return value
