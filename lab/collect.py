"""Collection: per-task records from Redis, and metric time series in one table shape.

Metric rows are ``(time, metric, labels, value)`` whatever their source, with ``labels``
a sorted ``k=v,k=v`` string carrying ``job`` and ``instance`` as Prometheus would:

- ``Scraper``: the lab's own scrape of every ``/metrics`` target each interval (unless a
  Prometheus scrapes them), plus the lab's sampler (``job=lab``): queue depth by state,
  queue counters, worker processes alive and workers registered. The sampler always runs
  (it feeds the figures and the progress display).
- ``PrometheusSource``: when a Prometheus runs (the backend's, or the scenario's
  ``prometheus_url``), the processes' series read back over its HTTP API with
  prometheus-api-client as range queries over the run, at the sampling interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from lab.backends import Backend, ScrapeTarget
from lab.backends.prometheus import wait_until_scraped
from lab.load import Submission
from system.client import AsyncClient
from system.core.keys import queue_keys, queue_of
from system.core.submission import DEFAULT_QUEUE

MetricRow = tuple[float, str, str, float]
FETCH_CHUNK = 1000
MAX_POINTS_PER_QUERY = 10_000


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


class PrometheusSource:
    """The run's series from a Prometheus: every taskq series, the recording rules' series
    and ``up``, as rows of the same shape as the lab's own scrape."""

    QUERY = '{__name__=~".*taskq_.*|up"}'

    def __init__(self, url: str) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url
        self.prom = PrometheusConnect(url=url, disable_ssl=True, timeout=30)

    def version(self) -> str:
        reply = httpx.get(f"{self.url}/api/v1/status/buildinfo", timeout=5).json()
        return str(reply["data"]["version"])

    def fetch(self, start: float, end: float, step_seconds: float) -> list[MetricRow]:
        """Every series from ``start`` to ``end`` at ``step_seconds``. The last evaluation
        falls exactly on ``end``, so the newest samples are included."""
        steps = max(1, math.ceil((end - start) / step_seconds))
        rows: list[MetricRow] = []
        # Prometheus answers at most 11,000 points per series and query.
        for first_step in range(0, steps + 1, MAX_POINTS_PER_QUERY):  # points 0..steps
            last_step = min(steps, first_step + MAX_POINTS_PER_QUERY - 1)
            rows += self._range(
                end - (steps - first_step) * step_seconds,
                end - (steps - last_step) * step_seconds,
                step_seconds,
            )
        return rows

    def _range(self, first: float, last: float, step_seconds: float) -> list[MetricRow]:
        series = self.prom.custom_query_range(
            self.QUERY,
            start_time=datetime.fromtimestamp(first, UTC),
            end_time=datetime.fromtimestamp(last, UTC),
            step=repr(step_seconds),  # seconds; Prometheus reads "0.5s" as invalid
            # The client rounds start and end to whole seconds; these override that (half
            # a step of slack: ``last`` is evaluated whatever the rounding to milliseconds).
            params={"start": f"{first:.3f}", "end": f"{last + step_seconds / 2:.3f}"},
        )
        rows: list[MetricRow] = []
        for s in series:
            labels = dict(s["metric"])
            name = labels.pop("__name__")
            for at, value in s["values"]:
                rows.append((float(at), name, labels_text(labels), float(value)))
        return rows


def metrics_from_prometheus(
    url: str, instances: Sequence[str], rows: list[MetricRow], t0_s: float, interval_seconds: float
) -> tuple[list[MetricRow], str | None]:
    """The lab sampler's rows kept, the processes' series from Prometheus, once it has
    scraped each of ``instances`` after now (the series end with the final counts).
    A Prometheus that fails here costs the process series, not the run: the note says so."""
    from prometheus_api_client.exceptions import PrometheusApiClientException
    from requests import RequestException

    sampler = [r for r in rows if "job=lab" in r[2]]
    note = None
    try:
        if not wait_until_scraped(url, instances, time.time(), 2 * interval_seconds + 10):
            note = "not every target was scraped after the drain"
        return sampler + PrometheusSource(url).fetch(t0_s, time.time(), interval_seconds), note
    except (httpx.HTTPError, RequestException, PrometheusApiClientException, KeyError) as exc:
        print(f"lab: reading metrics from Prometheus failed: {exc!r}", flush=True)
        return sampler, f"reading metrics from Prometheus failed: {exc!r}"


def fetch_records(redis_url: str, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every task's hash, pipelined in chunks (one round trip per chunk)."""
    out: dict[str, dict[str, Any]] = {}
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        for start in range(0, len(task_ids), FETCH_CHUNK):
            chunk = task_ids[start : start + FETCH_CHUNK]
            pipe = r.pipeline(transaction=False)
            for task_id in chunk:
                pipe.hgetall(queue_keys(queue_of(task_id)).task(task_id))
            out.update(zip(chunk, pipe.execute(), strict=True))
    return out


def _s(ms: str | None) -> float | None:
    return int(ms) / 1000 if ms else None


def task_rows(
    subs: Sequence[Submission],
    records: dict[str, dict[str, Any]],
    kinds: Sequence[str],
    t0_s: float,
) -> list[dict[str, Any]]:
    """One row per submission: the generator's view joined with the task's record.
    Times are seconds from the start of the load; latency is finished - intended."""

    def rel(t: float | None) -> float | None:
        return None if t is None else t - t0_s

    rows = []
    for sub in subs:
        h = records.get(sub.task_id or "", {})
        finished = _s(h.get("finished_ms"))
        state = h.get("state") or ("missing" if sub.status == "accepted" else "")
        rows.append(
            {
                "seq": sub.seq,
                "task_id": sub.task_id or "",
                "task_type": kinds[sub.kind],
                "intended_s": rel(sub.intended_s),
                "sent_s": rel(sub.sent_s),
                "acked_s": rel(sub.acked_s),
                "send_lag_s": None if sub.sent_s is None else sub.sent_s - sub.intended_s,
                "submit": sub.status,
                "refusals": sub.refusals,
                "state": state,
                "attempts": int(h.get("attempts", 0)),
                "worker": h.get("worker", ""),
                # An absent eligible_ms means "when created" (the queue stores no default).
                "eligible_s": rel(_s(h.get("eligible_ms") or h.get("created_ms"))),
                "started_s": rel(_s(h.get("started_ms"))),
                "finished_s": rel(finished),
                "latency_s": None if finished is None else finished - sub.intended_s,
                "error": h.get("error") or sub.error or "",
            }
        )
    return rows
