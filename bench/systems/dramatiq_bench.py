"""Dramatiq on Redis (RedisBroker), driven through its public API.

Worker command (Dramatiq's own multi-process worker)::

    dramatiq bench.systems.dramatiq_bench --processes P --threads T

- Default middleware (AgeLimit, TimeLimit, ShutdownNotifications, Callbacks, Pipelines,
  Retries) plus ``Results`` with the Redis result backend, as a user who wants results
  sets it up. ``noop`` does not store results (``store_results`` is off by default);
  ``noop_result`` does, and the round-trip blocks on ``message.get_result(block=True)``
  (the Redis backend waits with BRPOPLPUSH: no polling on the client side).
- Both actors have ``max_retries=0`` so a failure shows up at once instead of retrying.
- Threads: 8 is the default. For no-op tasks more threads mean a larger prefetch
  (2 x threads) and so fewer fetch round trips: a sweep gave about +25 % at 16 threads,
  +50 % at 64 and +60 % at 128 for one process, less for two. 64 is measured as the
  throughput setting a user would pick for I/O-light tasks.
- An idle Dramatiq consumer polls Redis with an exponential backoff starting at 5-10 ms
  (``dramatiq.common.compute_backoff``, not configurable), which bounds its round-trip.
- Bulk: Dramatiq has no bulk submit (``group(...).run()`` sends messages one by one for
  completion tracking, it is not a batched enqueue), so bulk is n/a.
"""

from __future__ import annotations

import importlib.metadata as md
import time
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from bench import counter, harness
from bench.systems import DrainResult, Variant

URL = counter.bench_url()
QUEUE = "default"

broker = RedisBroker(url=URL)
result_backend = RedisBackend(url=URL)
broker.add_middleware(Results(backend=result_backend))
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=0, queue_name=QUEUE)
def noop(x: Any) -> None:
    counter.mark_done(broker.client)
    return None


@dramatiq.actor(max_retries=0, queue_name=QUEUE, store_results=True)
def noop_result(x: Any) -> Any:
    counter.mark_done(broker.client)
    return x


def _check(redis_url: str) -> None:
    if redis_url != URL:
        raise RuntimeError(f"dramatiq broker configured for {URL}, called with {redis_url}")


def _depth() -> int:
    return int(broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs"))


def _worker_argv(processes: int, threads: int) -> list[str]:
    return [
        str(harness.BIN / "dramatiq"),
        "bench.systems.dramatiq_bench",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]


class DramatiqSystem:
    name = "dramatiq"
    bulk_api = None
    variants = (
        Variant(
            "threads=8",
            "--processes <processes> --threads 8 (the default thread count)",
            options={"threads": 8},
        ),
        Variant(
            "threads=64",
            "--processes <processes> --threads 64 (prefetch 128: fewer fetch round trips)",
            options={"threads": 64},
        ),
    )

    def versions(self) -> dict[str, str]:
        return {p: md.version(p) for p in ("dramatiq", "redis")}

    def enqueue_one(self, redis_url: str, n: int) -> float:
        _check(redis_url)
        for i in range(5):
            noop.send(i)
        t0 = time.perf_counter()
        for i in range(n):
            noop.send(i)
        dt = time.perf_counter() - t0
        if (d := _depth()) != n + 5:
            raise RuntimeError(f"dramatiq enqueue_one: queue holds {d}, expected {n + 5}")
        return dt

    def enqueue_bulk(self, redis_url: str, n: int) -> float | None:
        return None

    def drain(self, redis_url: str, n: int, processes: int, variant: Variant) -> DrainResult:
        _check(redis_url)
        for i in range(n):
            noop.send(i)
        if (d := _depth()) != n:
            raise RuntimeError(f"dramatiq prefill: queue holds {d}, expected {n}")
        argvs = [_worker_argv(processes, variant.options["threads"])]
        return harness.run_drain(redis_url, n, processes, argvs, f"dramatiq-{variant.name}")

    def roundtrip(self, redis_url: str, n: int, variant: Variant) -> list[float]:
        _check(redis_url)

        def cycle(i: int, timeout_s: float) -> None:
            message = noop_result.send(i)
            got = message.get_result(
                backend=result_backend, block=True, timeout=int(timeout_s * 1000)
            )
            if got != i:
                raise RuntimeError(f"dramatiq round-trip: got {got!r}, expected {i}")

        argvs = [_worker_argv(1, variant.options["threads"])]
        return harness.run_roundtrips(redis_url, n, argvs, f"dramatiq-rt-{variant.name}", cycle)


SYSTEM = DramatiqSystem()
