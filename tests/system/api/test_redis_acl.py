"""The least-privilege Redis users documented in docs/api.md are enough for the API and a
worker, and refuse what neither needs (issue 18, section 6)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import redis

from system.redis_server import RedisServer
from system.supervisor import TaskqProcess

from .conftest import running_api

DOC = Path(__file__).parents[3] / "docs" / "api.md"
PASSWORDS = {"API_PASSWORD": "api-pw-0123456789", "WORKER_PASSWORD": "worker-pw-0123456789"}


def documented_users() -> list[list[str]]:
    """The ``ACL SETUSER`` lines of the docs, as argument lists, passwords filled in."""
    lines = re.findall(r"^ACL SETUSER .*$", DOC.read_text(), flags=re.MULTILINE)
    assert len(lines) == 2, lines
    for placeholder, password in PASSWORDS.items():
        lines = [line.replace(placeholder, password) for line in lines]
    return [line.split()[2:] for line in lines]  # after "ACL SETUSER"


def test_api_and_worker_run_as_least_privilege_users(tmp_path: Path) -> None:
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        for args in documented_users():
            admin.execute_command("ACL", "SETUSER", *args)
        admin.execute_command("ACL", "LOG", "RESET")
        port = server.port
        api_url = f"redis://taskq-api:{PASSWORDS['API_PASSWORD']}@127.0.0.1:{port}/0"
        worker_url = f"redis://taskq-worker:{PASSWORDS['WORKER_PASSWORD']}@127.0.0.1:{port}/0"

        for url in (api_url, worker_url):
            user = redis.Redis.from_url(url)
            for command in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*")):
                with pytest.raises(redis.exceptions.NoPermissionError):
                    user.execute_command(*command)
            with pytest.raises(redis.exceptions.NoPermissionError):
                user.set("other:key", 1)
            user.close()
        admin.execute_command("ACL", "LOG", "RESET")

        env = {"TASKQ_QUEUE__RETRY_BACKOFF_SECONDS": "0.1", "TASKQ_QUEUE__LEASE_SECONDS": "2"}
        worker = TaskqProcess(worker_url, ["-Q", "acl"], env=env, log_path=tmp_path / "w.log")
        try:
            with (
                running_api(api_url, tmp_path / "api.log") as base,
                httpx.Client(base_url=base, timeout=30) as http,
            ):
                _exercise(http)
        finally:
            worker.stop(timeout_seconds=10)
        denied = admin.execute_command("ACL", "LOG")
        assert denied == [], denied
        admin.close()


def _exercise(http: httpx.Client) -> None:
    def submit(task: dict[str, object], **headers: str) -> str:
        r = http.post("/tasks/", json={"queue": "acl", **task}, headers=headers)
        assert r.status_code in (200, 202), r.text
        return str(r.json()["id"])

    ok = submit({"task_type": "echo", "payload": {"n": 1}}, **{"Idempotency-Key": "once"})
    assert submit({"task_type": "echo"}, **{"Idempotency-Key": "once"}) == ok
    batch = http.post("/tasks/batch", json={"tasks": [{"task_type": "echo", "queue": "acl"}] * 3})
    assert batch.status_code == 202, batch.text
    delayed = submit({"task_type": "echo", "delay_seconds": 0.3})
    failing = submit({"task_type": "flaky", "payload": {"probability": 1.0}, "max_retries": 1})
    for task_id in (ok, delayed, *(t["id"] for t in batch.json()["tasks"])):
        done = http.get(f"/tasks/{task_id}/result", params={"wait": 20}).json()
        assert done["status"] == "succeeded", done
    deadline = time.monotonic() + 20
    while http.get(f"/tasks/{failing}").json()["status"] != "failed":
        assert time.monotonic() < deadline, http.get(f"/tasks/{failing}").json()
        time.sleep(0.1)
    assert [t["id"] for t in http.get("/queues/acl/dead-letter").json()] == [failing]
    assert http.post("/queues/acl/pause").json()["paused"] is True
    assert http.post("/queues/acl/dead-letter/requeue", json={"ids": [failing]}).json() == {
        "requeued": [failing]
    }
    assert http.post(f"/tasks/{failing}/cancel").json()["status"] == "cancelled"
    assert http.post("/queues/acl/resume").json()["paused"] is False
    for path in ("/queues", "/queues/acl", "/breakers", "/workers", "/tasks?queue=acl"):
        assert http.get(path).status_code == 200, path
    metrics = http.get("/metrics").text
    assert "taskq_redis_up 1.0" in metrics and 'queue="acl"' in metrics
    assert http.get("/readyz").status_code == 200
