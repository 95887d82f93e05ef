"""A run's live data for its web page, from what the run already collects: the load
generator's counters and submissions, the scrape's metric rows (the lab sampler's queue
depth, counters and workers; the workers' histograms), the timeline's event records.

Nothing here talks to the system under test. The runner hands its objects over with
``attach`` once the load is about to start and marks the phases; the web server calls
``document`` from its own thread, which reads the lists the run appends to (new rows only,
since the last call) and answers one JSON document.

When a Prometheus scrapes the processes instead of the lab, their histograms are read
back from it (the same range query ``lab.run.prometheus_source`` makes at the end, for the
two latency families only, from where the last read stopped).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from lab.analysis.model import RunSummary
from lab.run.generator import LoadGenerator, LoadProgress, Submission
from lab.run.scrape import MetricRow, Scraper
from lab.run.timeline import EventRecord, Timeline
from lab.scenario.model import Scenario
from lab.web.histogram import WindowedHistogram

WAIT_FAMILY = "taskq_task_queue_wait_seconds"
RUN_FAMILY = "taskq_task_execution_duration_seconds"
ENDED = ("succeeded", "failed", "cancelled")  # the queue counters of tasks that ended
DEPTH_STATES = ("queued", "scheduled", "running")
LATENCY_BIN_SECONDS = 1.0
PROMETHEUS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class LiveSources:
    """What a run exposes to its live page (read only, from another thread)."""

    load: LoadProgress
    submissions: list[Submission]
    rows: list[MetricRow]  # the scrape's rows, appended as it goes
    events: Callable[[], list[EventRecord]]
    t0_s: float  # the start of the load, epoch seconds
    prometheus_url: str | None  # the processes' series are there, not in ``rows``


def _labels(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(",") if "=" in pair)


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 3)


class Phase(StrEnum):
    """Where the run is, as the page says it."""

    STARTING = "starting"  # the backend is bringing the system up
    LOAD = "load"
    DRAINING = "draining"  # the load is over; waiting for the backlog, then collecting
    REPORTING = "reporting"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class RunFeed:
    """The live page's document of one run."""

    def __init__(self, scenario: Scenario, run_dir: Path) -> None:
        self.scenario = scenario
        self.run_dir = run_dir
        self.url: str | None = None  # set by the server that serves it
        self.phase = Phase.STARTING
        self.message = ""
        self.result: dict[str, Any] | None = None
        self._ended_at: float | None = None  # the clock stops when the run is over
        self._sources: LiveSources | None = None
        self._lock = threading.Lock()
        self._rows_seen = 0
        self._subs_seen = 0
        self._rounds: dict[float, dict[str, float]] = {}  # sampler round time -> values
        self._offered: Counter[int] = Counter()  # whole seconds since t0 -> arrivals
        self._wait: WindowedHistogram | None = None
        self._run: WindowedHistogram | None = None
        self._prometheus_until: float | None = None
        self._watched = False  # a page has read the document
        self._seen = threading.Condition()
        self._phase_seen = ""  # the phase of the last document served

    # --- what the runner calls ---------------------------------------------------------

    def attach(
        self,
        generator: LoadGenerator,
        scraper: Scraper,
        timeline: Timeline,
        t0_s: float,
        prometheus_url: str | None,
    ) -> None:
        """The run's objects, once the load's start time is set."""
        sources = LiveSources(
            generator.progress,
            generator.submissions,
            scraper.rows,
            lambda: timeline.records,
            t0_s,
            None if scraper.scrape_processes else prometheus_url,
        )
        with self._lock:
            self._sources = sources
            self._wait = WindowedHistogram(WAIT_FAMILY, sources.t0_s, LATENCY_BIN_SECONDS)
            self._run = WindowedHistogram(RUN_FAMILY, sources.t0_s, LATENCY_BIN_SECONDS)
            self._prometheus_until = sources.t0_s - LATENCY_BIN_SECONDS
            self.phase = Phase.LOAD

    def load_over(self) -> None:
        self.phase = Phase.DRAINING

    def reporting(self) -> None:
        self.phase = Phase.REPORTING

    def failed(self, message: str) -> None:
        self.phase, self.message, self._ended_at = Phase.FAILED, message, time.time()

    def interrupted(self) -> None:
        self.phase, self._ended_at = Phase.INTERRUPTED, time.time()

    def finish(self, summary: RunSummary) -> None:
        """The verdict once the report is written: the checks and headline numbers."""
        lat = summary.latency_s
        self.result = {
            "passed": summary.passed,
            "checks": [
                {"name": c.name, "passed": c.passed, "detail": c.detail} for c in summary.checks
            ],
            "accepted": summary.accepted,
            "succeeded": summary.succeeded,
            "lost": summary.lost,
            "duplicates": summary.duplicates,
            "throughput_per_s": summary.throughput_per_second,
            "latency_p50_s": lat.p50,
            "latency_p99_s": lat.p99,
            "report": str(self.run_dir / "report.html"),
        }
        self.phase, self._ended_at = Phase.DONE, time.time()

    # --- what the server calls ---------------------------------------------------------

    def document(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            doc = self._document()
        with self._seen:
            self._watched, self._phase_seen = True, doc["phase"]
            self._seen.notify_all()
        return doc

    def wait_until_seen(self, timeout_seconds: float) -> None:
        """When a page is open, give it up to ``timeout_seconds`` to read the last phase
        (the verdict) before the server stops."""
        with self._seen:
            if self._watched:
                self._seen.wait_for(lambda: self._phase_seen == self.phase, timeout_seconds)

    def _advance(self) -> None:
        src = self._sources
        if src is None or self._wait is None or self._run is None:
            return
        rows = src.rows[self._rows_seen :]  # a slice copies: the run may append meanwhile
        self._rows_seen += len(rows)
        for at, metric, labels, value in rows:
            if "job=lab" in labels:
                self._sample(at, metric, labels, value)
            else:
                self._wait.add(at, metric, labels, value)
                self._run.add(at, metric, labels, value)
        subs = src.submissions[self._subs_seen :]
        self._subs_seen += len(subs)
        for sub in subs:
            self._offered[int(sub.intended_s - src.t0_s)] += 1
        if src.prometheus_url and self._ended_at is None:  # it stops with the system
            self._from_prometheus(src.prometheus_url)

    def _sample(self, at: float, metric: str, labels: str, value: float) -> None:
        lab = _labels(labels)
        key = metric.removeprefix("taskq_lab_")
        if "state" in lab:
            key = f"depth_{lab['state']}"
        elif "event" in lab:
            key = f"count_{lab['event']}"
        self._rounds.setdefault(at, {})[key] = value

    def _from_prometheus(self, url: str) -> None:
        """The latency histograms' new samples from Prometheus; a failed read is retried
        at the next call (the page shows the gap meanwhile)."""
        assert self._wait is not None and self._run is not None
        assert self._prometheus_until is not None
        step = self.scenario.report.metrics_interval_seconds
        start, end = self._prometheus_until + step, time.time()
        if end <= start:
            return
        query = '{__name__=~"' + f'{WAIT_FAMILY}_bucket|{RUN_FAMILY}_bucket"' + "}"
        try:
            reply = httpx.get(
                f"{url}/api/v1/query_range",
                params={
                    "query": query,
                    "start": f"{start:.3f}",
                    "end": f"{end:.3f}",
                    "step": repr(step),
                },
                timeout=PROMETHEUS_TIMEOUT_SECONDS,
            ).json()
            series = reply["data"]["result"]
        except (httpx.HTTPError, ValueError, KeyError):
            return
        samples = []
        for s in series:
            labels = dict(s["metric"])
            name = labels.pop("__name__")
            text = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
            samples += [(float(at), name, text, float(v)) for at, v in s["values"]]
        for row in sorted(samples):
            self._wait.add(*row)
            self._run.add(*row)
        self._prometheus_until = max((r[0] for r in samples), default=self._prometheus_until)

    # --- the document ------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        s = self.scenario
        doc: dict[str, Any] = {
            "name": s.name,
            "description": s.description.strip(),
            "phase": self.phase.value,
            "message": self.message,
            "run_dir": str(self.run_dir),
            "duration_s": s.load.duration_seconds,
            "interval_s": s.report.metrics_interval_seconds,
            "result": self.result,
        }
        src = self._sources
        if src is None:
            return doc
        load = src.load
        # Frozen once the run is over, so that an open page's polls are 304s from then on.
        doc["elapsed_s"] = round((self._ended_at or time.time()) - src.t0_s, 2)
        doc["load"] = {
            "planned": load.planned,
            "sent": load.sent,
            "accepted": load.accepted,
            "refused": load.refused,
            "failed": load.failed,
        }
        doc["samples"] = self._samples(src.t0_s)
        # Whole seconds only: the second under way would show as a drop.
        done = load.done or self.phase != Phase.LOAD
        seconds = [k for k in sorted(self._offered) if done or k + 1 <= time.time() - src.t0_s]
        per_s = [self._offered[k] for k in seconds]
        # Drawn as steps: each second's count from its start to the next; the last one
        # ends at its second's end.
        doc["offered"] = {
            "t": [*seconds, seconds[-1] + 1] if seconds else [],
            "per_s": [*per_s, per_s[-1]] if per_s else [],
        }
        doc["latency"] = self._latency()
        doc["events"] = [self._event(e, src.t0_s) for e in list(src.events())]
        return doc

    def _samples(self, t0: float) -> dict[str, list[Any]]:
        times = sorted(self._rounds)
        out: dict[str, list[Any]] = {"t": [round(t - t0, 3) for t in times]}
        for key in [f"depth_{state}" for state in DEPTH_STATES] + [
            "worker_processes",
            "workers_registered",
        ]:
            out[key] = [self._rounds[t].get(key) for t in times]
        ended: list[float | None] = []
        previous: tuple[float, float] | None = None
        for t in times:
            values = self._rounds[t]
            if "depth_queued" not in values:
                ended.append(None)  # Redis did not answer this round
                continue
            total = sum(values.get(f"count_{k}", 0.0) for k in ENDED)
            rate = None
            if previous is not None and t > previous[0]:
                rate = round(max(0.0, total - previous[1]) / (t - previous[0]), 3)
            ended.append(rate)
            previous = (t, total)
        out["ended_per_s"] = ended
        return out

    def _latency(self) -> dict[str, Any]:
        assert self._wait is not None and self._run is not None
        t, wait50 = self._wait.series(0.5)
        _, wait95 = self._wait.series(0.95)
        run_t, run95 = self._run.series(0.95)
        return {
            "wait": {"t": t, "p50": wait50, "p95": wait95},
            "run": {"t": run_t, "p95": run95},
            "bin_s": LATENCY_BIN_SECONDS,
        }

    @staticmethod
    def _event(e: EventRecord, t0: float) -> dict[str, Any]:
        return {
            "index": e.index,
            "action": e.action,
            "detail": e.detail,
            "processes": e.processes,
            "in_flight": e.in_flight,
            "note": e.note,
            "scheduled_s": _rel(e.scheduled_s, t0),
            "requested_s": _rel(e.requested_s, t0),
            "effective_s": _rel(e.effective_s, t0),
            "lifted_s": _rel(e.lifted_s, t0),
        }
