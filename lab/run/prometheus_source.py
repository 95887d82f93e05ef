"""Metric time series from a Prometheus, in the table shape of ``lab.run.scrape``.

When a Prometheus runs (the backend's, or the scenario's ``prometheus_url``), the
processes' series are read back over its HTTP API with prometheus-api-client as range
queries over the run, at the sampling interval; the lab sampler's own rows are kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from lab.backends.prometheus import wait_until_scraped
from lab.run.scrape import MetricRow, labels_text

MAX_POINTS_PER_QUERY = 10_000


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
