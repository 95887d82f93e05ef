"""The command line facing a Redis that refuses its password or cannot be reached, or an
API asked to listen openly without keys: one clear line and a non-zero exit, no traceback,
and no password printed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from system.redis_server import RedisServer, free_port, generate_password

TASKQ = [sys.executable, "-m", "system"]
COMMANDS = [
    ["submit", "echo"],
    ["status", "some-id"],
    ["info"],
    ["dlq", "list"],
    ["worker"],
    ["api", "--port", "0"],
    ["up", "--workers", "1", "--port", "0"],
]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TASKQ, *args], capture_output=True, text=True, timeout=60, env=env, cwd="/tmp"
    )


def one_clear_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode not in (0, None), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("locked"), password=generate_password())
    with server:
        yield server


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_wrong_password_is_one_line(locked_redis: RedisServer, command: list[str]) -> None:
    url = f"redis://:not-the-password@127.0.0.1:{locked_redis.port}/0"
    line = one_clear_line(run(*command, "--redis-url", url))
    assert "refused the password" in line and "not-the-password" not in line, line
    assert f"redis://:***@127.0.0.1:{locked_redis.port}/0" in line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unreachable_redis_is_one_line(command: list[str]) -> None:
    port = free_port()  # nothing listens there
    line = one_clear_line(run(*command, "--redis-url", f"redis://:pw@127.0.0.1:{port}/0"))
    assert "cannot reach Redis at redis://:***@127.0.0.1" in line, line


def test_no_password_at_all_is_one_line(locked_redis: RedisServer) -> None:
    line = one_clear_line(run("info", "--redis-url", f"redis://127.0.0.1:{locked_redis.port}/0"))
    assert "refused the password" in line, line


@pytest.mark.parametrize("command", ["api", "up"])
def test_listening_openly_without_keys_is_one_line(command: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TASKQ_REDIS_URL": "redis://127.0.0.1:1/0"}
    line = one_clear_line(run(command, "--host", "0.0.0.0", "--port", str(free_port()), env=env))
    assert "without API keys" in line, line
