"""Where a scenario's system runs (``system.backend``): ``local`` (child processes on
this machine, the default) or ``docker`` (one container per role, ``lab.backends.docker``).
Both implement the ``Backend`` protocol."""

from __future__ import annotations

from pathlib import Path

from lab.backends.base import Backend, ScrapeTarget
from lab.scenario.model import Scenario

__all__ = ["Backend", "ScrapeTarget", "create_backend"]


def create_backend(scenario: Scenario, run_dir: Path) -> Backend:
    if scenario.system.backend == "docker":
        from lab.backends.docker.backend import DockerBackend

        return DockerBackend(scenario, run_dir)
    from lab.backends.local import LocalBackend

    return LocalBackend(scenario, run_dir)
