"""arq on Redis, driven through its public API.

Worker command (one per process; arq has no multi-process mode)::

    arq bench.systems.arq_bench.WORKER_MAX_JOBS_10 \\
        --custom-log-dict bench.systems.arq_bench.LOG_CONFIG

- arq polls its queue (a sorted set) every ``poll_delay`` seconds (default 0.5 s); every
  variant sets ``poll_delay = 0.01`` so an idle worker notices a job within ~10 ms.
  ``max_jobs`` (concurrent jobs per worker) stays at its default 10: max_jobs=100 was
  measured no faster for no-op jobs (CPU-bound in the worker on 2 cores).
- ``noop`` is registered with ``keep_result=0`` (no result stored); ``noop_result`` keeps
  its result (default 1 h) and the client waits with ``job.result(poll_delay=0.005)``:
  arq results are polled, so the client polls every 5 ms.
- ``LOG_CONFIG`` is arq's default log config with WARNING instead of INFO: arq logs two
  lines per job at INFO, and every system's workers run at WARNING.
- Bulk: arq has no bulk submit; "bulk" is ``asyncio.gather`` over ``enqueue_job`` calls,
  ``BULK_CONCURRENCY`` at a time (each call is its own WATCH/MULTI transaction, so they
  cannot share one pipeline; unbounded gather would open one connection per job).
- The harness's round-trip loop is synchronous: each arq cycle runs in one persistent
  event loop via ``run_until_complete`` (tens of microseconds against arq's 5-10 ms polls).
"""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import time
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name
from arq.logs import default_log_config
from arq.worker import func

from bench import counter, harness
from bench.systems import DrainResult, Variant

URL = counter.bench_url()
REDIS_SETTINGS = RedisSettings.from_dsn(URL)
BULK_CONCURRENCY = 100
CLIENT_POLL_DELAY_S = 0.005

LOG_CONFIG = default_log_config(verbose=False)
LOG_CONFIG["loggers"]["arq"]["level"] = "WARNING"
LOG_CONFIG["handlers"]["arq.standard"]["level"] = "WARNING"


async def noop(ctx: dict[str, Any], x: Any) -> None:
    await counter.mark_done_async(ctx["redis"])
    return None


async def noop_result(ctx: dict[str, Any], x: Any) -> Any:
    await counter.mark_done_async(ctx["redis"])
    return x


# Worker settings as dicts (arq accepts a dict or a class; it reads a class's own
# __dict__ only, so settings classes cannot share a base class).
_SETTINGS: dict[str, Any] = {
    "functions": [func(noop, name="noop", keep_result=0), func(noop_result, name="noop_result")],
    "redis_settings": REDIS_SETTINGS,
    "poll_delay": 0.01,
}
WORKER_MAX_JOBS_10 = {**_SETTINGS, "max_jobs": 10}


def _check(redis_url: str) -> None:
    if redis_url != URL:
        raise RuntimeError(f"arq settings configured for {URL}, called with {redis_url}")


async def _pool() -> ArqRedis:
    return await create_pool(REDIS_SETTINGS)


async def _enqueue(redis: ArqRedis, start: int, n: int, concurrency: int) -> None:
    for lo in range(start, start + n, concurrency):
        hi = min(lo + concurrency, start + n)
        jobs = await asyncio.gather(*(redis.enqueue_job("noop", i) for i in range(lo, hi)))
        if any(j is None for j in jobs):
            raise RuntimeError("arq enqueue_job returned None (duplicate job id)")


async def _timed_enqueue(n: int, concurrency: int) -> float:
    redis = await _pool()
    try:
        await _enqueue(redis, -5, 5, concurrency)
        t0 = time.perf_counter()
        await _enqueue(redis, 0, n, concurrency)
        dt = time.perf_counter() - t0
        if (d := await redis.zcard(default_queue_name)) != n + 5:
            raise RuntimeError(f"arq enqueue: queue holds {d}, expected {n + 5}")
        return dt
    finally:
        await redis.aclose()


async def _prefill(n: int) -> None:
    redis = await _pool()
    try:
        await _enqueue(redis, 0, n, BULK_CONCURRENCY)
        if (d := await redis.zcard(default_queue_name)) != n:
            raise RuntimeError(f"arq prefill: queue holds {d}, expected {n}")
    finally:
        await redis.aclose()


def _worker_argv(settings: str) -> list[str]:
    return [
        str(harness.BIN / "arq"),
        f"bench.systems.arq_bench.{settings}",
        "--custom-log-dict",
        "bench.systems.arq_bench.LOG_CONFIG",
    ]


class ArqSystem:
    name = "arq"
    bulk_api = f"asyncio.gather of enqueue_job calls, {BULK_CONCURRENCY} in flight (no bulk API)"
    variants = (
        Variant(
            "max_jobs=10",
            "poll_delay=0.01, max_jobs=10 (default)",
            options={"settings": "WORKER_MAX_JOBS_10"},
        ),
    )

    def versions(self) -> dict[str, str]:
        return {p: md.version(p) for p in ("arq", "redis")}

    def enqueue_one(self, redis_url: str, n: int) -> float:
        _check(redis_url)
        return asyncio.run(_timed_enqueue(n, 1))

    def enqueue_bulk(self, redis_url: str, n: int) -> float:
        _check(redis_url)
        return asyncio.run(_timed_enqueue(n, BULK_CONCURRENCY))

    def drain(self, redis_url: str, n: int, processes: int, variant: Variant) -> DrainResult:
        _check(redis_url)
        asyncio.run(_prefill(n))
        argvs = [_worker_argv(variant.options["settings"])] * processes
        return harness.run_drain(redis_url, n, processes, argvs, f"arq-{variant.name}")

    def roundtrip(self, redis_url: str, n: int, variant: Variant) -> list[float]:
        _check(redis_url)
        loop = asyncio.new_event_loop()
        try:
            redis = loop.run_until_complete(_pool())

            async def acycle(i: int, timeout_s: float) -> None:
                job = await redis.enqueue_job("noop_result", i)
                assert job is not None
                got = await job.result(timeout=timeout_s, poll_delay=CLIENT_POLL_DELAY_S)
                if got != i:
                    raise RuntimeError(f"arq round-trip: got {got!r}, expected {i}")

            def cycle(i: int, timeout_s: float) -> None:
                loop.run_until_complete(acycle(i, timeout_s))

            try:
                argvs = [_worker_argv(variant.options["settings"])]
                return harness.run_roundtrips(redis_url, n, argvs, f"arq-rt-{variant.name}", cycle)
            finally:
                loop.run_until_complete(redis.aclose())
        finally:
            loop.close()


SYSTEM = ArqSystem()
