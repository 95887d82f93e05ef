"""Client-side submit speed of taskq alone, with the Redis round trip beside it.

    .venv/bin/python -m bench.submit_speed [--n 5000] [--bulk 50000] [--profile]

On a private Redis (``bench._redis.private_redis``): the median of 2,000 PINGs (the round
trip every submit pays at least), ``n`` sequential ``Client.submit`` calls, and one
``submit_many`` of ``bulk`` tasks; ``--profile`` runs each under cProfile as well and
prints the functions with the most time of their own. The competitors' figures come from
``bench.run``, which measures them in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

from bench._redis import private_redis
from system.client import Client
from system.core.submission import TaskRequest


def _ping_us(client: Client, n: int = 2000) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        client.redis.ping()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def _singles(client: Client, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        client.submit("noop", i)
    return n / (time.perf_counter() - t)


def _bulk(client: Client, n: int) -> float:
    requests = [TaskRequest("noop", i) for i in range(n)]
    t = time.perf_counter()
    client.submit_many(requests)
    return n / (time.perf_counter() - t)


def _profiled(name: str, run: Callable[[], float]) -> None:
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    print(f"\n--- profile: {name} (tottime) ---")
    pstats.Stats(profile).sort_stats("tottime").print_stats(18)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="sequential submits")
    parser.add_argument("--bulk", type=int, default=50_000, help="tasks in one submit_many")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--profile", action="store_true", help="also run each under cProfile")
    args = parser.parse_args()
    with private_redis() as server, Client(server.url) as client:
        for i in range(50):  # warm-up: scripts loaded, queue registered, code paths hot
            client.submit("noop", i)
        ping = _ping_us(client)
        singles = max(_singles(client, args.n) for _ in range(args.repeat))
        bulk = max(_bulk(client, args.bulk) for _ in range(args.repeat))
        print(f"PING round trip (median)       {ping:8.1f} µs")
        print(f"Client.submit, one by one      {singles:8.0f} /s  ({1e6 / singles:.1f} µs each)")
        print(f"submit_many of {args.bulk:<,}         {bulk:8.0f} /s")
        if args.profile:
            _profiled(f"{args.n} x Client.submit", lambda: _singles(client, args.n))
            _profiled(f"submit_many({args.bulk})", lambda: _bulk(client, args.bulk))


if __name__ == "__main__":
    main()
