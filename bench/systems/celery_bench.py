"""Celery 5 on Redis (broker and result backend), driven through its public API.

Worker command (one per process for ``solo``; one supervisor with ``-c processes`` for
``prefork``, which is how Celery runs several processes)::

    celery -A bench.systems.celery_bench worker -P solo|prefork -c C \\
        --prefetch-multiplier PREFETCH --without-gossip --without-mingle --without-heartbeat \\
        -l WARNING -Q celery -n <unique>@%h

- ``noop`` has ``ignore_result=True`` (fire-and-forget, what a throughput user sets for
  tasks whose result nobody reads); ``noop_result`` stores its result in the Redis backend
  and is used for the round-trip (``AsyncResult.get``, which listens on Redis pub/sub).
- gossip/mingle/heartbeat are cluster-event chatter irrelevant to one queue; turning them
  off is the documented advice for large fleets and saves broker traffic.
- Log level WARNING for every system's workers: no per-task log lines.
- Bulk: ``group(noop.s(i) for i in range(n)).apply_async()``. Celery has no batched
  publish; a group sends each message over one producer connection. (``chunks`` packs
  several calls into one message, which changes the unit of work, so it is not used.)
"""

from __future__ import annotations

import gc
import importlib.metadata as md
import time
from typing import Any

import redis
from celery import Celery, group
from packaging.version import Version

from bench import counter, harness
from bench.systems import DrainResult, Variant

URL = counter.bench_url()
QUEUE = "celery"
#: a sweep 1/4/16/64/256 showed no effect beyond noise for no-op tasks; 16 is a middle value
PREFETCH_MULTIPLIER = 16


def _check_kombu_redis() -> None:
    """kombu >= 5.7 refuses redis-py < 6.1 at run time, while arq 0.28 and celery[redis] 5.4
    require redis-py < 6: fail at import with the fix instead of at the first publish."""
    import kombu
    import redis as redis_py

    if Version(kombu.__version__) >= Version("5.7") and redis_py.VERSION < (6, 1, 0):
        raise RuntimeError(
            f"kombu {kombu.__version__} (from {kombu.__file__}) needs redis-py >= 6.1, found "
            f"{redis_py.__version__} (kept < 6 by arq and celery[redis]); install a kombu "
            "< 5.7 (e.g. 5.6.2) - see bench/README.md"
        )


_check_kombu_redis()

app = Celery("bench_celery", broker=URL, backend=URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
    worker_redirect_stdouts=False,
)


@app.task(name="bench.noop", ignore_result=True)
def noop(x: Any) -> None:
    counter.mark_done(counter.own_client())
    return None


@app.task(name="bench.noop_result")
def noop_result(x: Any) -> Any:
    counter.mark_done(counter.own_client())
    return x


def _check(redis_url: str) -> None:
    if redis_url != URL:
        raise RuntimeError(f"celery app configured for {URL}, called with {redis_url}")


def _depth(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(QUEUE))
    finally:
        client.close()


def _worker_argv(pool: str, concurrency: int, node: str) -> list[str]:
    return [
        str(harness.BIN / "celery"),
        "-A",
        "bench.systems.celery_bench",
        "worker",
        "-P",
        pool,
        "-c",
        str(concurrency),
        "--prefetch-multiplier",
        str(PREFETCH_MULTIPLIER),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
        "-Q",
        QUEUE,
        "-n",
        f"{node}@%h",
    ]


class CelerySystem:
    name = "celery"
    bulk_api = "group(noop.s(i) ...).apply_async() (one message per task, one producer)"
    variants = (
        Variant(
            "prefork",
            f"-P prefork -c <processes>, prefetch-multiplier {PREFETCH_MULTIPLIER}",
            options={"pool": "prefork"},
        ),
        Variant(
            "solo",
            f"-P solo, one worker per process, prefetch-multiplier {PREFETCH_MULTIPLIER}",
            options={"pool": "solo"},
        ),
    )

    def versions(self) -> dict[str, str]:
        return {p: md.version(p) for p in ("celery", "kombu", "billiard", "redis")}

    def enqueue_one(self, redis_url: str, n: int) -> float:
        _check(redis_url)
        for i in range(5):
            noop.apply_async((i,))
        t0 = time.perf_counter()
        for i in range(n):
            noop.apply_async((i,))
        dt = time.perf_counter() - t0
        if (d := _depth(redis_url)) != n + 5:
            raise RuntimeError(f"celery enqueue_one: queue holds {d}, expected {n + 5}")
        return dt

    def enqueue_bulk(self, redis_url: str, n: int) -> float:
        _check(redis_url)
        group(noop.s(i) for i in range(5)).apply_async()
        sigs = [noop.s(i) for i in range(n)]
        t0 = time.perf_counter()
        group(sigs).apply_async()
        dt = time.perf_counter() - t0
        if (d := _depth(redis_url)) != n + 5:
            raise RuntimeError(f"celery enqueue_bulk: queue holds {d}, expected {n + 5}")
        return dt

    def drain(self, redis_url: str, n: int, processes: int, variant: Variant) -> DrainResult:
        _check(redis_url)
        group(noop.s(i) for i in range(n)).apply_async()
        if (d := _depth(redis_url)) != n:
            raise RuntimeError(f"celery prefill: queue holds {d}, expected {n}")
        pool = variant.options["pool"]
        if pool == "prefork":
            argvs = [_worker_argv("prefork", processes, "prefork")]
        else:
            argvs = [_worker_argv("solo", 1, f"solo{i}") for i in range(processes)]
        return harness.run_drain(redis_url, n, processes, argvs, f"celery-{variant.name}")

    def roundtrip(self, redis_url: str, n: int, variant: Variant) -> list[float]:
        _check(redis_url)
        pool = variant.options["pool"]

        def cycle(i: int, timeout_s: float) -> None:
            got = noop_result.apply_async((i,)).get(timeout=timeout_s)
            if got != i:
                raise RuntimeError(f"celery round-trip: got {got!r}, expected {i}")

        argvs = [_worker_argv(pool, 1, f"rt-{pool}")]
        try:
            return harness.run_roundtrips(redis_url, n, argvs, f"celery-rt-{variant.name}", cycle)
        finally:
            gc.collect()  # finalise AsyncResults (they unsubscribe) while Redis is still up


SYSTEM = CelerySystem()
