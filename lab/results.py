"""The results folder of a run, written from its raw data::

scenario.resolved.yaml  environment.json  summary.json  report.md  report.html
tasks.csv  events.csv  metrics.csv  figures/*.png  logs/*.log
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from lab import analysis, breaker_analysis, figures, partition_analysis, report
from lab.checks import CheckResult, evaluate
from lab.collect import task_rows
from lab.runner import RawRun
from lab.scenario import CUT_OFF_ACTIONS, Scenario
from lab.scenario_file import dump_resolved

EVENT_COLUMNS = [
    "index",
    "action",
    "detail",
    "scheduled",
    "requested",
    "effective",
    "processes",
    "in_flight",
    "note",
    "lifted",
]


def write_scenario(scenario: Scenario, run_dir: Path) -> None:
    (run_dir / "scenario.resolved.yaml").write_text(dump_resolved(scenario))


def _events_frame(raw: RawRun) -> pd.DataFrame:
    events = pd.DataFrame([e.row() for e in raw.events], columns=EVENT_COLUMNS)
    for col in ("scheduled", "requested", "effective", "lifted"):
        events[f"{col}_s"] = pd.to_numeric(events.pop(col)) - raw.t0
    events["in_flight"] = pd.to_numeric(events["in_flight"])
    return events


def write_results(
    scenario: Scenario, raw: RawRun, run_dir: Path
) -> tuple[dict[str, Any], list[CheckResult]]:
    kinds = [k.task_type for k in scenario.load.mix]
    tasks = pd.DataFrame(task_rows(raw.submissions, raw.records, kinds, raw.t0))
    if tasks.empty:
        tasks = pd.DataFrame(
            columns=[
                "intended_s",
                "finished_s",
                "latency_s",
                "state",
                "submit",
                "attempts",
                "send_lag_s",
                "eligible_s",
                "started_s",
            ]
        )
    events = _events_frame(raw)
    metrics = pd.DataFrame(raw.metrics, columns=["time", "metric", "labels", "value"])
    load_end_s = raw.load_end - raw.t0

    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "run": run_dir.name,
        "drained": raw.drained,
        "metrics_source": raw.environment.get("metrics_source"),
        "prometheus": raw.environment.get("prometheus"),
        "metrics_note": raw.environment.get("prometheus_note"),
    }
    summary |= analysis.summarize(tasks, events, raw.counters, load_end_s)
    win = analysis.windows(tasks, scenario.report.window_seconds)
    workers = analysis.lab_series(metrics, "taskq_lab_worker_processes", raw.t0)
    summary["phases"] = analysis.phases(tasks, events, workers, load_end_s)
    depth = analysis.lab_series(metrics, "taskq_lab_queue_depth", raw.t0, "state=queued")
    summary["queue_depth_max"] = float(depth.max()) if len(depth) else None
    summary["saturation"] = analysis.saturation(
        win, depth, scenario.report.runaway_latency_seconds, scenario.report.runaway_backlog_tasks
    )
    if scenario.system.autoscale is not None:
        summary["autoscale"] = analysis.workers_followed(workers, events, load_end_s)
    checks = evaluate(scenario.checks, summary)
    if scenario.checks.circuit_breaker is not None:
        guarded = scenario.checks.circuit_breaker
        summary["circuit_breaker"] = breaker_analysis.summarize(
            tasks, events, raw.dependency_calls, raw.breakers, raw.counters,
            guarded.task_type, raw.t0,
        )  # fmt: skip
        checks += breaker_analysis.evaluate(guarded, summary["circuit_breaker"])
    if any(e.action in CUT_OFF_ACTIONS for e in scenario.events):
        summary["partition"] = partition_analysis.summarize(
            tasks, events, raw.cut_off, raw.counters, load_end_s
        )
        if scenario.checks.partition is not None:
            checks += partition_analysis.evaluate(scenario.checks.partition, summary["partition"])
    summary["checks"] = [c.as_dict() for c in checks]
    summary["passed"] = all(c.passed for c in checks)

    tasks.to_csv(run_dir / "tasks.csv", index=False)
    events.to_csv(run_dir / "events.csv", index=False)
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    if raw.dependency_calls:
        calls = pd.DataFrame(raw.dependency_calls, columns=["time", "status"])
        calls.insert(1, "time_s", calls["time"] - raw.t0)
        calls.to_csv(run_dir / "dependency.csv", index=False)
    (run_dir / "environment.json").write_text(json.dumps(raw.environment, indent=2) + "\n")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json) + "\n")

    paths = figures.draw_all(run_dir / "figures", tasks, win, events, metrics, raw.t0)
    rel = [p.relative_to(run_dir) for p in paths]
    event_rows: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()}
        for row in events.round(3).astype(object).where(events.notna(), None).to_dict("records")
    ]
    blocks = report.blocks(scenario, summary, checks, event_rows, rel, raw.environment)
    (run_dir / "report.md").write_text(report.markdown(blocks))
    (run_dir / "report.html").write_text(report.html_page(blocks, run_dir, scenario.name))
    return summary, checks


def _json(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
