"""Loads the Lua scripts (one file per state transition) and registers them with a client.

Each script is registered once per client (redis-py ``register_script``) and then called by
SHA; redis-py reloads it transparently if the server lost its script cache (a restart).

What the scripts share with Python is written once, in Python, and declared at the top of
every script by ``script_source``: the numbers of ``system.core.constants`` (``local
SEQ_SPAN = ...``), the set of terminal states (``TERMINAL``), the negative reply codes
(``ScriptCode``) and the script's own reply enum from ``system.core.ops`` (in fail.lua,
``FailReply``), each as a table of the same name. A script never spells one of those
values itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import overload

from redis.commands.core import AsyncScript, Script

from system.core.connection import AsyncRedis, SyncRedis
from system.core.constants import LUA_NUMBERS
from system.core.errors import ScriptCode
from system.core.ops import REPLY_CODES
from system.core.task import TERMINAL_STATES

SCRIPT_NAMES = (
    "submit",
    "submit_bulk",
    "claim",
    "beat",
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
    "leader_many",
)
_INCLUDE = "-- @include "


def _read(name: str) -> str:
    return (resources.files("system.core") / "lua" / f"{name}.lua").read_text("utf-8")


def _lua_set(members: Iterable[str]) -> str:
    return "{" + ", ".join(f"[{m!r}] = true" for m in sorted(members)) + "}"


def _lua_enum(enum: type[IntEnum]) -> str:
    members = ", ".join(f"{m.name} = {m.value}" for m in enum)
    return f"local {enum.__name__} = {{{members}}}"


@cache
def preamble(name: str = "") -> str:
    """The declarations put at the top of every script (and of script ``name``)."""
    lines = ["-- Declared by system/core/scripts.py from the Python definitions."]
    lines += [f"local {n} = {value}" for n, value in LUA_NUMBERS.items()]
    lines.append(f"local TERMINAL = {_lua_set(s.value for s in TERMINAL_STATES)}")
    lines.append(_lua_enum(ScriptCode))
    if name in REPLY_CODES:
        lines.append(_lua_enum(REPLY_CODES[name]))
    return "\n".join(lines) + "\n"


@cache
def script_source(name: str) -> str:
    """The source of one script: the preamble, then the file with its ``-- @include NAME``
    lines expanded."""
    lines = [preamble(name)]
    for line in _read(name).splitlines():
        if line.startswith(_INCLUDE):
            lines.append(_read(line[len(_INCLUDE) :].strip()))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@overload
def register_all(client: SyncRedis) -> Mapping[str, Script]: ...
@overload
def register_all(client: AsyncRedis) -> Mapping[str, AsyncScript]: ...
def register_all(client: SyncRedis | AsyncRedis) -> Mapping[str, Script | AsyncScript]:
    """Register every script with a redis-py client (sync, asyncio, or cluster)."""
    return {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
