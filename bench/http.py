"""HTTP submit throughput of the API, measured with wrk: ``python -m bench.http``.

- single: ``POST /tasks/`` req/s, as a ratio to a trivial FastAPI endpoint (``bench/
  trivial_app.py``: parse a JSON body into a model, answer, no Redis) served by uvicorn
  with the same settings (one process, uvloop, httptools, no access log);
- batch: ``POST /tasks/batch`` with 100 tasks per request, in tasks/s;
- processes: ``POST /tasks/`` req/s with ``taskq api --workers N`` for each N of
  ``--processes`` (default 1 and 2, measured one after the other in the same run).

One private Redis; no workers run, so the queue only grows. wrk runs one thread with 32
connections for 10 s per measurement, after a 2 s warm-up. Requires ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
def serve(argv: list[str], health: str) -> Iterator[int]:
    """Start a server, wait until ``health`` answers; yields its pid."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def measure(
    pid: int, url: str, body: dict[str, object], seconds: int, connections: int
) -> tuple[float, float]:
    """After a 2 s warm-up: requests per second, and the server's CPU microseconds per
    request (all its processes). The second depends much less on what else runs on the
    machine: a loaded machine gives the server less CPU, not more work per request."""
    wrk(url, body, 2, connections)
    before = cpu_seconds(pid)
    rps, count = wrk(url, body, seconds, connections)
    return rps, (cpu_seconds(pid) - before) / count * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument(
        "--processes",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[1, 2],
        help="API process counts to measure POST /tasks/ with, one after the other "
        "(default 1,2; empty: none)",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    uvicorn_opts = [
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    results: dict[str, float] = {}
    with RedisServer() as redis:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = [
            sys.executable,
            "-m",
            "system",
            "api",
            "--redis-url",
            redis.url,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        with serve(api, f"{base}/healthz") as pid:
            rps, cpu = measure(pid, f"{base}/tasks/", TASK, args.seconds, args.connections)
            results["api_submit_rps"], results["api_submit_cpu_us"] = rps, cpu
            batch: dict[str, object] = {"tasks": [TASK] * args.batch}
            rps, _ = wrk(f"{base}/tasks/batch", batch, args.seconds, args.connections)
            results["api_batch_tasks_per_s"] = rps * args.batch
        port = free_port()
        trivial = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.trivial_app:app",
            "--port",
            str(port),
            *uvicorn_opts,
        ]
        with serve(trivial, f"http://127.0.0.1:{port}/docs") as pid:
            url = f"http://127.0.0.1:{port}/noop"
            rps, cpu = measure(pid, url, TASK, args.seconds, args.connections)
            results["trivial_rps"], results["trivial_cpu_us"] = rps, cpu
        for n in args.processes:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            argv = [*api[: api.index("--port")], "--port", str(port), "--log-level", "warning"]
            with serve([*argv, "--workers", str(n)], f"{base}/healthz") as pid:
                rps, cpu = measure(pid, f"{base}/tasks/", TASK, args.seconds, args.connections)
                results[f"api_submit_rps_{n}p"], results[f"api_submit_cpu_us_{n}p"] = rps, cpu
    ratio = results["api_submit_rps"] / results["trivial_rps"]
    cpu_ratio = results["trivial_cpu_us"] / results["api_submit_cpu_us"]
    print(f"uptime load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    print(
        f"POST /tasks/          {results['api_submit_rps']:10,.0f} req/s  "
        f"{results['api_submit_cpu_us']:6.0f} µs CPU/request"
    )
    print(
        f"trivial FastAPI POST  {results['trivial_rps']:10,.0f} req/s  "
        f"{results['trivial_cpu_us']:6.0f} µs CPU/request"
    )
    print(f"ratio                 {ratio:10.2f}  (target >= 0.5)")
    print(f"ratio of CPU/request  {cpu_ratio:10.2f}  (trivial / POST /tasks/)")
    one = results.get("api_submit_rps_1p")
    for n in args.processes:
        rps = results[f"api_submit_rps_{n}p"]
        versus = f"  {rps / one:.2f} x 1 process" if one and n > 1 else ""
        print(
            f"POST /tasks/, {n} proc   {rps:10,.0f} req/s  "
            f"{results[f'api_submit_cpu_us_{n}p']:6.0f} µs CPU/request{versus}"
        )
    print(
        f"POST /tasks/batch     {results['api_batch_tasks_per_s']:10,.0f} tasks/s "
        f"({args.batch} per request; target >= 20,000)"
    )


if __name__ == "__main__":
    main()
