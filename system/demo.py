"""``taskq demo``: a tour of the queue that needs nothing but the system itself (no lab
extra): a private Redis, N worker processes, a mix of built-in tasks (including failures
that are retried), then a summary of what happened. The lab's quickstart scenario
(``make run``) is the fuller tour, with a worker killed and a report."""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import click

from system.client import Client
from system.core.connection import redact
from system.core.submission import TaskRequest
from system.supervisor import Stack

MIX: list[tuple[str, dict[str, object], int]] = [
    ("echo", {"hello": "world"}, 40),
    ("io", {"ms": 20, "jitter_ms": 10}, 20),
    ("cpu", {"ms": 2}, 10),
    ("matrix_multiply", {"size": 30}, 10),
    ("sleep", {"seconds": 0.05}, 10),
    ("flaky", {"probability": 0.3}, 10),
]


def _requests(n: int, seed: int) -> list[TaskRequest]:
    rng = random.Random(seed)
    kinds = rng.choices(MIX, weights=[w for _, _, w in MIX], k=n)
    return [TaskRequest(t, p, priority=rng.randint(0, 9), max_retries=5) for t, p, _ in kinds]


def run_demo(
    tasks: int,
    workers: int,
    *,
    seed: int = 1,
    timeout_seconds: float = 120.0,
    log_level: str = "warning",
) -> int:
    # A short retry backoff, so that the flaky tasks' retries do not dominate a short demo.
    env = {"TASKQ_QUEUE__RETRY_BACKOFF_SECONDS": "0.1"}
    with (
        tempfile.TemporaryDirectory(prefix="taskq-demo-") as tmp,
        Stack(
            workers=workers,
            data_dir=Path(tmp),
            worker_args=["--log-level", log_level],
            worker_env=env,
        ) as stack,
    ):
        click.echo(f"private Redis at {redact(stack.redis_url)}; {workers} worker processes")
        with Client(stack.redis_url) as client:
            t0 = time.perf_counter()
            subs = client.submit_many(_requests(tasks, seed))
            click.echo(f"submitted {len(subs)} tasks in {time.perf_counter() - t0:.3f} s")
            deadline = time.monotonic() + timeout_seconds
            while time.monotonic() < deadline:
                s = client.stats("default")
                if s.queued == s.scheduled == s.running == 0:
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - t0
            records = [client.get(s.id) for s in subs]
    states = Counter(r.state.value for r in records)
    by_type = Counter((r.task_type, r.state.value) for r in records)
    retried = sum(1 for r in records if r.attempts > 1)
    click.echo(f"finished in {elapsed:.2f} s ({len(records) / elapsed:.0f} tasks/s end to end)")
    click.echo(f"states: {dict(states)}; tasks that needed a retry: {retried}")
    for task_type, _, _ in MIX:
        row = {st: n for (tt, st), n in by_type.items() if tt == task_type}
        click.echo(f"  {task_type:16} {row}")
    unfinished = sum(1 for r in records if not r.terminal)
    if unfinished:
        click.echo(f"{unfinished} tasks did not finish within {timeout_seconds:.0f} s", err=True)
        return 1
    return 0
