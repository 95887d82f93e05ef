"""backpressure.yaml and backpressure_unprotected.yaml in a short form: under the same 2x
overload, admission control keeps the queue and the latency of accepted tasks bounded and
refuses the rest with 429; without it every submit is accepted and the backlog grows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.lab.conftest import REPO, run_lab


def short_run(
    name: str, scenario_file: Callable[..., Path], out: Path
) -> tuple[dict[str, Any], pd.DataFrame]:
    scenario = yaml.safe_load((REPO / "scenarios" / f"{name}.yaml").read_text())
    scenario["load"]["duration_seconds"] = 10
    scenario["report"] = {"drain_timeout_seconds": 60, "metrics_interval_seconds": 0.5}
    done = run_lab(
        "run", str(scenario_file(scenario, f"{name}.yaml")), "--out", str(out), timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary, pd.read_csv(run_dir / "tasks.csv")


def test_admission_bounds_what_the_unprotected_run_lets_grow(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    guarded, g_tasks = short_run("backpressure", scenario_file, tmp_path / "with")
    open_, o_tasks = short_run("backpressure_unprotected", scenario_file, tmp_path / "without")
    # The same offered load: 80 tasks/s for 10 s, against ~40 tasks/s of capacity.
    assert guarded["offered"] == open_["offered"] == 800
    # Without admission control nothing is refused for depth (429) and everything waits.
    # (A 503 can still happen if the loaded machine delays a Redis reply past the API's
    # timeout: refused, not lost, so the lab counts it as "unavailable".)
    assert "rejected" not in open_["submit"] and open_["submit"]["accepted"] >= 760
    assert open_["lost"] == 0
    assert open_["queue_depth_max"] > 250
    # With it, the overflow is refused (429, not lost, never an error) ...
    rejected = guarded["submit"].get("rejected", 0)
    assert rejected > 150 and guarded["submit_errors"] == 0 and guarded["lost"] == 0
    assert (g_tasks[g_tasks["submit"] == "rejected"]["task_id"].isna()).all()
    # ... and the queue and the latency of what was accepted stay bounded.
    assert guarded["queue_depth_max"] < 200 < open_["queue_depth_max"]
    assert guarded["latency_s"]["p99"] < 6 < open_["latency_s"]["p99"]
    assert guarded["passed"] and open_["passed"]
    assert len(o_tasks) == len(g_tasks)
