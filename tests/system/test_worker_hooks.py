"""Worker hooks: called in order before a task and in reverse after it, told the task's
outcome, and a hook that fails is logged without stopping the task. A real worker runs
in-process (burst mode) against the test Redis."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from system.client import Client
from system.config import QueueSettings, Settings, WorkerSettings
from system.core.ops import ClaimedTask
from system.core.task import TaskState
from system.registry import Registry
from system.worker.context import TaskContext
from system.worker.hooks import Hooks, WorkerHook
from system.worker.job import Ending, Failure, Job, Outcome
from system.worker.worker import Worker

from .conftest import wait_until_finished


async def double(x: int) -> int:
    return 2 * x


async def broken(x: Any) -> None:
    raise RuntimeError("planned failure")


REGISTRY = Registry()
REGISTRY.register(double, "double")
REGISTRY.register(broken, "broken")


def run_worker(redis_url: str, queue: str, hooks: list[WorkerHook]) -> Worker:
    """Run a worker until the queue is empty."""
    settings = Settings(
        redis_url=redis_url,
        queue=QueueSettings(retry_backoff_seconds=0),
        worker=WorkerSettings(queues=[queue], burst=True, concurrency=4, poll_interval_seconds=0.2),
    )
    worker = Worker(redis_url, settings, registry=REGISTRY, hooks=hooks)
    asyncio.run(asyncio.wait_for(worker.run(), 60))
    return worker


class Recorder(WorkerHook):
    """Notes every call, tagged with its name, in a list it shares with other hooks."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls
        self.endings: dict[str, Ending] = {}
        self.outcomes: dict[str, list[Outcome]] = {}

    def on_worker_start(self, worker: Worker) -> None:
        self.calls.append(f"{self.name}.start")

    def on_worker_stop(self, worker: Worker) -> None:
        self.calls.append(f"{self.name}.stop")

    def before_execute(self, job: Job) -> None:
        self.calls.append(f"{self.name}.before")

    async def after_execute(self, job: Job, ending: Ending) -> None:
        self.calls.append(f"{self.name}.after")
        self.endings[job.claimed.id] = ending

    def after_recorded(self, job: Job, outcome: Outcome) -> None:
        self.calls.append(f"{self.name}.recorded")
        self.outcomes.setdefault(job.claimed.id, []).append(outcome)


class Broken(WorkerHook):
    """Raises from every method."""

    def before_execute(self, job: Job) -> None:
        raise ValueError("hook bug (before)")

    async def after_execute(self, job: Job, ending: Ending) -> None:
        raise ValueError("hook bug (after)")

    def on_failure(self, job: Job, failure: Failure) -> None:
        raise ValueError("hook bug (failure)")

    def after_recorded(self, job: Job, outcome: Outcome) -> None:
        raise ValueError("hook bug (recorded)")


def test_before_hooks_run_in_order_and_after_hooks_in_reverse(
    client: Client, redis_url: str, queue_name: str
) -> None:
    calls: list[str] = []
    sub = client.submit("double", 21, queue=queue_name)
    run_worker(redis_url, queue_name, [Recorder("a", calls), Recorder("b", calls)])
    assert client.get(sub.id).result == 42
    assert calls == [
        "a.start",
        "b.start",
        "a.before",
        "b.before",
        "b.after",
        "a.after",
        "b.recorded",
        "a.recorded",
        "b.stop",
        "a.stop",
    ]


def test_a_hook_sees_how_the_task_ended_and_what_was_recorded(
    client: Client, redis_url: str, queue_name: str
) -> None:
    ok = client.submit("double", 2, queue=queue_name)
    bad = client.submit("broken", None, queue=queue_name, max_retries=1)
    recorder = Recorder("r", [])
    run_worker(redis_url, queue_name, [recorder])
    wait_until_finished(client, [ok.id, bad.id])
    assert recorder.endings[ok.id].succeeded and recorder.endings[ok.id].result_json == b"4"
    assert recorder.outcomes[ok.id] == [Outcome.SUCCEEDED]
    error = recorder.endings[bad.id].error
    assert isinstance(error, RuntimeError) and str(error) == "planned failure"
    # Two attempts: the first is retried (by the default retry hook), the second is its last.
    assert recorder.outcomes[bad.id] == [Outcome.RETRIED, Outcome.FAILED]
    assert client.get(bad.id).state is TaskState.FAILED


def test_a_failing_hook_is_logged_and_the_task_still_completes(
    client: Client, redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    ok = client.submit("double", 5, queue=queue_name)
    bad = client.submit("broken", None, queue=queue_name, max_retries=1)
    recorder = Recorder("r", [])
    with caplog.at_level(logging.ERROR, logger="taskq.worker"):
        run_worker(redis_url, queue_name, [Broken(), recorder])
    done, failed = wait_until_finished(client, [ok.id, bad.id])
    assert done.state is TaskState.SUCCEEDED and done.result == 10
    # The retry hook (a default, before the broken one) still gave the failure its retry.
    assert failed.state is TaskState.FAILED and failed.attempts == 2
    assert recorder.outcomes == {
        ok.id: [Outcome.SUCCEEDED],
        bad.id: [Outcome.RETRIED, Outcome.FAILED],
    }
    logged = [r.getMessage() for r in caplog.records]
    for method in ("before_execute", "after_execute", "on_failure", "after_recorded"):
        assert any(m.startswith(f"hook Broken.{method} failed (task ") for m in logged), method
    assert any(r.exc_info and "hook bug" in str(r.exc_info[1]) for r in caplog.records)


class Deferring(WorkerHook):
    def __init__(self, until: int | None) -> None:
        self.until = until
        self.asked = 0

    async def admit(self, job: Job) -> int | None:
        self.asked += 1
        return self.until


class BrokenAdmit(WorkerHook):
    async def admit(self, job: Job) -> int | None:
        raise ValueError("hook bug (admit)")


def _job() -> Job:
    claimed = ClaimedTask("q.1", "7", "double", "1", 1, 0, 0, 0)
    return Job("q", claimed, TaskContext("q.1", "q", "double", 1), REGISTRY["double"])


def test_admission_stops_at_the_first_hook_that_holds_a_task_back() -> None:
    first, second, third = Deferring(None), Deferring(123), Deferring(456)
    hooks = Hooks([BrokenAdmit(), first, second, third])
    assert asyncio.run(hooks.admit(_job())) == 123
    assert (first.asked, second.asked, third.asked) == (1, 1, 0)


def test_only_hooks_that_override_a_method_are_called_for_it() -> None:
    hooks = Hooks([WorkerHook(), Deferring(None), Recorder("r", [])])
    assert [type(m.__self__).__name__ for m in hooks._admit] == ["Deferring"]
    assert [type(m.__self__).__name__ for m in hooks._after] == ["Recorder"]
    assert hooks._failure == []
