"""``lab run`` end to end on real processes: the results folder, a failing check, and
teardown on Ctrl-C and on the lab being killed (no process left behind)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tests.lab.conftest import REPO, lab_command, run_lab

SHORT: dict[str, Any] = {
    "name": "short",
    "description": "a kill under load, for the test suite",
    "seed": 3,
    "system": {"workers": 2, "concurrency": 8, "lease_seconds": 1},
    "load": {
        "duration_seconds": 5,
        "arrivals": {"kind": "constant", "rate_per_second": 40},
        "mix": [
            {"task_type": "io", "weight": 3, "payload": {"ms": 150}},
            {"task_type": "echo", "payload": {"x": 1}},
        ],
    },
    "events": [
        {"at_seconds": 2, "action": "kill_worker", "signal": "SIGKILL", "which": "oldest"},
        {"at_seconds": 2.5, "action": "scale_workers", "workers": 2},
    ],
    "checks": {
        "no_task_lost": True,
        "max_duplicates": "in_flight_at_kills",
        "drained_within_seconds": 20,
    },
    "report": {"metrics_interval_seconds": 0.5},
}
FILES = [
    "scenario.resolved.yaml",
    "environment.json",
    "tasks.csv",
    "events.csv",
    "metrics.csv",
    "resources.csv",
    "summary.json",
    "report.md",
    "report.html",
]
FIGURES = [
    "throughput.png",
    "latency.png",
    "queue_depth.png",
    "workers.png",
    "latency_cdf.png",
    "resources.png",
]


def only_run(out: Path) -> Path:
    (run_dir,) = list(out.iterdir())
    return run_dir


def test_short_run_end_to_end(scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "results"
    overrides = ("--set", "load.duration_seconds=5", "--set", "seed=3")  # as in the file
    done = run_lab("run", str(scenario_file(SHORT)), *overrides, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = only_run(out)
    assert run_dir.name.endswith("-short")
    for name in FILES:
        assert (run_dir / name).stat().st_size > 0, name
    for name in FIGURES:  # each for the screen (300 dpi PNG) and for print (PDF)
        assert (run_dir / "figures" / name).stat().st_size > 0, name
        assert (run_dir / "figures" / name).with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert {"api.log", "redis.log", "worker-1.log", "worker-3.log"} <= {
        p.name for p in (run_dir / "logs").iterdir()
    }
    summary = json.loads((run_dir / "summary.json").read_text())
    tasks = pd.read_csv(run_dir / "tasks.csv")
    events = pd.read_csv(run_dir / "events.csv")
    # The summary agrees with the task table.
    accepted = tasks[tasks["submit"] == "accepted"]
    assert summary["offered"] == len(tasks) == 200
    assert summary["accepted"] == len(accepted) > 0
    assert summary["succeeded"] == int((accepted["state"] == "succeeded").sum())
    assert summary["lost"] == 0 and accepted["state"].isin(["succeeded"]).all()
    extra = int((accepted["attempts"] - 1).sum())
    assert summary["executions_beyond_first"] == extra
    assert summary["duplicates"] == extra - summary["retried"]
    assert summary["latency_s"]["max"] >= summary["latency_s"]["p99"] > 0
    # The kill was recorded, with the time it took effect and what the worker held.
    kill = events[events["action"] == "kill_worker"].iloc[0]
    assert kill["effective_s"] >= kill["requested_s"] >= kill["scheduled_s"] == 2.0
    assert kill["processes"] == "worker-1" and kill["in_flight"] >= 0
    assert summary["duplicates"] <= summary["in_flight_at_kills"] == kill["in_flight"]
    assert summary["passed"] and {c["name"] for c in summary["checks"]} == {
        "no_task_lost",
        "max_duplicates",
        "drained_within",
        "accepted_share_at_least",
    }
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "report.html" in done.stdout
    # What the host and every role used, per stretch; and the verdict on the terminal.
    used = summary["resources"]
    assert used["cpus"] == os.cpu_count() and used["samples"] >= 8
    during = used["phases"][0]
    assert during["label"] == "load" and 0 <= during["host_busy_percent"] <= 100
    assert {"lab", "api", "redis", "worker"} <= set(during["rss_bytes_max"])
    assert summary["load"]["offered"] == summary["load"]["sent"] == 200
    assert f"verdict: {'conclusive' if summary['verdict']['conclusive'] else 'inconclusive'}" in (
        done.stdout
    )
    report = (run_dir / "report.md").read_text()
    assert "Resources (host and processes)" in report
    # The command line and the overrides are recorded and shown.
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["overrides"] == ["load.duration_seconds=5", "seed=3"]
    assert env["command"].startswith("lab run ") and "--set seed=3" in env["command"]
    assert "Overrides applied to the scenario file: `load.duration_seconds=5`, `seed=3`" in report
    # A fault run: the kill's redelivered tasks are the fault's effect, not a saturation.
    assert summary["saturation"] is None and "stopped keeping up" not in report


def test_failing_check_exits_non_zero(scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    scenario = {**SHORT, "events": [], "system": {"workers": 1, "concurrency": 4}}
    scenario["load"] = {**SHORT["load"], "duration_seconds": 1}
    scenario["checks"] = {"throughput_above_per_second": 1_000_000}
    out = tmp_path / "results"
    done = run_lab("run", str(scenario_file(scenario)), "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[FAIL] throughput_above" in done.stdout
    summary = json.loads((only_run(out) / "summary.json").read_text())
    assert summary["passed"] is False


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to pid (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_and_interrupt(path: Path, out: Path, sig: int) -> tuple[set[int], set[str], int]:
    """Start a long run, wait until Redis, the API and the workers run, send ``sig``.
    The lab's descendants (pids and program names), and its exit code."""
    proc = subprocess.Popen(
        lab_command("run", str(path), "--out", str(out)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    for line in proc.stdout:  # the progress line appears once the load has started
        if b"elapsed" in line or time.monotonic() > deadline:
            break
    children = descendants(proc.pid)
    programs = names(children)
    proc.send_signal(sig)
    # communicate drains the output while the lab stops (a full pipe would block its exit);
    # the bound is wide because stopping five processes is slow on a loaded machine.
    proc.communicate(timeout=90)
    return children, programs, proc.returncode


def names(pids: set[int]) -> set[str]:
    out = set()
    for pid in pids:
        try:
            out.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
    return out


def expected_children() -> int:
    """redis, api, two workers, and Prometheus (system.prometheus: auto) when installed."""
    return 5 if shutil.which("prometheus") else 4


def wait_gone(pids: set[int], timeout: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


LONG = {**SHORT, "events": [], "load": {**SHORT["load"], "duration_seconds": 60}}


def test_ctrl_c_stops_every_process(scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    children, programs, code = start_and_interrupt(scenario_file(LONG), tmp_path, signal.SIGINT)
    assert len(children) >= expected_children()
    assert ("prometheus" in programs) == (expected_children() == 5)
    assert code == 130
    assert wait_gone(children, timeout=1) == set()  # stopped before the lab exited


def test_killed_lab_leaves_no_process(scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    children, programs, code = start_and_interrupt(scenario_file(LONG), tmp_path, signal.SIGKILL)
    assert len(children) >= expected_children() and code == -signal.SIGKILL
    assert ("prometheus" in programs) == (expected_children() == 5)
    assert wait_gone(children) == set()  # each child got SIGTERM from the kernel
