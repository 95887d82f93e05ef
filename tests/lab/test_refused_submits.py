"""A run whose submits the API refuses fails, naming the reason; with ``TASKQ_API_KEYS``
exported (as docker-compose users do), the lab's sender sends the key its API child uses."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.lab.conftest import REPO, lab_command

TINY: dict[str, Any] = {
    "name": "tiny",
    "system": {"workers": 1, "concurrency": 4},
    "load": {
        "duration_seconds": 2,
        "arrivals": {"kind": "constant", "rate_per_second": 10},
        "mix": [{"task_type": "echo", "payload": {"x": 1}}],
    },
    "checks": {"no_task_lost": True, "drained_within_seconds": 20},
    "report": {"metrics_interval_seconds": 0.5},
}


def run(path: Path, out: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = subprocess.run(
        [*lab_command("run", str(path), "--out", str(out))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    (run_dir,) = list(out.iterdir())
    return done, json.loads((run_dir / "summary.json").read_text())


def check(summary: Any, name: str) -> Any:
    (found,) = [c for c in summary["checks"] if c["name"] == name]
    return found


def test_the_sender_uses_the_exported_api_key(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    # The first key may only read: the sender must pick the one that may submit.
    keys = "reader-key-0123456789:read,lab-test-key-0123456789:submit+read"
    done, summary = run(scenario_file(TINY), tmp_path / "out", TASKQ_API_KEYS=keys)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["accepted"] == summary["offered"] == 20
    assert check(summary, "accepted_share_at_least")["passed"] is True


def test_a_run_whose_submits_are_refused_fails_naming_why(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    # Every payload is over the API's limit: every submit gets a 4xx.
    scenario = {
        **TINY,
        "system": {**TINY["system"], "env": {"TASKQ_QUEUE__MAX_PAYLOAD_BYTES": "1"}},
    }
    done, summary = run(scenario_file(scenario), tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary["accepted"] == 0
    share = check(summary, "accepted_share_at_least")
    assert share["passed"] is False
    assert "0 of 20 submits acknowledged" in share["detail"], share
    assert "20 error" in share["detail"] and "payload" in share["detail"], share
    assert "[FAIL] accepted_share_at_least" in done.stdout
