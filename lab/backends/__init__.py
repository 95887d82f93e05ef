"""Where a scenario's system runs. ``local`` (subprocesses on this machine) is the one
backend so far; a docker backend would implement the same ``Backend`` protocol."""

from __future__ import annotations

from pathlib import Path

from lab.backends.base import Backend, ScrapeTarget
from lab.scenario.model import Scenario

__all__ = ["Backend", "ScrapeTarget", "create_backend"]


def create_backend(scenario: Scenario, run_dir: Path) -> Backend:
    from lab.backends.local import LocalBackend

    return LocalBackend(scenario, run_dir)
