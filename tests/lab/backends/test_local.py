"""The local backend's worker operations."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil

from lab.backends.local import LocalBackend
from lab.scenario.model import Scenario


def test_two_sigterms_stop_two_workers(tmp_path: Path) -> None:
    """A scale-down by two signals two workers: a worker already stopping is not picked
    again (a second SIGTERM would tell it to stop at once, and one worker too many runs)."""
    scenario = Scenario.model_validate(
        {"name": "down", "system": {"workers": 3, "prometheus": "off"}}
    )
    backend = LocalBackend(scenario, tmp_path)
    try:
        backend.start()
        first = backend.signal_worker("newest", signal.SIGTERM)
        second = backend.signal_worker("newest", signal.SIGTERM)
        assert first is not None and second is not None
        assert (first.process, second.process) == ("worker-3", "worker-2")
        deadline = time.monotonic() + 30
        while not (
            backend.worker_exited(first.pid or 0) and backend.worker_exited(second.pid or 0)
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(backend.worker_pids()) == 1
    finally:
        backend.stop()


def test_api_processes_start_that_many_servers(tmp_path: Path) -> None:
    """``system.api_processes: 2``: the API runs two server processes, which serve."""
    scenario = Scenario.model_validate(
        {"name": "api2", "system": {"workers": 0, "api_processes": 2, "prometheus": "off"}}
    )
    backend = LocalBackend(scenario, tmp_path)
    try:
        backend.start()
        supervisor = psutil.Process(backend.processes()["api"])
        servers = [
            p for p in supervisor.children() if "multiprocessing.spawn" in " ".join(p.cmdline())
        ]
        assert len(servers) == 2
        task = {"task_type": "echo", "payload": {"n": 1}}
        assert httpx.post(f"{backend.api_url}/tasks/", json=task, timeout=30).status_code == 202
    finally:
        backend.stop()
