"""The local backend's worker operations."""

from __future__ import annotations

import signal
import time
from pathlib import Path

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
