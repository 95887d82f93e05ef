"""Tools the monitoring tests need: skipped locally when missing, a failure on CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
ROOT = MONITORING.parent


def need(binary: str, package: str) -> str:
    """The binary's path; skip without it, except with CI=true (CI installs it)."""
    path = shutil.which(binary)
    if path:
        return path
    reason = f"{binary} not on PATH (Debian package {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)
