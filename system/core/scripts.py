"""Loads the Lua scripts (one file per state transition) and registers them with a client.

Each script is registered once per client (redis-py ``register_script``) and then called by
SHA; redis-py reloads it transparently if the server lost its script cache (a restart).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

SCRIPT_NAMES = (
    "submit",
    "submit_bulk",
    "claim",
    "extend",
    "complete",
    "fail",
    "reap",
    "promote",
    "cancel",
    "release",
    "requeue_dead",
    "register_waiter",
    "oldest_queued",
    "defer",
    "breaker_acquire",
    "breaker_record",
    "leader",
)
_INCLUDE = "-- @include "


def _read(name: str) -> str:
    return (resources.files("system.core") / "lua" / f"{name}.lua").read_text("utf-8")


@cache
def script_source(name: str) -> str:
    """The source of one script with its ``-- @include NAME`` lines expanded."""
    lines = []
    for line in _read(name).splitlines():
        if line.startswith(_INCLUDE):
            lines.append(_read(line[len(_INCLUDE) :].strip()))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def register_all(client: Any) -> dict[str, Any]:
    """Register every script with a redis-py client (sync, asyncio, or cluster)."""
    return {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
