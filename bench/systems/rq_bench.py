"""RQ on Redis, driven through its public API.

Worker command (one per process; RQ has no multi-process worker other than the
experimental ``worker-pool``)::

    rq worker -u URL -c bench.systems.rq_tasks -w rq.worker.SimpleWorker|rq.Worker \\
        --logging_level WARNING bench

- ``rq.Worker`` (the default) forks a work horse per job: isolation at the price of a
  fork per job. ``SimpleWorker`` runs jobs in the worker process, which is what a
  throughput user picks for short trusted jobs. The forking variant is slow, so its drain
  uses at most ``FORK_MAX_N`` tasks (printed in the table).
- Drain/enqueue jobs are enqueued with ``result_ttl=0`` (fire-and-forget: the job is
  deleted on success, no result written). Round-trip jobs keep their result
  (``result_ttl=60``) and the client blocks on ``job.latest_result(timeout=...)``, which is
  an XREAD BLOCK on the job's result stream: no polling.
- Bulk: ``Queue.enqueue_many([Queue.prepare_data(...), ...])``, RQ's bulk API (one
  pipeline for the whole batch).
- ``-c bench.systems.rq_tasks`` (the settings module, which holds the task) preloads the
  task module in the worker before it forks, as RQ's performance notes advise.
- Default serializer (pickle), as users run it.
"""

from __future__ import annotations

import importlib.metadata as md
import time

from redis import Redis
from rq import Queue

from bench import counter, harness
from bench.systems import DrainResult, Variant
from bench.systems.rq_tasks import noop, noop_result

QUEUE = "bench"
FORK_MAX_N = 1000
RT_RESULT_TTL_S = 60
#: result_ttl of drain/enqueue jobs: None = RQ default (500 s). result_ttl=0 (delete the job on
#: success) was measured no faster: deleting costs more round trips than keeping.
DRAIN_RESULT_TTL_S: int | None = None


def _queue(redis_url: str) -> Queue:
    counter.check_url(redis_url)
    return Queue(QUEUE, connection=Redis.from_url(redis_url))


def _enqueue_many(q: Queue, n: int, start: int = 0) -> None:
    q.enqueue_many(
        [
            Queue.prepare_data(noop, (i,), result_ttl=DRAIN_RESULT_TTL_S)
            for i in range(start, start + n)
        ]
    )


def _worker_argv(redis_url: str, worker_class: str) -> list[str]:
    return [
        str(harness.BIN / "rq"),
        "worker",
        "-u",
        redis_url,
        "-c",
        "bench.systems.rq_tasks",
        "-w",
        worker_class,
        "--logging_level",
        "WARNING",
        QUEUE,
    ]


class RQSystem:
    name = "rq"
    bulk_api = "Queue.enqueue_many([Queue.prepare_data(...)]) (one pipeline per call)"
    variants = (
        Variant(
            "SimpleWorker",
            "-w rq.worker.SimpleWorker: jobs run in the worker process",
            options={"worker_class": "rq.worker.SimpleWorker"},
        ),
        Variant(
            "Worker (fork)",
            "-w rq.Worker (default): one forked work horse per job",
            max_drain_n=FORK_MAX_N,
            options={"worker_class": "rq.Worker"},
        ),
    )

    def versions(self) -> dict[str, str]:
        return {p: md.version(p) for p in ("rq", "redis")}

    def enqueue_one(self, redis_url: str, n: int) -> float:
        q = _queue(redis_url)
        for i in range(5):
            q.enqueue(noop, i, result_ttl=DRAIN_RESULT_TTL_S)
        t0 = time.perf_counter()
        for i in range(n):
            q.enqueue(noop, i, result_ttl=DRAIN_RESULT_TTL_S)
        dt = time.perf_counter() - t0
        if (d := q.count) != n + 5:
            raise RuntimeError(f"rq enqueue_one: queue holds {d}, expected {n + 5}")
        return dt

    def enqueue_bulk(self, redis_url: str, n: int) -> float:
        q = _queue(redis_url)
        _enqueue_many(q, 5)
        t0 = time.perf_counter()
        _enqueue_many(q, n)
        dt = time.perf_counter() - t0
        if (d := q.count) != n + 5:
            raise RuntimeError(f"rq enqueue_bulk: queue holds {d}, expected {n + 5}")
        return dt

    def drain(self, redis_url: str, n: int, processes: int, variant: Variant) -> DrainResult:
        q = _queue(redis_url)
        for start in range(0, n, 5000):
            _enqueue_many(q, min(5000, n - start), start)
        if (d := q.count) != n:
            raise RuntimeError(f"rq prefill: queue holds {d}, expected {n}")
        argvs = [_worker_argv(redis_url, variant.options["worker_class"])] * processes
        return harness.run_drain(redis_url, n, processes, argvs, f"rq-{variant.name.split()[0]}")

    def roundtrip(self, redis_url: str, n: int, variant: Variant) -> list[float]:
        q = _queue(redis_url)

        def cycle(i: int, timeout_s: float) -> None:
            job = q.enqueue(noop_result, i, result_ttl=RT_RESULT_TTL_S)
            res = job.latest_result(timeout=max(1, round(timeout_s)))
            if res is None or res.type != res.Type.SUCCESSFUL or res.return_value != i:
                raise RuntimeError(f"rq round-trip: job {job.id} result {res!r}")

        argvs = [_worker_argv(redis_url, variant.options["worker_class"])]
        return harness.run_roundtrips(
            redis_url, n, argvs, f"rq-rt-{variant.name.split()[0]}", cycle
        )


SYSTEM = RQSystem()
