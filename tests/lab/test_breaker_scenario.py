"""The circuit_breaker scenario in a short form: the dependency fails for a few seconds,
the breaker opens and holds the guarded type's calls back, the other type keeps its
throughput, the breaker closes afterwards and every deferred task succeeds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from tests.lab.conftest import REPO, run_lab


def short_form() -> dict[str, object]:
    scenario = yaml.safe_load((REPO / "scenarios" / "circuit_breaker.yaml").read_text())
    # A short window: the tumbling window may hold up to a window's worth of successes from
    # before the fault, which failures must then outnumber before it opens.
    scenario["system"]["env"] |= {
        "TASKQ_BREAKER__WINDOW_SECONDS": "2",
        "TASKQ_BREAKER__MIN_CALLS": "5",
        "TASKQ_BREAKER__OPEN_SECONDS": "2",
    }
    scenario["load"] |= {
        "duration_seconds": 16,
        "arrivals": {"kind": "poisson", "rate_per_second": 30},
    }
    scenario["events"] = [
        {"at_seconds": 4, "action": "dependency_down", "duration_seconds": 8, "delay_ms": 500}
    ]
    scenario["report"] = {"drain_timeout_seconds": 30, "metrics_interval_seconds": 0.5}
    # Opening needs min_calls failures and each half-open round lets probes through: a
    # fixed cost that weighs more in a short fault than in the full scenario's 30 s.
    scenario["checks"]["circuit_breaker"]["max_calls_share_during_fault"] = 0.6
    return scenario


def test_breaker_opens_defers_and_closes(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "results"
    done = run_lab("run", str(scenario_file(short_form())), "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    cb = summary["circuit_breaker"]
    assert cb["breaker_opens"] >= 1 and cb["breaker_state_at_end"] == "closed"
    # Without a breaker every guarded task arriving during the fault would call (and fail,
    # and call again on each retry).
    assert 0 < cb["calls_during_fault"] <= 0.6 * cb["guarded_arrived_during_fault"]
    assert cb["failed_calls_during_fault"] > 0 and cb["deferred"] > 0
    assert cb["other_types_ratio"] >= 0.8
    tasks = pd.read_csv(run_dir / "tasks.csv")
    guarded = tasks[(tasks["task_type"] == "dependency_call") & (tasks["submit"] == "accepted")]
    assert len(guarded) == cb["guarded_accepted"] > 0
    assert (guarded["state"] == "succeeded").all() and summary["lost"] == 0
    calls = pd.read_csv(run_dir / "dependency.csv")
    assert len(calls) == cb["calls_total"] and (calls["status"] == 200).sum() >= len(guarded)
    assert summary["passed"], summary["checks"]
