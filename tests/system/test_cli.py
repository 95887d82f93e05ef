"""The taskq command line, run as a user runs it (real processes, real Redis)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from system.client import Client
from system.redis_server import free_port
from system.supervisor import TaskqProcess

TASKQ = [sys.executable, "-m", "system"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TASKQ, *args], capture_output=True, text=True, timeout=timeout)


def test_demo_runs_end_to_end_on_the_embedded_redis() -> None:
    out = run("demo", "-n", "300", "-w", "1", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "states: {'succeeded'" in out.stdout
    assert "did not finish" not in out.stderr


def test_submit_wait_and_status(
    redis_url: str, queue_name: str, start_worker: Callable[..., TaskqProcess]
) -> None:
    start_worker("-Q", queue_name)
    payload = '{"size": 3, "seed": 1}'
    out = run(
        "submit",
        "matrix_multiply",
        "--payload",
        payload,
        "-q",
        queue_name,
        "--wait",
        "20",
        "--redis-url",
        redis_url,
    )
    assert out.returncode == 0, out.stderr
    task_id, record = out.stdout.split("\n", 1)
    assert json.loads(record)["state"] == "succeeded"
    status = run("status", task_id, "--redis-url", redis_url)
    assert json.loads(status.stdout)["result"]["size"] == 3


def test_clear_errors_for_bad_input(redis_url: str) -> None:
    no_url = subprocess.run(
        [*TASKQ, "submit", "echo"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert no_url.returncode == 2 and "TASKQ_REDIS_URL" in no_url.stderr
    bad_json = run("submit", "echo", "--payload", "{oops", "--redis-url", redis_url)
    assert bad_json.returncode == 2 and "not JSON" in bad_json.stderr
    bad_prio = run("submit", "echo", "--priority", "300", "--redis-url", redis_url)
    assert bad_prio.returncode == 1 and "priority must be 0..255" in bad_prio.stderr
    unknown = run("status", "default.nope", "--redis-url", redis_url)
    assert unknown.returncode == 1 and "no task 'default.nope'" in unknown.stderr
    assert "Traceback" not in bad_json.stderr + bad_prio.stderr + unknown.stderr


@contextmanager
def _running(cmd: list[str], cwd: Path, text: bool = False) -> Iterator[subprocess.Popen[Any]]:
    """``cmd`` started in ``cwd`` with its output piped; killed at the end if the test
    did not stop it."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, text=text)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_up_serves_tasks_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    cmd = [*TASKQ, "up", "--workers", "2", "--port", str(port), "--log-level", "warning"]
    with _running(cmd, tmp_path, text=True) as proc:
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(4)]
        assert printed[0].split()[1].startswith("redis://:***@127.0.0.1:"), printed
        assert f"http://127.0.0.1:{port}" in printed[1]
        url_file = tmp_path / ".taskq" / "redis" / "url"
        assert str(url_file.relative_to(tmp_path)) in printed[2], printed
        url = url_file.read_text().strip()
        password = redis.connection.parse_url(url)["password"]
        assert len(password) >= 32 and not any(password in line for line in printed)
        # The password is nowhere on a command line, and the server's files are private.
        for pid in descendants(proc.pid):
            assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        data = tmp_path / ".taskq" / "redis"
        assert data.stat().st_mode & 0o777 == 0o700
        for f in [p for p in data.rglob("*") if p.is_file()]:
            assert f.stat().st_mode & 0o077 == 0, f
        assert list(data.rglob("*.aof")), list(data.rglob("*"))
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(url.replace(password, "wrong"), socket_timeout=5).ping()
        with Client(url) as client:
            sub = client.submit("echo", {"up": True})
            assert client.wait(sub.id, 20).result == {"up": True}
            # The original project's README request, verbatim but for the port.
            api = f"http://localhost:{port}"
            data = '{"task_type": "matrix_multiply", "payload": {"size": 10}, "priority": 1, "max_retries": 3}'  # noqa: E501
            if shutil.which("curl"):
                curl = (
                    f'curl -X POST "{api}/tasks/" -H "Content-Type: application/json" -d \'{data}\''
                )
                reply = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
                task_id = json.loads(reply.stdout)["id"]
            else:
                headers = {"Content-Type": "application/json"}
                task_id = httpx.post(f"{api}/tasks/", content=data, headers=headers).json()["id"]
            done = httpx.get(f"{api}/tasks/{task_id}/result", params={"wait": 20}, timeout=30)
            assert done.json()["status"] == "succeeded"
            deadline = time.monotonic() + 10
            while len(client.redis.zrange("taskq:workers", 0, -1)) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            pids = [
                int(client.redis.hget(f"taskq:worker:{w}", "pid"))
                for w in client.redis.zrange("taskq:workers", 0, -1)
            ]
        assert (tmp_path / ".taskq" / "redis").is_dir()  # the embedded data folder
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to pid (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def test_info_and_dlq(
    redis_url: str, queue_name: str, start_worker: Callable[..., TaskqProcess]
) -> None:
    with Client(redis_url) as client:
        ids = [
            client.submit("flaky", {"probability": 1}, queue=queue_name, max_retries=0).id
            for _ in range(2)
        ]
        w = start_worker("-Q", queue_name)
        deadline = time.monotonic() + 20
        while client.stats(queue_name).dead < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        table = run("info", "--redis-url", redis_url).stdout
        row = next(line for line in table.splitlines() if line.startswith(queue_name))
        assert row.split()[1:5] == ["0", "0", "0", "2"]
        assert f"-{w.pid}-" in table  # the worker is listed
        w.stop()
        listed = run("dlq", "list", "-q", queue_name, "--redis-url", redis_url).stdout
        assert sorted(line.split()[0] for line in listed.splitlines()) == sorted(ids)
        assert "FlakyError" in listed
        out = run("dlq", "requeue", "-q", queue_name, ids[0], "--redis-url", redis_url).stdout
        assert "requeued 1 task(s)" in out
        assert client.get(ids[0]).state.value == "queued"
        assert (
            "requeued 1 task(s)"
            in run("dlq", "requeue", "-q", queue_name, "--redis-url", redis_url).stdout
        )


def test_up_with_two_api_processes_serves_and_stops_them(tmp_path: Path) -> None:
    """``taskq up --api-workers 2``: two API server processes answer, and Ctrl-C stops
    them with the rest."""
    servers: list[int] = []
    port = free_port()
    cmd = [*TASKQ, "up", "--workers", "1", "--api-workers", "2", "--port", str(port)]
    with _running([*cmd, "--log-level", "warning"], tmp_path) as proc:
        assert proc.stdout is not None
        assert (
            f"http://127.0.0.1:{port}".encode() in proc.stdout.readline() + proc.stdout.readline()
        )
        deadline = time.monotonic() + 20
        while len(servers := _api_servers(proc.pid)) < 2:
            assert time.monotonic() < deadline, servers
            time.sleep(0.1)
        assert len(servers) == 2
        task = {"task_type": "echo", "payload": {"n": 1}}
        api = f"http://127.0.0.1:{port}"
        task_id = httpx.post(f"{api}/tasks/", json=task, timeout=30).json()["id"]
        done = httpx.get(f"{api}/tasks/{task_id}/result", params={"wait": 20}, timeout=30)
        assert done.json()["status"] == "succeeded"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    for pid in servers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _api_servers(pid: int) -> list[int]:
    """The server processes uvicorn's supervisor spawned under ``pid``."""
    found = []
    for p in descendants(pid):
        try:
            if b"multiprocessing.spawn" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.append(p)
        except OSError:
            continue
    return found
