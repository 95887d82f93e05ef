"""The lab's fault-injectable dependency and the handler that calls it, in a real worker."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from lab.faults.dependency import URL_VARIABLE, Dependency
from system.client import Client
from system.config import QueueSettings
from system.core.task import TaskRecord, TaskState
from system.supervisor import TaskqProcess


def test_dependency_answers_logs_and_fails_on_demand() -> None:
    dep = Dependency().start()
    try:
        assert httpx.get(f"{dep.url}/call", params={"ms": 20}).status_code == 200
        dep.set_down(True)
        assert httpx.get(f"{dep.url}/call").status_code == 503
        dep.set_down(False)
        assert httpx.get(f"{dep.url}/call", params={"ms": "x"}).status_code == 400
        assert httpx.get(f"{dep.url}/other").status_code == 404
        assert [c.status for c in dep.calls] == [200, 503]
    finally:
        dep.stop()


def finished(client: Client, task_id: str) -> TaskRecord:
    deadline = time.monotonic() + 20
    while not (record := client.get(task_id)).terminal:
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    return record


def test_dependency_call_task_succeeds_or_fails_with_the_dependency(
    redis_url: str, tmp_path: Path
) -> None:
    dep = Dependency().start()
    env = {URL_VARIABLE: dep.url, "TASKQ_QUEUE__RETRY_BACKOFF_SECONDS": "0.1"}
    args = ["--import", "lab.faults.handlers", "-Q", "dep"]
    worker = TaskqProcess(redis_url, args, env=env, log_path=tmp_path / "worker.log")
    try:
        with Client(redis_url, QueueSettings(result_ttl_seconds=600)) as client:
            ok = client.submit("dependency_call", {"ms": 5}, queue="dep")
            assert finished(client, ok.id).state is TaskState.SUCCEEDED
            dep.set_down(True)
            bad = client.submit("dependency_call", {}, queue="dep", max_retries=1)
            record = finished(client, bad.id)
            assert record.state is TaskState.FAILED and record.attempts == 2
            assert "dependency answered 503" in (record.error or "")
        assert [c.status for c in dep.calls] == [200, 503, 503]
    finally:
        worker.stop(10)
        dep.stop()
