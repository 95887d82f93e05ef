"""The results folder of a run or a sweep: its layout, writing a run's raw files, and
reading either back as pandas tables::

    scenario.resolved.yaml  environment.json  run.json  tasks.csv  events.csv  metrics.csv
    resources.csv  [dependency.csv]  logs/*.log             <- raw, written once by lab run
    summary.json  report.md  report.html  figures/*.png   <- derived (lab.report.derive)

A sweep's folder (``sweep.json``, ``cells/<run>/``...) is described in
``lab.scenario.sweep``.

``load(path)`` is the entry point for reading (also ``lab.results.load``)::

    from lab.report.folder import load
    run = load("results/20260101-120000-quickstart")   # a Run
    run.tasks, run.events, run.metrics, run.summary, run.scenario   # summary: a RunSummary
    sweep = load("results/20260101-130000-scaling_sweep")  # a Sweep
    sweep.aggregate, sweep.cells, sweep.summary, sweep.run(sweep.cells["folder"][0])

The raw files of a run (written once, by ``lab run``; each table may be gzipped, as
``tasks.csv.gz``) are ``tasks.csv``, ``events.csv``,
``metrics.csv``, ``resources.csv`` (host and process CPU / memory, ``lab.run.resources``),
``dependency.csv`` (when the dependency was called), ``run.json`` (start
time, end of the load, queue counters, breakers), ``environment.json`` and
``scenario.resolved.yaml``. Everything else is derived from them (``lab report``).
Empty text cells read back as ``""`` (not NaN), as the run wrote them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from lab.analysis.model import RunSummary
from lab.run.runner import RawRun
from lab.run.task_records import task_rows
from lab.scenario.loader import dump_resolved
from lab.scenario.model import Scenario

RUN_FILE, SWEEP_FILE, SUMMARY_FILE = "run.json", "sweep.json", "summary.json"
RESOURCES_FILE = "resources.csv"  # lab.run.resources; absent in runs from before it
# tasks.csv, in order; a run written before a column existed reads it back as empty.
TASK_COLUMNS = [
    "seq",
    "task_id",
    "task_type",
    "intended_s",
    "sent_s",
    "acked_s",
    "send_lag_s",
    "submit",
    "refusals",
    "refused_429",
    "refused_503",
    "capped",
    "state",
    "attempts",
    "worker",
    "eligible_s",
    "started_s",
    "finished_s",
    "latency_s",
    "error",
]
TEXT_COLUMNS = {
    "tasks.csv": ("task_id", "task_type", "submit", "state", "worker", "error"),
    "events.csv": ("action", "detail", "processes", "note"),
    "metrics.csv": ("metric", "labels"),
    RESOURCES_FILE: ("metric", "labels"),
}


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
    resources = pd.DataFrame(raw.resources, columns=["time", "metric", "labels", "value"])
    resources.to_csv(run_dir / RESOURCES_FILE, index=False)
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
    (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=2, default=_numpy) + "\n")


def _numpy(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


class NotAResultsFolder(ValueError):
    """The path holds neither a run (run.json) nor a sweep (sweep.json)."""


def table_path(folder: Path, name: str) -> Path:
    """``name``, or its gzipped form ``name.gz`` (archived and example results)."""
    plain = folder / name
    return (
        plain if plain.exists() or not (folder / f"{name}.gz").exists() else folder / f"{name}.gz"
    )


def read_table(path: Path) -> pd.DataFrame:
    """One stored table (``.csv`` or ``.csv.gz``), text columns as strings, ``""`` for
    empty."""
    text = TEXT_COLUMNS.get(path.name.removesuffix(".gz"), ())
    frame = pd.read_csv(path, dtype={c: str for c in text})
    for col in text:
        if col in frame:
            frame[col] = frame[col].fillna("")
    return frame


def _with_task_columns(tasks: pd.DataFrame) -> pd.DataFrame:
    """Columns a run from an older version did not write are added empty (extra ones are
    kept), so that today's analysis runs on it."""
    for col in TASK_COLUMNS:
        if col not in tasks:
            tasks[col] = "" if col in TEXT_COLUMNS["tasks.csv"] else float("nan")
    return tasks


def read_scenario(folder: Path) -> Scenario:
    data = yaml.safe_load((folder / "scenario.resolved.yaml").read_text())
    return Scenario.model_validate(data)


def read_summary(folder: Path) -> RunSummary | None:
    """A run's ``summary.json``; None before ``lab report`` (or for a run that failed)."""
    path = folder / SUMMARY_FILE
    return RunSummary.model_validate(json.loads(path.read_text())) if path.exists() else None


def _json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass
class Run:
    """One run's stored data. Times in the tables are seconds from the start of the load
    (``metrics.time`` is epoch seconds; ``t0_s`` is the start)."""

    path: Path
    scenario: Scenario
    meta: dict[str, Any]  # run.json
    tasks: pd.DataFrame
    events: pd.DataFrame
    metrics: pd.DataFrame
    dependency: pd.DataFrame | None
    environment: dict[str, Any]
    summary: RunSummary | None = None  # None before `lab report`
    resources: pd.DataFrame | None = None  # resources.csv; None in runs from before it

    @property
    def t0_s(self) -> float:
        """The start of the load, epoch seconds (``t0`` in run.json)."""
        return float(self.meta["t0"])

    @property
    def load_end_s(self) -> float:
        """The end of the load, seconds from its start (``load_end`` in run.json is epoch)."""
        return float(self.meta["load_end"]) - self.t0_s

    @property
    def name(self) -> str:
        return str(self.meta.get("run", self.path.name))


def read_run(folder: Path) -> Run:
    folder = Path(folder)
    if not (folder / RUN_FILE).exists():
        raise NotAResultsFolder(f"{folder}: no {RUN_FILE}; not a run folder written by lab run")
    dependency = table_path(folder, "dependency.csv")
    resources = table_path(folder, RESOURCES_FILE)
    return Run(
        path=folder,
        scenario=read_scenario(folder),
        meta=_json(folder / RUN_FILE),
        tasks=_with_task_columns(read_table(table_path(folder, "tasks.csv"))),
        events=read_table(table_path(folder, "events.csv")),
        metrics=read_table(table_path(folder, "metrics.csv")),
        dependency=pd.read_csv(dependency) if dependency.exists() else None,
        environment=_json(folder / "environment.json"),
        summary=read_summary(folder),
        resources=read_table(resources) if resources.exists() else None,
    )


@dataclass
class Sweep:
    """A sweep: ``cells`` has one row per run (parameters, repetition, folder, its
    numbers); ``aggregate`` one row per cell and metric (n, mean, sd, 95 % CI)."""

    path: Path
    scenario: Scenario
    meta: dict[str, Any]  # sweep.json: grid, repeat, runs
    summary: dict[str, Any]  # summary.json of the sweep (USL fit ...), {} before report
    cells: pd.DataFrame
    aggregate: pd.DataFrame

    def run(self, folder: str) -> Run:
        """One repetition's run, by its folder name (a value of ``cells["folder"]``)."""
        return read_run(self.path / "cells" / folder)

    @cached_property
    def runs(self) -> dict[str, Run]:
        return {str(f): self.run(str(f)) for f in self.cells["folder"]}

    @property
    def parameters(self) -> list[str]:
        return list(self.meta["grid"])


def read_sweep(folder: Path) -> Sweep:
    folder = Path(folder)
    if not (folder / SWEEP_FILE).exists():
        raise NotAResultsFolder(f"{folder}: no {SWEEP_FILE}; not a sweep folder")
    cells, aggregate = folder / "cells.csv", folder / "aggregate.csv"
    return Sweep(
        path=folder,
        scenario=read_scenario(folder),
        meta=_json(folder / SWEEP_FILE),
        summary=_json(folder / SUMMARY_FILE),
        cells=pd.read_csv(cells) if cells.exists() else pd.DataFrame(),
        aggregate=pd.read_csv(aggregate) if aggregate.exists() else pd.DataFrame(),
    )


def is_sweep(folder: Path) -> bool:
    return (Path(folder) / SWEEP_FILE).exists()


def load(path: str | Path) -> Run | Sweep:
    """A run folder or a sweep folder, as tables (see the module docstring)."""
    folder = Path(path)
    if is_sweep(folder):
        return read_sweep(folder)
    if (folder / RUN_FILE).exists():
        return read_run(folder)
    raise NotAResultsFolder(
        f"{folder}: neither a run ({RUN_FILE}) nor a sweep ({SWEEP_FILE}) results folder"
    )
