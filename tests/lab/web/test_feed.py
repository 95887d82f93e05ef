"""The live page's document from a run's objects, without a run: the scrape's rows (lab
sampler and the workers' histograms), the generator's submissions, the timeline."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lab.run.generator import LoadProgress, Submission
from lab.run.timeline import EventRecord
from lab.scenario.model import Scenario
from lab.web.feed import RunFeed

SCENARIO: dict[str, Any] = {
    "name": "feed",
    "load": {
        "duration_seconds": 10,
        "arrivals": {"kind": "constant", "rate_per_second": 5},
        "mix": [{"task_type": "echo"}],
    },
    "report": {"metrics_interval_seconds": 0.5},
}


def sampler(at: float, queued: float, succeeded: float, workers: float) -> list[Any]:
    lab = "instance=lab,job=lab,queue=default"
    return [
        (at, "taskq_lab_worker_processes", lab, workers),
        (at, "taskq_lab_queue_depth", f"{lab},state=queued", queued),
        (at, "taskq_lab_queue_depth", f"{lab},state=running", 1.0),
        (at, "taskq_lab_queue_events_total", f"event=succeeded,{lab}", succeeded),
    ]


def wait_bucket(at: float, le: str, count: float) -> Any:
    labels = f"instance=w1,job=worker,le={le},queue=default,task_type=echo"
    return (at, "taskq_task_queue_wait_seconds_bucket", labels, count)


def test_document_follows_what_the_run_appends(tmp_path: Path) -> None:
    feed = RunFeed(Scenario.model_validate(SCENARIO), tmp_path)
    assert feed.document()["phase"] == "starting" and "samples" not in feed.document()
    t0 = time.time() - 2.5  # the load started 2.5 s ago
    rows: list[Any] = []
    subs: list[Submission] = []
    events: list[EventRecord] = []
    progress = LoadProgress(planned=50, sent=12, accepted=12)
    generator = SimpleNamespace(progress=progress, submissions=subs)
    scraper = SimpleNamespace(rows=rows, scrape_processes=True)
    timeline = SimpleNamespace(records=events)
    feed.attach(generator, scraper, timeline, t0, None)  # type: ignore[arg-type]

    rows += sampler(t0 + 0.5, 4, 10, 2)
    rows += [wait_bucket(t0 + 0.5, "0.1", 10), wait_bucket(t0 + 0.5, "+Inf", 10)]
    subs += [Submission(i, 0, t0 + i * 0.2) for i in range(12)]  # 5 a second
    first = feed.document()
    assert first["phase"] == "load"
    assert first["samples"]["t"] == [0.5]
    assert first["samples"]["depth_queued"] == [4]
    assert first["samples"]["ended_per_s"] == [None]  # a rate needs two samples
    # Whole seconds only (the third is under way), as steps ending at the last one's end.
    assert first["offered"] == {"t": [0, 1, 2], "per_s": [5, 5, 5]}
    assert first["latency"]["wait"]["p50"] == [0.05]

    # Later: 10 more ended in 0.5 s, a worker killed, Redis unanswered for one round.
    rows += sampler(t0 + 1.0, 2, 20, 2)
    rows.append((t0 + 1.5, "taskq_lab_worker_processes", "instance=lab,job=lab,queue=default", 1))
    events.append(EventRecord(0, "kill_worker", "signal=SIGKILL", t0 + 1.2, t0 + 1.2))
    doc = feed.document()
    assert doc["samples"]["t"] == [0.5, 1.0, 1.5]
    assert doc["samples"]["ended_per_s"] == [None, 20.0, None]
    assert doc["samples"]["worker_processes"] == [2, 2, 1]
    assert doc["samples"]["depth_queued"][2] is None  # a gap, not a zero
    (kill,) = doc["events"]
    assert kill["action"] == "kill_worker" and kill["requested_s"] == 1.2
    assert kill["effective_s"] is None
    events[0].effective_s = t0 + 1.3  # the record is updated in place when it takes effect
    assert feed.document()["events"][0]["effective_s"] == 1.3
    # Once the run is over the document stops changing (an open page then gets 304s).
    feed.interrupted()
    over = feed.document()
    assert over["phase"] == "interrupted"
    time.sleep(0.05)
    assert feed.document() == over
