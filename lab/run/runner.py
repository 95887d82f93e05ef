"""One run: bring the system up, offer the load while events happen on the timeline, wait
for the backlog to drain, collect everything, tear down; then write the results folder.

The backend is stopped in ``finally``: on success, on failure and on Ctrl-C / SIGTERM
(turned into ``KeyboardInterrupt`` for the length of the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import redis

from lab.backends import Backend, create_backend
from lab.faults.dependency import URL_VARIABLE as DEPENDENCY_URL
from lab.faults.dependency import Dependency
from lab.run import autoscaling
from lab.run.environment import environment
from lab.run.generator import LoadGenerator, Submission
from lab.run.progress import Progress
from lab.run.prometheus_source import PrometheusSource, metrics_from_prometheus
from lab.run.resources import ResourceSampler
from lab.run.scrape import MetricRow, Scraper
from lab.run.senders import create_sender, queue_settings
from lab.run.task_records import fetch_records
from lab.run.timeline import EventRecord, Timeline
from lab.scenario.model import Scenario
from system.client import AsyncClient, Client
from system.core.submission import DEFAULT_QUEUE

if TYPE_CHECKING:
    from lab.web.feed import RunFeed

START_LEAD_SECONDS = 0.3  # between "ready" and the first arrival
DRAIN_POLL_SECONDS = 0.2


@dataclass
class RawRun:
    """What a run produced, before analysis. Times are epoch seconds."""

    t0_s: float = 0.0  # the start of the load
    load_end_s: float = 0.0
    submissions: list[Submission] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    resources: list[MetricRow] = field(default_factory=list)  # lab.run.resources
    counters: dict[str, int] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    drained: bool = False
    dependency_calls: list[tuple[float, int]] = field(default_factory=list)  # (time, status)
    breakers: list[dict[str, Any]] = field(default_factory=list)  # as stored at the end
    cut_off: dict[str, str] = field(default_factory=dict)  # task id -> worker, at partitions


def run_dir_for(scenario: Scenario, out: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{scenario.name}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{stamp}-{scenario.name}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _dependency() -> Iterator[Dependency]:
    """The lab's fault-injectable dependency, its address in the environment the system's
    processes inherit (``lab.faults.handlers.dependency_call`` reads it)."""
    dependency = Dependency().start()
    previous = os.environ.get(DEPENDENCY_URL)
    os.environ[DEPENDENCY_URL] = dependency.url
    try:
        yield dependency
    finally:
        if previous is None:
            os.environ.pop(DEPENDENCY_URL, None)
        else:
            os.environ[DEPENDENCY_URL] = previous
        dependency.stop()


def execute(scenario: Scenario, run_dir: Path, feed: RunFeed | None = None) -> RawRun:
    """Start, drive, collect, stop. Raises what went wrong, after stopping everything.
    ``feed``: the run's live page (``lab.web``), handed the run's objects as it goes."""
    raw = RawRun()
    with _sigterm_interrupts(), _dependency() as dependency:
        backend = create_backend(scenario, run_dir)
        try:
            backend.start()
            prometheus = backend.prometheus_url or scenario.system.prometheus_url
            raw.environment = environment(
                scenario.seed, backend.redis_version(), backend.environment()
            )
            raw.environment["metrics_source"] = "prometheus" if prometheus else "scrape"
            if prometheus:
                raw.environment["prometheus"] = PrometheusSource(prometheus).version()
                print(
                    f"lab: Prometheus at {prometheus} (a Grafana data source can point here)",
                    flush=True,
                )
            asyncio.run(_drive(scenario, backend, raw, dependency, prometheus, feed))
            raw.records = fetch_records(
                backend.redis_url, [s.task_id for s in raw.submissions if s.task_id]
            )
            with Client(backend.redis_url) as client:
                raw.breakers = [asdict(b) for b in client.breakers(DEFAULT_QUEUE)]
            if prometheus:
                # Ours scrapes every live process; a foreign one, who knows what.
                ours = (
                    [t.instance for t in backend.scrape_targets()] if backend.prometheus_url else []
                )
                interval = scenario.report.metrics_interval_seconds
                raw.metrics, note = metrics_from_prometheus(
                    prometheus, ours, raw.metrics, raw.t0_s, interval
                )
                raw.environment |= {"prometheus_note": note} if note else {}
        finally:
            backend.stop()
        raw.dependency_calls = [(c.at_s, c.status) for c in dependency.calls]
    return raw


async def _drive(
    scenario: Scenario,
    backend: Backend,
    raw: RawRun,
    dependency: Dependency,
    prometheus: str | None = None,
    feed: RunFeed | None = None,
) -> None:
    async with AsyncClient(backend.redis_url, queue_settings(scenario)) as client:
        await wait_for_workers(client, scenario.system.workers)
        sender = await create_sender(scenario, backend.api_url, backend.redis_url)
        generator = LoadGenerator(scenario, sender, gate=client)
        timeline = Timeline(backend, client, dependency)
        scraper = Scraper(
            backend,
            client,
            scenario.report.metrics_interval_seconds,
            scrape_processes=prometheus is None,
        )
        progress = Progress(
            scenario.name,
            scenario.load.duration_seconds,
            generator.progress,
            scraper,
            lambda: timeline.records,
            prometheus_url=prometheus,
            live_url=feed.url if feed else None,
        )
        resources = ResourceSampler(backend, scenario.report.metrics_interval_seconds)
        stop = asyncio.Event()
        background = [
            asyncio.create_task(scraper.run(stop)),
            asyncio.create_task(progress.run(stop)),
            asyncio.create_task(resources.run(stop)),
        ]
        if scenario.system.autoscale is not None:
            autoscale = autoscaling.follow(
                scenario.system.autoscale, backend.redis_url, timeline, stop
            )
            background.append(asyncio.create_task(autoscale))
        raw.t0_s = time.time() + START_LEAD_SECONDS
        events = asyncio.create_task(timeline.run(scenario.events, raw.t0_s))
        if feed:
            feed.attach(generator, scraper, timeline, raw.t0_s, prometheus)
        try:
            raw.submissions = await generator.run(raw.t0_s)
            raw.load_end_s = time.time()
            if feed:
                feed.load_over()
            await events
            raw.drained = await _drain(client, scenario.report.drain_timeout_seconds)
            raw.counters = (await client.stats(DEFAULT_QUEUE)).counters
        finally:
            stop.set()
            events.cancel()
            await asyncio.gather(*background, events, return_exceptions=True)
            await sender.close()
            raw.events, raw.metrics = timeline.records, scraper.rows
            raw.resources = resources.rows
            raw.cut_off = timeline.cut_off


async def wait_for_workers(client: AsyncClient, n: int, timeout_seconds: float = 30.0) -> None:
    """Until n workers have registered (each then claims within one round trip)."""
    deadline = time.monotonic() + timeout_seconds
    while len(await client.workers()) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {n} workers registered within {timeout_seconds:g} s")
        await asyncio.sleep(0.05)


async def _drain(client: AsyncClient, timeout_seconds: float) -> bool:
    """Until nothing is queued, scheduled or running: every acknowledged task has ended."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError, OSError, redis.RedisError):
            s = await asyncio.wait_for(client.stats(DEFAULT_QUEUE), 2.0)
            if s.queued == s.scheduled == s.running == 0:
                return True
        await asyncio.sleep(DRAIN_POLL_SECONDS)
    return False
