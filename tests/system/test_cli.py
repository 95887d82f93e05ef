"""The taskq command line, run as a user runs it (real processes, real Redis)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from system.supervisor import WorkerProcess

TASKQ = [sys.executable, "-m", "system"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TASKQ, *args], capture_output=True, text=True, timeout=timeout)


def test_demo_runs_end_to_end_on_the_embedded_redis() -> None:
    out = run("demo", "-n", "300", "-w", "1", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "states: {'succeeded'" in out.stdout
    assert "did not finish" not in out.stderr


def test_submit_wait_and_status(
    redis_url: str, queue_name: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("-Q", queue_name)
    payload = '{"size": 3, "seed": 1}'
    out = run("submit", "matrix_multiply", "--payload", payload, "-q", queue_name,
              "--wait", "20", "--redis-url", redis_url)  # fmt: skip
    assert out.returncode == 0, out.stderr
    task_id, record = out.stdout.split("\n", 1)
    assert json.loads(record)["state"] == "succeeded"
    status = run("status", task_id, "--redis-url", redis_url)
    assert json.loads(status.stdout)["result"]["size"] == 3


def test_clear_errors_for_bad_input(redis_url: str) -> None:
    no_url = subprocess.run([*TASKQ, "submit", "echo"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, timeout=30)  # fmt: skip
    assert no_url.returncode == 2 and "TASKQ_REDIS_URL" in no_url.stderr
    bad_json = run("submit", "echo", "--payload", "{oops", "--redis-url", redis_url)
    assert bad_json.returncode == 2 and "not JSON" in bad_json.stderr
    bad_prio = run("submit", "echo", "--priority", "300", "--redis-url", redis_url)
    assert bad_prio.returncode == 1 and "priority must be 0..255" in bad_prio.stderr
    unknown = run("status", "default.nope", "--redis-url", redis_url)
    assert unknown.returncode == 1 and "no task 'default.nope'" in unknown.stderr
    assert "Traceback" not in bad_json.stderr + bad_prio.stderr + unknown.stderr
