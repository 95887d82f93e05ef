"""What the Lua scripts share with Python is written once, in Python: the loader declares it
at the top of every script, the Lua files never spell it, and Redis reads the values the
Python code uses."""

from __future__ import annotations

import re
import time
from enum import IntEnum

import pytest

from system.client import Client
from system.core import constants, ops
from system.core.errors import ScriptCode
from system.core.keys import queue_keys
from system.core.ops import KEEP_ALL, Completion
from system.core.scripts import SCRIPT_NAMES, _read, preamble, script_source
from system.core.task import TERMINAL_STATES, TaskState

LUA_FILES = [*SCRIPT_NAMES, "_lib", "_lead"]
# Upper-case names a script may use without declaring them.
LUA_GIVEN = {"KEYS", "ARGV"}


def _code(lua: str) -> str:
    """The Lua text without comments and string literals."""
    lua = re.sub(r"--[^\n]*", "", lua)
    return re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", lua)


def _declared(lua: str) -> set[str]:
    names = set()
    for match in re.finditer(r"\blocal\s+([\w\s,]+?)\s*=", _code(lua)):
        names.update(n.strip() for n in match.group(1).split(","))
    return names


@pytest.mark.parametrize("name", LUA_FILES)
def test_a_script_declares_no_shared_value_itself(name: str) -> None:
    code = _code(_read(name))
    assert not _declared(_read(name)) & (_declared(preamble()) | LUA_GIVEN)
    for value in constants.LUA_NUMBERS.values():
        if value >= 100:  # a small one (RATE_BUCKETS, 6) is also an ordinary index
            assert not re.search(rf"\b{value}\b", code), f"{name}.lua spells {value}"
    for state in TERMINAL_STATES:
        assert f"'{state.value}' and" not in _read(name), f"{name}.lua lists terminal states"


ENUMS: dict[str, type[IntEnum]] = {e.__name__: e for e in ops.REPLY_CODES.values()}
ENUMS["ScriptCode"] = ScriptCode


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_name_a_script_uses_is_declared(name: str) -> None:
    source = script_source(name)
    code = _code(source.removeprefix(preamble(name)))
    for enum, member in re.findall(r"\b([A-Z]\w*)\.([A-Z][A-Z0-9_]*)\b", code):
        assert enum in _declared(source) and member in ENUMS[enum].__members__, (enum, member)
    code = re.sub(r"\b[A-Z]\w*\.[A-Z][A-Z0-9_]*\b", "", code)
    used = set(re.findall(r"\b[A-Z][A-Z0-9_]+\b", code))
    assert used - _declared(source) - LUA_GIVEN == set()


@pytest.mark.parametrize("name", list(ops.REPLY_CODES))
def test_a_script_answers_with_every_code_of_its_enum_and_documents_it(name: str) -> None:
    enum = ops.REPLY_CODES[name]
    header = "\n".join(line for line in _read(name).splitlines() if line.startswith("--"))
    assert enum.__name__ in header.partition("Returns")[2]
    for member in enum:
        assert f"{enum.__name__}.{member.name}" in _code(_read(name))
        assert member.name in header
        if member < 0:
            assert member == ScriptCode[member.name]  # negative codes are ScriptCode's


# Where a script names a state: HSET ... 'state', 'x'; state == 'x' (or f[1], the state
# field read first); state = 'x'; finish(..., 'x', ...) (the state it ends in).
STATE_LITERALS = [
    r"'HSET',[^)]*?'state',\s*'(\w+)'",
    r"(?:\bstate|f\[1\])\s*[=~]=\s*'(\w+)'",
    r"\bstate\s*(?:,\s*\w+\s*)?=\s*'(\w+)'",
    r"\bfinish\([^,]+,[^,]+,\s*'(\w+)'",
]


@pytest.mark.parametrize("name", LUA_FILES)
def test_the_states_a_script_names_are_the_python_ones(name: str) -> None:
    lua = re.sub(r"--[^\n]*", "", _read(name))
    named = {m for pattern in STATE_LITERALS for m in re.findall(pattern, lua)}
    states = ops.BreakerState if name.startswith("breaker_") else TaskState
    assert named <= {s.value for s in states}
    if name in ("claim", "cancel", "fail", "breaker_record"):
        assert named  # the patterns do find what they look for


def test_negative_codes_are_distinct() -> None:
    assert len({int(c) for c in ScriptCode}) == len(ScriptCode)
    assert all(c < 0 for c in ScriptCode)


def test_redis_reads_the_python_values(client: Client) -> None:
    names = list(constants.LUA_NUMBERS)
    lua = preamble() + "return {" + ", ".join(f"tostring({n})" for n in names) + "}"
    got = client.redis.eval(lua, 0)
    assert [int(float(v)) for v in got] == list(constants.LUA_NUMBERS.values())
    # SEQ_SPAN must be exact in a double, and so must the largest score it makes.
    assert float(constants.SEQ_SPAN * (constants.MAX_PRIORITY + 1)) < 2**53
    terminal = preamble() + "local out = {} for s in pairs(TERMINAL) do out[#out + 1] = s end "
    got_terminal = set(client.redis.eval(terminal + "return out", 0))
    assert got_terminal == {s.value for s in TaskState if s.terminal}


def test_ended_tasks_use_the_python_bucket_and_wait_cap(client: Client, queue_name: str) -> None:
    sub = client.submit("echo", 1, queue=queue_name)
    assert client.run(ops.register_waiter(sub.id)) == "queued"
    now = int(time.time() * 1000)
    (t,) = client.run(ops.claim(queue_name, now, 10_000, 1, "w-test"))
    client.run(
        ops.complete(queue_name, now, KEEP_ALL, [Completion(t.id, t.token, "succeeded", b"1")])
    )
    k = queue_keys(queue_name)
    assert client.redis.hgetall(k.rate) == {str(now // constants.RATE_BUCKET_MS): "1"}
    rate_ttl_ms = 2 * constants.RATE_BUCKETS * constants.RATE_BUCKET_MS
    assert rate_ttl_ms - 5_000 < client.redis.pttl(k.rate) <= rate_ttl_ms
    done_ttl_ms = client.redis.pttl(k.done(sub.id))
    assert constants.DONE_STREAM_TTL_MS - 5_000 < done_ttl_ms <= constants.DONE_STREAM_TTL_MS
    assert constants.DONE_STREAM_TTL_MS == constants.MAX_WAIT_SECONDS * 1000
    assert client.stats(queue_name).finished_per_second > 0


def test_a_dropped_bucket_is_the_one_that_left_the_window(client: Client, queue_name: str) -> None:
    k = queue_keys(queue_name)
    now = int(time.time() * 1000)
    current = now // constants.RATE_BUCKET_MS
    gone, oldest_kept = current - constants.RATE_BUCKETS - 1, current - constants.RATE_BUCKETS
    client.redis.hset(k.rate, mapping={str(gone): 5, str(oldest_kept): 7})
    sub = client.submit("echo", 1, queue=queue_name)
    client.cancel(sub.id)  # ends it: counted in the current bucket
    assert client.redis.hgetall(k.rate) == {str(oldest_kept): "7", str(current): "1"}
