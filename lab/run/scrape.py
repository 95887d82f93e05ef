"""Metric time series in one table shape, from the lab's own scrape and its sampler.

Metric rows are ``(time, metric, labels, value)`` whatever their source, with ``labels``
a sorted ``k=v,k=v`` string carrying ``job`` and ``instance`` as Prometheus would.
``Scraper`` scrapes every ``/metrics`` target each interval (unless a Prometheus scrapes
them: then ``lab.run.prometheus_source`` reads the series back from it), and runs the
lab's sampler (``job=lab``): queue depth by state, queue counters, worker processes alive
and workers registered. The sampler always runs (it feeds the figures and the progress
display); both share one loop, so a sample and a scrape of a round have the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from lab.backends import Backend, ScrapeTarget
from system.client import AsyncClient
from system.core.submission import DEFAULT_QUEUE

MetricRow = tuple[float, str, str, float]


def labels_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def parse_exposition(text: str, at: float, target: ScrapeTarget) -> list[MetricRow]:
    rows = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = {**s.labels, "job": target.job, "instance": target.instance}
            rows.append((at, s.name, labels_text(labels), float(s.value)))
    return rows


class Scraper:
    def __init__(
        self,
        backend: Backend,
        client: AsyncClient,
        interval_seconds: float,
        *,
        scrape_processes: bool = True,
    ) -> None:
        self.backend = backend
        self.client = client
        self.interval = interval_seconds
        self.scrape_processes = scrape_processes
        self.rows: list[MetricRow] = []
        self.latest: dict[str, float] = {}  # lab sampler values, for the progress display

    async def run(self, stop: asyncio.Event) -> None:
        """Every interval until ``stop``, then once more: the series end with the counts
        as they were when the run stopped (after the drain)."""
        async with httpx.AsyncClient(timeout=self.interval) as http:
            while True:
                last_round = stop.is_set()
                started = time.time()
                await asyncio.gather(
                    self._sample(started),
                    *(self._scrape(http, t) for t in self._targets()),
                )
                if last_round:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        stop.wait(), max(0.0, started + self.interval - time.time())
                    )

    def _targets(self) -> list[ScrapeTarget]:
        return self.backend.scrape_targets() if self.scrape_processes else []

    async def _scrape(self, http: httpx.AsyncClient, target: ScrapeTarget) -> None:
        at = time.time()
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get(target.url)
            if response.status_code == 200:
                self.rows.extend(parse_exposition(response.text, at, target))

    async def _sample(self, at: float) -> None:
        """Queue depth and workers. A paused Redis would block the read: give up after
        one interval (that sample is missing from the table)."""
        values = {"taskq_lab_worker_processes": float(len(self.backend.worker_pids()))}
        with contextlib.suppress(TimeoutError, redis.RedisError, OSError):
            stats, workers = await asyncio.wait_for(
                asyncio.gather(self.client.stats(DEFAULT_QUEUE), self.client.workers()),
                self.interval,
            )
            values["taskq_lab_workers_registered"] = float(len(workers))
            for state in ("queued", "scheduled", "running", "dead"):
                values[f"taskq_lab_queue_depth|state={state}"] = float(getattr(stats, state))
            for counter, n in stats.counters.items():
                values[f"taskq_lab_queue_events_total|event={counter}"] = float(n)
        self.latest = values
        base = {"job": "lab", "instance": "lab", "queue": DEFAULT_QUEUE}
        for key, value in values.items():
            name, _, label = key.partition("|")
            extra = dict([label.split("=", 1)]) if label else {}
            self.rows.append((at, name, labels_text({**base, **extra}), value))
