"""taskq (this project), driven through its public client and ``taskq worker``.

- Worker: ``taskq worker -c C --import bench.systems.taskq_tasks`` (one asyncio process,
  C tasks in flight, uvloop). Claims take up to 200 tasks per round trip; completions are
  batched.
- The shared no-op (``bench_noop``) calls ``bench.counter.mark_done`` like every other
  system's, so drain and round trip are timed exactly as theirs.
- Variant ``pure no-op``: the built-in ``echo`` handler, without the counter call. The
  harness's counter cannot see it, so first and last completion come from the tasks'
  own ``finished_ms`` (worker clock, same machine, ms resolution). It shows the queue's
  own ceiling; it is NOT the same workload as the competitors' and is not used in ratios.
- Bulk: ``Client.submit_many`` (one script call per 1,000 tasks).
- Round trip: ``Client.submit`` then ``Client.wait`` (blocks on the task's done stream,
  no polling).
"""

from __future__ import annotations

import importlib.metadata as md
import sys
import time

from bench import harness
from bench.systems import DrainResult, Variant
from system.client import Client
from system.core.keys import queue_keys
from system.core.submission import TaskRequest

# Tasks in flight per worker. With the shared no-op every task awaits one Redis call from
# the handler; 200 was as fast as 100 or 1,000 here, and a thread-mode handler with a
# blocking client was slower (4,400/s with one process). The pure no-op does no I/O, so a
# deeper pipeline keeps the claim and completion round trips overlapped.
CONCURRENCY = 200
PURE_CONCURRENCY = 1000


def _worker_argv(redis_url: str, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "system",
        "worker",
        "--redis-url",
        redis_url,
        "-c",
        str(concurrency),
        "--import",
        "bench.systems.taskq_tasks",
        "--log-level",
        "warning",
    ]


def _prefill(client: Client, n: int, task_type: str) -> None:
    client.submit_many([TaskRequest(task_type, i) for i in range(n)])
    if (d := client.stats("default").queued) != n:
        raise RuntimeError(f"taskq prefill: queue holds {d}, expected {n}")


def _drain_pure(redis_url: str, n: int, processes: int, concurrency: int) -> DrainResult:
    """Drain of the built-in echo, timed from the task records (see module docstring)."""
    with Client(redis_url) as client:
        subs = client.submit_many([TaskRequest("echo", i) for i in range(n)])
        t_spawn_ms = int(time.time() * 1000)
        argvs = [_worker_argv(redis_url, concurrency)] * processes
        with harness.workers(argvs, redis_url, "taskq-pure"):
            deadline = time.monotonic() + harness.drain_timeout_s(n)
            while client.stats("default").counters.get("succeeded", 0) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError("taskq pure drain: timeout")
                time.sleep(0.01)
        pipe = client.redis.pipeline(transaction=False)
        for s in subs:
            pipe.hget(queue_keys("default").task(s.id), "finished_ms")
        finished = [int(v) for v in pipe.execute()]
    first, last = min(finished), max(finished)
    return DrainResult(
        n=n,
        processes=processes,
        first_to_last_s=(last - first) / 1000,
        spawn_to_first_s=(first - t_spawn_ms) / 1000,
        spawn_to_last_s=(last - t_spawn_ms) / 1000,
    )


class TaskqSystem:
    name = "taskq"
    bulk_api = "Client.submit_many (one Lua call per 1,000 tasks)"
    variants = (
        Variant(
            f"c={CONCURRENCY}",
            f"asyncio worker, {CONCURRENCY} tasks in flight",
            options={"concurrency": CONCURRENCY},
        ),
        Variant(
            f"c={PURE_CONCURRENCY}, pure no-op",
            "built-in echo, no counter call; timed "
            "from task records; not the shared workload (no ratios)",
            options={"concurrency": PURE_CONCURRENCY, "pure": True},
            in_ratios=False,
        ),
    )

    def versions(self) -> dict[str, str]:
        return {p: md.version(p) for p in ("taskq", "redis", "hiredis", "uvloop")}

    def enqueue_one(self, redis_url: str, n: int) -> float:
        with Client(redis_url) as client:
            for i in range(5):
                client.submit("bench_noop", -1 - i)
            t0 = time.perf_counter()
            for i in range(n):
                client.submit("bench_noop", i)
            dt = time.perf_counter() - t0
            if (d := client.stats("default").queued) != n + 5:
                raise RuntimeError(f"taskq enqueue: queue holds {d}, expected {n + 5}")
        return dt

    def enqueue_bulk(self, redis_url: str, n: int) -> float:
        with Client(redis_url) as client:
            client.submit_many([TaskRequest("bench_noop", -1)])
            reqs = [TaskRequest("bench_noop", i) for i in range(n)]
            t0 = time.perf_counter()
            client.submit_many(reqs)
            dt = time.perf_counter() - t0
            if (d := client.stats("default").queued) != n + 1:
                raise RuntimeError(f"taskq bulk enqueue: queue holds {d}, expected {n + 1}")
        return dt

    def drain(self, redis_url: str, n: int, processes: int, variant: Variant) -> DrainResult:
        c = variant.options["concurrency"]
        if variant.options.get("pure"):
            return _drain_pure(redis_url, n, processes, c)
        with Client(redis_url) as client:
            _prefill(client, n, "bench_noop")
        argvs = [_worker_argv(redis_url, c)] * processes
        return harness.run_drain(redis_url, n, processes, argvs, f"taskq-{variant.name}")

    def roundtrip(self, redis_url: str, n: int, variant: Variant) -> list[float]:
        pure = bool(variant.options.get("pure"))
        task_type = "echo" if pure else "bench_noop"
        with Client(redis_url) as client:

            def cycle(i: int, timeout_s: float) -> None:
                sub = client.submit(task_type, i)
                rec = client.wait(sub.id, timeout_s)
                if rec.result != i:
                    raise RuntimeError(
                        f"taskq round trip: got {rec.result!r} ({rec.state}), expected {i}"
                    )

            argvs = [_worker_argv(redis_url, 1)]
            if not pure:
                return harness.run_roundtrips(redis_url, n, argvs, "taskq-rt", cycle)
            # The counter cannot see echo: the same warm-up and loop, checked by result.
            with harness.workers(argvs, redis_url, "taskq-rt-pure"):
                for i in range(harness.WARMUP):
                    cycle(-1 - i, harness.WARMUP_FIRST_TIMEOUT_S if i == 0 else 10.0)
                lat = []
                for i in range(n):
                    t0 = time.perf_counter()
                    cycle(i, harness.CYCLE_TIMEOUT_S)
                    lat.append(time.perf_counter() - t0)
            return lat


SYSTEM = TaskqSystem()
