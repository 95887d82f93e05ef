"""The results folder of a run::

scenario.resolved.yaml  environment.json  run.json  tasks.csv  events.csv  metrics.csv
[dependency.csv]  logs/*.log                          <- raw, written once by ``lab run``
summary.json  report.md  report.html  figures/*.png   <- derived: ``derive`` / ``lab report``

``lab run`` writes the raw files and then derives the rest *from the files*, exactly as
``lab report`` does later, so a report regenerated from a copied folder says the same.
``load`` (from ``lab.stored``) reads a run or a sweep folder back as pandas tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from lab import analysis, breaker_analysis, capacity, figures, partition_analysis, recovery, report
from lab.checks import CheckResult, evaluate
from lab.collect import task_rows
from lab.runner import RawRun
from lab.scenario import CUT_OFF_ACTIONS, Scenario
from lab.scenario_file import dump_resolved
from lab.stored import RUN_FILE, TASK_COLUMNS, Run, Sweep, load, read_run

__all__ = ["Run", "Sweep", "derive", "load", "write_raw", "write_results"]

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
    write_raw(scenario, raw, run_dir)
    return derive(run_dir)


def write_raw(scenario: Scenario, raw: RawRun, run_dir: Path) -> None:
    """The raw tables and run.json: everything ``derive`` needs, nothing derived."""
    kinds = [k.task_type for k in scenario.load.mix]
    tasks = pd.DataFrame(task_rows(raw.submissions, raw.records, kinds, raw.t0))
    if tasks.empty:
        tasks = pd.DataFrame(columns=TASK_COLUMNS)
    tasks.to_csv(run_dir / "tasks.csv", index=False)
    _events_frame(raw).to_csv(run_dir / "events.csv", index=False)
    metrics = pd.DataFrame(raw.metrics, columns=["time", "metric", "labels", "value"])
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    if raw.dependency_calls:
        calls = pd.DataFrame(raw.dependency_calls, columns=["time", "status"])
        calls.insert(1, "time_s", calls["time"] - raw.t0)
        calls.to_csv(run_dir / "dependency.csv", index=False)
    (run_dir / "environment.json").write_text(json.dumps(raw.environment, indent=2) + "\n")
    meta = {
        "run": run_dir.name,
        "t0": raw.t0,
        "load_end": raw.load_end,
        "drained": raw.drained,
        "counters": raw.counters,
        "breakers": raw.breakers,
        "cut_off": raw.cut_off,
    }
    (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=2, default=_json) + "\n")


def derive(run_dir: Path) -> tuple[dict[str, Any], list[CheckResult]]:
    """summary.json, figures and report files from the raw files of ``run_dir``."""
    run = read_run(run_dir)
    summary, checks = _summary(run)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json) + "\n")
    _report(run, summary, checks)
    return summary, checks


def _summary(run: Run) -> tuple[dict[str, Any], list[CheckResult]]:
    scenario, tasks, events, metrics, t0 = run.scenario, run.tasks, run.events, run.metrics, run.t0
    counters: dict[str, int] = run.meta.get("counters", {})
    load_end_s = float(run.meta["load_end"]) - t0
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "run": run.name,
        "drained": run.meta.get("drained"),
        "metrics_source": run.environment.get("metrics_source"),
        "prometheus": run.environment.get("prometheus"),
        "metrics_note": run.environment.get("prometheus_note"),
    }
    summary |= analysis.summarize(tasks, events, counters, load_end_s)
    win = analysis.windows(tasks, scenario.report.window_seconds)
    workers = analysis.lab_series(metrics, "taskq_lab_worker_processes", t0)
    summary["phases"] = analysis.phases(tasks, events, workers, load_end_s)
    depth = analysis.lab_series(metrics, "taskq_lab_queue_depth", t0, "state=queued")
    summary["queue_depth_max"] = float(depth.max()) if len(depth) else None
    summary["saturation"] = analysis.saturation(
        win, depth, scenario.report.runaway_latency_seconds, scenario.report.runaway_backlog_tasks
    )
    if scenario.system.autoscale is not None:
        summary["autoscale"] = analysis.workers_followed(workers, events, load_end_s)
    reclaimed = analysis.lab_series(
        metrics, "taskq_lab_queue_events_total", t0, "event=lease_expired"
    )
    faults = recovery.recovery(
        tasks, events, depth, load_end_s, scenario.report.window_seconds, run.dependency,
        reclaimed,
    )  # fmt: skip
    if faults:
        summary["recovery"] = faults
    if scenario.load.mode == "backlog":
        summary["capacity"] = capacity.drain_capacity(
            tasks, scenario.report.warmup_share, scenario.report.tail_share
        )
    checks = evaluate(scenario.checks, summary)
    if scenario.checks.circuit_breaker is not None:
        guarded = scenario.checks.circuit_breaker
        calls = (
            []
            if run.dependency is None
            else list(zip(run.dependency["time"], run.dependency["status"], strict=True))
        )
        summary["circuit_breaker"] = breaker_analysis.summarize(
            tasks, events, calls, run.meta.get("breakers", []), counters,
            guarded.task_type, t0,
        )  # fmt: skip
        checks += breaker_analysis.evaluate(guarded, summary["circuit_breaker"])
    if any(e.action in CUT_OFF_ACTIONS for e in scenario.events):
        summary["partition"] = partition_analysis.summarize(
            tasks, events, run.meta.get("cut_off", {}), counters, load_end_s
        )
        if scenario.checks.partition is not None:
            checks += partition_analysis.evaluate(scenario.checks.partition, summary["partition"])
    summary["checks"] = [c.as_dict() for c in checks]
    summary["passed"] = all(c.passed for c in checks)
    return summary, checks


def _report(run: Run, summary: dict[str, Any], checks: list[CheckResult]) -> None:
    run_dir, events = run.path, run.events
    win = analysis.windows(run.tasks, run.scenario.report.window_seconds)
    paths = figures.draw_all(run_dir / "figures", run.tasks, win, events, run.metrics, run.t0)
    rel = [p.relative_to(run_dir) for p in paths]
    event_rows: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()}
        for row in events.round(3).astype(object).where(events.notna(), None).to_dict("records")
    ]
    blocks = report.blocks(run.scenario, summary, checks, event_rows, rel, run.environment)
    (run_dir / "report.md").write_text(report.markdown(blocks))
    (run_dir / "report.html").write_text(report.html_page(blocks, run_dir, run.scenario.name))


def _json(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
