"""Loads the Lua scripts (one file per state transition) and registers them with a client.

Each script is registered once per client (redis-py ``register_script``) and then called by
SHA; redis-py reloads it transparently if the server lost its script cache (a restart).

What the scripts share with Python is written once, in Python, and declared at the top of
every script by ``script_source``: the numbers of ``system.core.constants`` (``local
SEQ_SPAN = ...``) and the set of terminal states (``TERMINAL``). A script never spells
one of those values itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from system.core.constants import LUA_NUMBERS
from system.core.task import TERMINAL_STATES

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


def _lua_set(members: Iterable[str]) -> str:
    return "{" + ", ".join(f"[{m!r}] = true" for m in sorted(members)) + "}"


@cache
def preamble() -> str:
    """The declarations put at the top of every script."""
    lines = ["-- Declared by system/core/scripts.py from the Python definitions."]
    lines += [f"local {name} = {value}" for name, value in LUA_NUMBERS.items()]
    lines.append(f"local TERMINAL = {_lua_set(s.value for s in TERMINAL_STATES)}")
    return "\n".join(lines) + "\n"


@cache
def script_source(name: str) -> str:
    """The source of one script: the preamble, then the file with its ``-- @include NAME``
    lines expanded."""
    lines = [preamble()]
    for line in _read(name).splitlines():
        if line.startswith(_INCLUDE):
            lines.append(_read(line[len(_INCLUDE) :].strip()))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def register_all(client: Any) -> dict[str, Any]:
    """Register every script with a redis-py client (sync, asyncio, or cluster)."""
    return {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
