"""HTTP submit throughput of the API, measured with wrk: ``python -m bench.http``.

- single: ``POST /tasks/`` req/s, as a ratio to a trivial FastAPI endpoint (``bench/
  trivial_app.py``: parse a JSON body into a model, answer, no Redis) served by uvicorn
  with the same settings (one process, uvloop, httptools, no access log);
- batch: ``POST /tasks/batch`` with 100 tasks per request, in tasks/s;
- processes: ``POST /tasks/`` req/s with ``taskq api --workers N`` for each N of
  ``--processes`` (default 2), as a ratio to one process;
- ``--taskq-from DIR``: ``POST /tasks/`` of the taskq in another checkout, for a before
  and after in one run.

Every server is started once; then, in each of ``--rounds`` rounds, they are measured
one after the other, so that a change of load on the machine touches them alike; ratios
are taken within a round and their median is printed. One private Redis; no workers run,
so the queue only grows. wrk runs one thread with 32 connections for ``--seconds`` per
measurement, after a 2 s warm-up. Requires ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from system.redis_server import RedisServer, free_port

TASK: dict[str, object] = {"task_type": "echo", "payload": {"n": 1}}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server process and of its children (the processes
    of ``taskq api --workers N``)."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@contextmanager
def serve(target: Target) -> Iterator[int]:
    """Start a server, wait until its health URL answers; yields its pid."""
    argv, health = target.argv, target.health
    proc = subprocess.Popen(
        argv,
        env=target.env,
        cwd=target.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(health, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {argv}") from None
                time.sleep(0.05)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, body: dict[str, object], seconds: int, connections: int) -> tuple[float, int]:
    """Requests per second and requests answered; fails when any answer was not 2xx."""
    script = "\n".join(
        [
            'wrk.method = "POST"',
            f"wrk.body = {json.dumps(json.dumps(body))}",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", f.name, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    Path(f.name).unlink()
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw non-2xx answers:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if not match or not count:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(match.group(1)), int(count.group(1))


@dataclass
class Cores:
    """Cores busy during one measurement: the server (all its processes), wrk, Redis."""

    server: float
    wrk: float
    redis: float


def measure(
    pid: int, redis_pid: int, url: str, body: dict[str, object], seconds: int, connections: int
) -> tuple[float, float, Cores]:
    """After a 2 s warm-up: requests per second, the server's CPU microseconds per
    request (all its processes), and the cores each part used. CPU per request depends
    much less on what else runs on the machine: a loaded machine gives the server less
    CPU, not more work per request."""
    wrk(url, body, 2, connections)
    server, redis = cpu_seconds(pid), cpu_seconds(redis_pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    rps, count = wrk(url, body, seconds, connections)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server, redis = cpu_seconds(pid) - server, cpu_seconds(redis_pid) - redis
    wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return rps, server / count * 1e6, Cores(server / wall, wrk_cpu / wall, redis / wall)


@dataclass
class Target:
    """One server measured in every round: its name, command line, environment, URL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None  # a checkout's code runs from its folder (``-m`` looks there first)
    health: str
    url: str
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    cores: list[Cores] = field(default_factory=list)


def api_target(name: str, redis_url: str, processes: int, checkout: Path | None) -> Target:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "system", "api", "--port", str(port), "--log-level", "warning"]
    if processes > 1:
        argv += ["--workers", str(processes)]
    # The Redis URL goes through the environment, as taskq up and the lab pass it.
    env = {**os.environ, "TASKQ_REDIS_URL": redis_url}
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    return Target(name, argv, env, checkout, f"{base}/healthz", f"{base}/tasks/")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10, help="length of one measurement")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; targets take turns in each")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument(
        "--processes",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[2],
        help="API process counts measured besides one (default 2; empty: none)",
    )
    ap.add_argument(
        "--taskq-from",
        type=Path,
        action="append",
        default=[],
        help="also measure POST /tasks/ of the taskq in another checkout (before/after)",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    uvicorn_opts = [
        *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning")
    ]
    with RedisServer() as redis, ExitStack() as servers:
        api = api_target("POST /tasks/", redis.url, 1, None)
        port = free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "bench.trivial_app:app", *uvicorn_opts]
        trivial = Target(
            "trivial FastAPI POST",
            [*uvicorn, "--port", str(port)],
            dict(os.environ),
            None,
            f"http://127.0.0.1:{port}/docs",
            f"http://127.0.0.1:{port}/noop",
        )
        others = [
            api_target(f"POST /tasks/ of {d.name}", redis.url, 1, d.resolve())
            for d in args.taskq_from
        ]
        scaled = [
            api_target(f"POST /tasks/, {n} processes", redis.url, n, None) for n in args.processes
        ]
        targets = [api, trivial, *others, *scaled]
        pids = {t.name: servers.enter_context(serve(t)) for t in targets}
        ratios: list[float] = []
        for r in range(args.rounds):
            for t in targets:  # the same order every round: each sees the machine alike
                rps, cpu, cores = measure(
                    pids[t.name], redis.pid, t.url, TASK, args.seconds, args.connections
                )
                t.rps.append(rps)
                t.cpu_us.append(cpu)
                t.cores.append(cores)
            ratios.append(api.rps[-1] / trivial.rps[-1])
            print(f"round {r + 1}: " + ", ".join(f"{t.name} {t.rps[-1]:,.0f}" for t in targets))
        batch: dict[str, object] = {"tasks": [TASK] * args.batch}
        batch_rps, _ = wrk(api.url + "batch", batch, args.seconds, args.connections)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    print(f"medians of {args.rounds} rounds of {args.seconds} s:")
    for t in targets:
        busy = [median([getattr(c, part) for c in t.cores]) for part in ("server", "wrk", "redis")]
        print(
            f"  {t.name:34} {median(t.rps):9,.0f} req/s  {median(t.cpu_us):5.0f} µs CPU/request"
            f"  cores busy: server {busy[0]:.2f}, wrk {busy[1]:.2f}, Redis {busy[2]:.2f}"
        )
    print(
        f"POST /tasks/ / trivial: {median(ratios):.2f} (median of the rounds' ratios; "
        f"each round {', '.join(f'{x:.2f}' for x in ratios)}; target >= 0.5)"
    )
    cpu_ratio = median(trivial.cpu_us) / median(api.cpu_us)
    print(f"CPU per request, trivial / POST /tasks/: {cpu_ratio:.2f}")
    for t in others:
        per_round = [a / b for a, b in zip(api.rps, t.rps, strict=True)]
        print(f"this tree / {t.name}: {median(per_round):.2f} (median of the rounds)")
    for t, n in zip(scaled, args.processes, strict=True):
        per_round = [a / b for a, b in zip(t.rps, api.rps, strict=True)]
        print(f"{n} processes / 1: {median(per_round):.2f} (median of the rounds; target >= 1.6)")
    print(f"POST /tasks/batch: {batch_rps * args.batch:,.0f} tasks/s ({args.batch} per request)")


if __name__ == "__main__":
    main()
