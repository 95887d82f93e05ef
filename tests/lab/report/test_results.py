"""Stored results: ``lab.results.load`` reads a run folder back, and ``lab report``
regenerates every derived file of a copied folder from its raw data alone, with the
same summary numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lab.results import NotAResultsFolder, Run, load
from tests.lab.conftest import run_lab

KILL_RUN: dict[str, Any] = {
    "name": "stored",
    "seed": 5,
    "system": {"workers": 2, "concurrency": 8, "lease_seconds": 1, "prometheus": "off"},
    "load": {
        "duration_seconds": 4,
        "arrivals": {"kind": "constant", "rate_per_second": 30},
        "mix": [{"task_type": "io", "payload": {"ms": 100}}],
    },
    "events": [
        {"at_seconds": 1.5, "action": "kill_worker", "signal": "SIGKILL", "which": "oldest"},
        {"at_seconds": 2, "action": "scale_workers", "workers": 2},
    ],
    "report": {"metrics_interval_seconds": 0.5},
}
DERIVED = ["summary.json", "report.md", "report.html", "figures"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("stored")
    path = base / "scenario.yaml"
    path.write_text(json.dumps(KILL_RUN))  # JSON is YAML
    done = run_lab("run", str(path), "--out", str(base / "results"))
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = list((base / "results").iterdir())
    return folder


def test_load_reads_the_run_as_tables(run_dir: Path) -> None:
    run = load(str(run_dir))
    assert isinstance(run, Run) and run.summary is not None
    assert run.scenario.name == "stored" and run.summary.run == run_dir.name
    assert len(run.tasks) == run.summary.offered == 120
    assert (run.tasks["state"] == "succeeded").sum() == run.summary.succeeded
    # Text columns read back as text, empty as "" (not NaN).
    assert run.tasks["error"].map(type).eq(str).all()
    assert list(run.events["action"]) == ["kill_worker", "scale_workers"]
    assert run.metrics["time"].min() > run.t0_s - 5
    assert run.environment["cpu_count"] >= 1


def test_lab_report_regenerates_a_copied_folder(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy" / run_dir.name
    shutil.copytree(run_dir, copy)
    for name in DERIVED:
        target = copy / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    done = run_lab("report", str(copy))
    assert done.returncode == 0, done.stdout + done.stderr
    original = json.loads((run_dir / "summary.json").read_text())
    assert json.loads((copy / "summary.json").read_text()) == original
    assert (copy / "report.md").read_text() == (run_dir / "report.md").read_text()
    assert {p.name for p in (copy / "figures").iterdir()} == {
        p.name for p in (run_dir / "figures").iterdir()
    }
    assert (copy / "report.html").stat().st_size > 10_000


def test_a_run_from_before_a_column_existed_still_reports(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / run_dir.name
    shutil.copytree(run_dir, old)
    tasks = pd.read_csv(old / "tasks.csv").drop(columns=["eligible_s", "worker"])
    tasks.to_csv(old / "tasks.csv", index=False)
    done = run_lab("report", str(old))
    assert done.returncode == 0, done.stderr
    run = load(old)
    assert isinstance(run, Run) and run.summary is not None
    assert run.tasks["eligible_s"].isna().all() and (run.tasks["worker"] == "").all()
    assert run.summary.succeeded == json.loads((run_dir / "summary.json").read_text())["succeeded"]


def test_report_of_a_folder_without_results_names_the_problem(tmp_path: Path) -> None:
    done = run_lab("report", str(tmp_path))
    assert done.returncode == 2
    assert "neither a run" in done.stderr
    with pytest.raises(NotAResultsFolder, match=str(tmp_path)):
        load(tmp_path)


def test_lab_compare_writes_one_table_and_overlaid_figures(run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    out = tmp_path / "cmp"
    done = run_lab("compare", str(run_dir), str(other), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(out / "compare.csv")
    assert list(table["label"]) == [run_dir.name, "other"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (table["throughput_per_second"] == summary["throughput_per_second"]).all()
    assert (table["latency_p99_s"] == summary["latency_s"]["p99"]).all()
    assert {p.name for p in (out / "figures").iterdir()} == {
        f"{name}.{ext}" for name in ("throughput", "latency_cdf") for ext in ("png", "pdf")
    }
    assert "Comparison of 2 result folder(s)" in (out / "report.md").read_text()
    assert run_lab("compare", str(tmp_path / "cmp")).returncode == 2  # not a results folder


def test_recovery_of_the_kill_is_in_the_summary_and_report(run_dir: Path) -> None:
    run = load(run_dir)
    assert run.summary is not None
    (kill,) = run.summary.recovery
    assert kill.action == "kill_worker"
    assert kill.start_s == pytest.approx(run.events["effective_s"].iloc[0], abs=1e-3)
    assert kill.throughput_before_per_second > 0
    assert "Recovery (per fault)" in (run_dir / "report.md").read_text()
