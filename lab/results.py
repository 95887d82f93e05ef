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

from lab import figures, report
from lab.analysis.model import RunSummary
from lab.analysis.series import windows
from lab.analysis.summary import summarize
from lab.run.runner import RawRun
from lab.run.task_records import task_rows
from lab.scenario.loader import dump_resolved
from lab.scenario.model import Scenario
from lab.stored import RUN_FILE, SUMMARY_FILE, TASK_COLUMNS, Run, Sweep, load, read_run

__all__ = ["Run", "Sweep", "derive", "load", "write_raw", "write_results"]

# events.csv, in order; the times are seconds from the start of the load.
EVENT_TIMES = ["scheduled_s", "requested_s", "effective_s", "lifted_s"]
EVENT_COLUMNS = ["index", "action", "detail", "processes", "in_flight", "note", *EVENT_TIMES]


def write_scenario(scenario: Scenario, run_dir: Path) -> None:
    (run_dir / "scenario.resolved.yaml").write_text(dump_resolved(scenario))


def _events_frame(raw: RawRun) -> pd.DataFrame:
    events = pd.DataFrame([e.row() for e in raw.events], columns=EVENT_COLUMNS)
    for col in EVENT_TIMES:  # epoch seconds in the records
        events[col] = pd.to_numeric(events[col]) - raw.t0_s
    events["in_flight"] = pd.to_numeric(events["in_flight"])
    return events


def write_results(scenario: Scenario, raw: RawRun, run_dir: Path) -> RunSummary:
    write_raw(scenario, raw, run_dir)
    return derive(run_dir)


def write_raw(scenario: Scenario, raw: RawRun, run_dir: Path) -> None:
    """The raw tables and run.json: everything ``derive`` needs, nothing derived."""
    kinds = [k.task_type for k in scenario.load.mix]
    tasks = pd.DataFrame(task_rows(raw.submissions, raw.records, kinds, raw.t0_s))
    if tasks.empty:
        tasks = pd.DataFrame(columns=TASK_COLUMNS)
    tasks.to_csv(run_dir / "tasks.csv", index=False)
    _events_frame(raw).to_csv(run_dir / "events.csv", index=False)
    metrics = pd.DataFrame(raw.metrics, columns=["time", "metric", "labels", "value"])
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    if raw.dependency_calls:
        calls = pd.DataFrame(raw.dependency_calls, columns=["time", "status"])
        calls.insert(1, "time_s", calls["time"] - raw.t0_s)
        calls.to_csv(run_dir / "dependency.csv", index=False)
    (run_dir / "environment.json").write_text(json.dumps(raw.environment, indent=2) + "\n")
    meta = {
        "run": run_dir.name,
        "t0": raw.t0_s,
        "load_end": raw.load_end_s,
        "drained": raw.drained,
        "counters": raw.counters,
        "breakers": raw.breakers,
        "cut_off": raw.cut_off,
    }
    (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=2, default=_json) + "\n")


def derive(run_dir: Path) -> RunSummary:
    """summary.json, figures and report files from the raw files of ``run_dir``."""
    run = read_run(run_dir)
    summary = summarize(run)
    text = json.dumps(summary.model_dump(mode="json"), indent=2)
    (run_dir / SUMMARY_FILE).write_text(text + "\n")
    _report(run, summary)
    return summary


def _report(run: Run, summary: RunSummary) -> None:
    run_dir, events = run.path, run.events
    win = windows(run.tasks, run.scenario.report.window_seconds)
    paths = figures.draw_all(run_dir / "figures", run.tasks, win, events, run.metrics, run.t0_s)
    rel = [p.relative_to(run_dir) for p in paths]
    event_rows: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()}
        for row in events.round(3).astype(object).where(events.notna(), None).to_dict("records")
    ]
    blocks = report.blocks(run.scenario, summary, event_rows, rel, run.environment)
    (run_dir / "report.md").write_text(report.markdown(blocks))
    (run_dir / "report.html").write_text(report.html_page(blocks, run_dir, run.scenario.name))


def _json(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
