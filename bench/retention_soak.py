"""Retention soak: tasks at a high rate through real workers with a small retention, Redis
memory sampled every second; it reaches a plateau once the queue keeps its bound.

    .venv/bin/python -m bench.retention_soak                    # 120 s, keep 10,000 records
    .venv/bin/python -m bench.retention_soak --seconds 600 --keep 0   # unbounded, to compare

Prints one line per sample (seconds, tasks succeeded, records stored, used_memory) and
writes them as JSON (``--out``). The short form in the suite is
``tests/system/test_retention.py::test_soak_redis_memory_reaches_a_plateau``. Only the
soak's own private Redis on a free loopback port is used.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench._redis import private_redis
from system.client import Client
from system.config import QueueSettings
from system.core.submission import TaskRequest
from system.supervisor import TaskqProcess

BATCH = 1000


def soak(
    seconds: float, keep: int, workers: int, rate: float, logs: Path
) -> list[dict[str, float]]:
    env = {"TASKQ_QUEUE__MAX_FINISHED_RECORDS": str(keep), "TASKQ_WORKER__PROCESSES": "1"}
    samples: list[dict[str, float]] = []
    logs.mkdir(parents=True, exist_ok=True)
    with (
        private_redis() as server,
        Client(server.url, QueueSettings(max_finished_records=keep)) as c,
    ):
        procs = [
            TaskqProcess(
                server.url, ["--log-level", "warning"], env=env, log_path=logs / f"w{i}.log"
            )
            for i in range(workers)
        ]
        try:
            t0 = next_sample = time.monotonic()
            sent = 0
            while (now := time.monotonic()) - t0 < seconds:
                due = int((now - t0) * rate)  # open loop: what should have been sent by now
                if sent < due:
                    n = min(BATCH, due - sent)
                    c.submit_many([TaskRequest("echo", {"n": sent + i}) for i in range(n)])
                    sent += n
                if now >= next_sample:
                    stats = c.stats("default")
                    memory = c.redis.info("memory")
                    sample = {
                        "seconds": round(now - t0, 1),
                        "submitted": sent,
                        "succeeded": stats.counters.get("succeeded", 0),
                        "queued": stats.queued,
                        "finished_records": stats.finished,
                        "used_memory_bytes": int(memory["used_memory"]),
                    }
                    samples.append(sample)
                    print(json.dumps(sample), flush=True)
                    next_sample += 1.0
                time.sleep(0.01)
        finally:
            for p in procs:
                p.stop(10)
    return samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.retention_soak", description=__doc__)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--keep", type=int, default=10_000, help="max_finished_records (0: none)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=2000.0, help="tasks submitted per second")
    ap.add_argument("--out", type=Path, default=Path("bench/results/retention_soak.json"))
    args = ap.parse_args(argv)
    samples = soak(args.seconds, args.keep, args.workers, args.rate, args.out.with_suffix(".logs"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "samples": samples}, indent=1
        )
    )
    half = [s["used_memory_bytes"] for s in samples[len(samples) // 2 :]]
    if half:
        print(f"second half: used_memory {min(half) / 1e6:.1f} .. {max(half) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
