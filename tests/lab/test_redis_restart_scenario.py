"""redis_restart.yaml in a short form: Redis crashes under load and comes back from its
append-only file, later it stops answering for 2 s; every acknowledged task ends and the
API refused with 503 (never a 500) while Redis did not answer. The same crash without
persistence loses acknowledged tasks, and the run says so (exit code, ``lost``): the check
can fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.lab.conftest import REPO, run_lab


def short_run(
    persistence: str, scenario_file: Callable[..., Path], out: Path
) -> tuple[int, dict[str, Any], pd.DataFrame]:
    scenario = yaml.safe_load((REPO / "scenarios" / "redis_restart.yaml").read_text())
    scenario["system"]["redis"]["persistence"] = persistence
    scenario["load"]["duration_seconds"] = 8
    scenario["events"] = [
        {"at_seconds": 2, "action": "restart_redis", "crash": True},
        {"at_seconds": 4, "action": "pause", "target": "redis"},  # a 2 s outage
        {"at_seconds": 6, "action": "resume", "target": "redis"},
    ]
    scenario["report"] = {"drain_timeout_seconds": 20, "metrics_interval_seconds": 0.5}
    done = run_lab("run", str(scenario_file(scenario, f"{persistence}.yaml")), "--out", str(out))
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    return done.returncode, summary, pd.read_csv(run_dir / "tasks.csv")


def test_aof_always_keeps_every_acknowledged_task(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    code, summary, tasks = short_run("aof-always", scenario_file, tmp_path / "always")
    assert code == 0, summary["checks"]
    assert summary["lost"] == 0 and summary["submit_errors"] == 0
    (restart,) = summary["redis_restarts"]
    assert 0 < restart["recovery_s"] < 10
    accepted = tasks[tasks["submit"] == "accepted"]
    assert len(accepted) == summary["accepted"] and (accepted["state"] == "succeeded").all()
    # Submits sent while Redis was stopped were refused with 503 and offered again: counted
    # by reason, and not held against the API (they fell in the fault windows).
    assert (tasks["refusals"] > 0).any()
    load = summary["load"]
    assert load["refused_503"] == int(tasks["refused_503"].sum()) > 0
    assert load["refused_429"] == 0 and load["errors"] == 0
    assert "api" not in [b["what"] for b in summary["verdict"]["bottlenecks"]]


def test_without_persistence_the_crash_loses_tasks_and_the_run_fails(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    code, summary, _ = short_run("none", scenario_file, tmp_path / "none")
    assert code != 0
    assert summary["lost"] > 0
    failed = {c["name"] for c in summary["checks"] if not c["passed"]}
    assert "no_task_lost" in failed
