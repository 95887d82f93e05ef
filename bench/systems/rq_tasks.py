"""RQ's no-op tasks, and the settings module given to ``rq worker -c``.

Kept apart from ``rq_bench`` so that importing it is cheap, and passed as the worker's
config module (``-c bench.systems.rq_tasks``) so the worker imports it before it forks:
RQ's "performance notes" advise preloading task modules in the worker, otherwise every
forked work horse imports them again.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from bench import counter

#: read by ``rq worker -c`` (RQ settings-module name)
REDIS_URL = counter.bench_url()


def _done() -> None:
    job = get_current_job()
    assert job is not None
    counter.mark_done(job.connection)


def noop(x: Any) -> None:
    """Fire-and-forget no-op (enqueue and drain)."""
    _done()


def noop_result(x: Any) -> Any:
    """No-op whose result the round-trip reads."""
    _done()
    return x
