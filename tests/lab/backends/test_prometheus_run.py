"""``lab run`` with ``system.prometheus: on``: the local backend starts a real Prometheus,
points it at the API and the workers through file-based discovery, and metrics.csv is
read back from it (fails, not skips, on CI when the binary is missing). Without the
binary, ``auto`` falls back to the lab's own scrape of every process and ``on`` is a clear
error."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from lab.backends.local import LocalBackend
from lab.scenario.model import Scenario
from tests.lab.conftest import run_lab
from tests.monitoring.conftest import need

SCALED: dict[str, Any] = {
    "name": "prom",
    "seed": 5,
    # One task at a time per worker (about 13 tasks/s) under 20 tasks/s: a backlog builds,
    # so the worker spawned mid-run gets tasks however late a loaded machine starts it.
    "system": {"workers": 1, "concurrency": 1, "prometheus": "on"},
    "load": {
        "duration_seconds": 4,
        "arrivals": {"kind": "constant", "rate_per_second": 20},
        "mix": [
            {"task_type": "io", "weight": 3, "payload": {"ms": 100}},
            {"task_type": "echo", "payload": {"x": 1}},
        ],
    },
    "events": [{"at_seconds": 1.5, "action": "scale_workers", "workers": 2}],
    "checks": {"no_task_lost": True, "drained_within_seconds": 20},
    "report": {"metrics_interval_seconds": 0.5},
}


def _label(metrics: pd.DataFrame, name: str) -> pd.Series[str]:
    return metrics["labels"].str.extract(f"(?:^|,){name}=([^,]*)", expand=False)


def _final_total(metrics: pd.DataFrame, name: str, where: str = "") -> float:
    """Sum over series of each series' last value (a counter at the end of the run)."""
    rows = metrics[(metrics["metric"] == name) & metrics["labels"].str.contains(where)]
    return float(rows.sort_values("time").groupby("labels")["value"].last().sum())


@pytest.mark.prometheus
def test_metrics_come_from_a_prometheus_that_follows_scaling(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    need("prometheus", "prometheus")
    out = tmp_path / "results"
    done = run_lab("run", str(scenario_file(SCALED)), "--out", str(out), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = list(out.iterdir())
    assert "lab: Prometheus at http://127.0.0.1:" in done.stdout

    environment = json.loads((run_dir / "environment.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert environment["metrics_source"] == summary["metrics_source"] == "prometheus"
    assert environment["prometheus"] == summary["prometheus"]
    assert str(environment["prometheus"]).split(".")[0].isdigit()
    assert "prometheus_note" not in environment and summary["metrics_note"] is None
    assert (run_dir / "logs" / "prometheus.log").exists()
    assert (run_dir / "prometheus" / "prometheus.yml").exists()

    metrics = pd.read_csv(run_dir / "metrics.csv")
    tasks = pd.read_csv(run_dir / "tasks.csv")
    events = pd.read_csv(run_dir / "events.csv")
    metrics["job"] = _label(metrics, "job")
    metrics["instance"] = _label(metrics, "instance")
    # Every process row is a range-query point (on one 0.5 s grid ending at the run's end)
    # and only Prometheus writes `up`: the lab did not scrape the processes itself.
    processes = metrics[metrics["job"] != "lab"]
    offsets = (processes["time"].max() - processes["time"]) / 0.5
    assert ((offsets - offsets.round()).abs() < 0.01).all()
    up = metrics[metrics["metric"] == "up"]
    assert set(up["job"]) == {"taskq-api", "taskq-worker"}
    # (recording rules aggregate the job label away)
    assert set(metrics["job"].dropna()) == {"lab", "taskq-api", "taskq-worker"}
    # Series the figures read (the lab sampler) and their Prometheus counterparts.
    for name in ("taskq_lab_queue_depth", "taskq_lab_worker_processes", "taskq_queue_depth"):
        assert (metrics["metric"] == name).any(), name
    assert metrics[metrics["metric"].str.contains(":")].shape[0] > 0  # recording rules

    # The worker spawned by the scale event was discovered (file_sd) and scraped.
    workers = up[up["job"] == "taskq-worker"]
    (listed,) = json.loads((run_dir / "prometheus" / "workers.json").read_text())
    assert set(workers["instance"]) == set(listed["targets"]) and len(listed["targets"]) == 2
    first_seen = workers[workers["value"] == 1].groupby("instance")["time"].min().sort_values()
    # Scaled 1.5 s into the load: the new one appears then, not at the start.
    assert events["action"].tolist() == ["scale_workers"]
    assert first_seen.iloc[1] - first_seen.iloc[0] >= 1.0
    new = metrics[(metrics["instance"] == first_seen.index[1])]
    assert _final_total(new, "taskq_task_executions_total", "outcome=succeeded") > 0

    # Counters agree with the task table.
    accepted = tasks[tasks["submit"] == "accepted"]
    succeeded = int((accepted["state"] == "succeeded").sum())
    assert succeeded == len(accepted) == len(tasks) > 0
    assert _final_total(metrics, "taskq_task_executions_total", "outcome=succeeded") == succeeded
    assert _final_total(metrics, "taskq_tasks_submitted_total") == len(accepted)


def _without_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty PATH: no prometheus (Redis is then the embedded one; the lab runs as
    # sys.executable, with its absolute path).
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_prometheus_on_without_the_binary_is_a_clear_error(
    scenario_file: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_binaries(tmp_path, monkeypatch)
    done = run_lab("run", str(scenario_file(SCALED)), "--out", str(tmp_path / "results"))
    assert done.returncode != 0
    assert "system.prometheus is 'on'" in done.stderr
    assert "Traceback" not in done.stderr


def test_auto_without_the_binary_scrapes_every_process_itself(
    scenario_file: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_binaries(tmp_path, monkeypatch)
    scenario = {**SCALED, "system": {**SCALED["system"], "prometheus": "auto"}}
    out = tmp_path / "results"
    done = run_lab("run", str(scenario_file(scenario)), "--out", str(out), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Prometheus at" not in done.stdout
    (run_dir,) = list(out.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics_source"] == "scrape" and summary["prometheus"] is None
    assert not (run_dir / "prometheus").exists()
    metrics = pd.read_csv(run_dir / "metrics.csv")
    metrics["instance"] = _label(metrics, "instance")
    workers = metrics[_label(metrics, "job") == "taskq-worker"]
    assert workers["instance"].nunique() == 2  # each worker's own --metrics-port
    assert not (metrics["metric"] == "up").any()
    # Worker counters reach the final count (the lab scrapes until the drain ends).
    tasks = pd.read_csv(run_dir / "tasks.csv")
    succeeded = int((tasks["state"] == "succeeded").sum())
    assert _final_total(workers, "taskq_task_executions_total", "outcome=succeeded") == succeeded


@pytest.mark.prometheus
def test_prometheus_drops_a_killed_worker(tmp_path: Path) -> None:
    """File-based discovery follows exits too: after a SIGKILL the worker leaves the list
    and Prometheus's active targets."""
    need("prometheus", "prometheus")
    scenario = Scenario.model_validate(
        {
            "name": "kill",
            "system": {"workers": 2, "prometheus": "on"},
            "report": {"metrics_interval_seconds": 0.5},
        }
    )
    backend = LocalBackend(scenario, tmp_path)
    try:
        backend.start()
        url = backend.prometheus_url
        assert url is not None

        def active_workers() -> set[str]:
            reply = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}).json()
            targets = reply["data"]["activeTargets"]
            return {
                t["labels"]["instance"] for t in targets if t["labels"]["job"] == "taskq-worker"
            }

        before = active_workers()
        assert len(before) == 2
        killed = backend.signal_worker("oldest", signal.SIGKILL)
        assert killed is not None and killed.pid is not None
        deadline = time.monotonic() + 20
        while not backend.worker_exited(killed.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (listed,) = json.loads((tmp_path / "prometheus" / "workers.json").read_text())
        assert len(listed["targets"]) == 1 and set(listed["targets"]) < before
        while active_workers() != set(listed["targets"]):  # within a discovery round (5 s)
            assert time.monotonic() < deadline, active_workers()
            time.sleep(0.2)
        # The killed worker's multiprocess metric files were in the run folder ...
        assert (tmp_path / "worker-metrics" / "worker-1").is_dir()
    finally:
        backend.stop()
    assert not (tmp_path / "worker-metrics").exists()  # ... and are gone with the run
