"""What idle workers cost: ``python -m bench.idle [--workers 4] [--queues 2] [--seconds 20]``.

Starts a private Redis (``bench._redis``) and N ``taskq worker`` processes serving the same
Q queues, lets them settle (every one registered, then ``--settle`` seconds), then for
``--seconds`` records every command Redis receives (MONITOR, attributed to each worker by
its connections' local ports; commands run inside Lua scripts are not counted, only what
a client sent) and each worker's CPU time (``psutil``: the process and its children).
Prints, per worker and on average, commands per second (with and without the blocking
waits, BLPOP/BZPOPMIN) and CPU %, and the commands by name. ``--json FILE`` writes the
same as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

from bench import _proc
from bench._redis import private_redis
from bench.harness import REPO_ROOT
from system.core.keys import WORKERS
from system.supervisor import REDIS_URL_ENV

BLOCKING = frozenset({"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BLMOVE", "BLMPOP", "XREAD"})


@dataclass
class WorkerCost:
    pid: int
    commands_per_second: float = 0.0
    non_blocking_per_second: float = 0.0
    cpu_percent: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)


def _ports(pid: int) -> set[int]:
    """Local TCP ports of a process and its children (the worker's Redis connections)."""
    ports: set[int] = set()
    try:
        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:
            ports |= {c.laddr.port for c in p.net_connections(kind="tcp") if c.laddr}
    except psutil.Error:
        pass
    return ports


def _cpu_seconds(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.Error:
        return 0.0


def _monitor(url: str, stop: threading.Event, seen: list[tuple[int, str]]) -> None:
    """Append (client port, command name) for each command a client sent."""
    conn = redis.Redis.from_url(url, decode_responses=True)
    with conn.monitor() as m:  # type: ignore[no-untyped-call]
        while not stop.is_set():  # next_command() blocks until Redis sees a command
            cmd = m.next_command()
            if cmd.get("client_type") == "lua":
                continue  # run inside a script: the EVALSHA was counted
            name = str(cmd["command"]).split(" ", 1)[0].upper()
            seen.append((int(cmd.get("client_port") or 0), name))


def measure(
    workers: int, queues: int, seconds: float, settle: float, checkout: Path = REPO_ROOT
) -> dict[str, Any]:
    """``checkout``: the taskq whose workers are measured (another one: a before/after)."""
    names = [f"idle{i}" for i in range(queues)]
    argv = [sys.executable, "-m", "system", "worker", "-Q", ",".join(names)]
    with private_redis() as server, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(checkout), REDIS_URL_ENV: server.url}
        procs = [
            # From the checkout's folder: `python -m` looks there first.
            _proc.spawn(
                [*argv, "--log-level", "WARNING"], f"{tmp}/worker-{i}.log", env, str(checkout)
            )
            for i in range(workers)
        ]
        try:
            probe = redis.Redis.from_url(server.url)
            deadline = time.monotonic() + 120
            while probe.zcard(WORKERS) < workers:  # every worker started and registered
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not all start within 120 s")
                time.sleep(0.1)
            time.sleep(settle)
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"worker {p.pid} exited: see its log")
            ports = {p.pid: _ports(p.pid) for p in procs}
            stop, log = threading.Event(), list[tuple[int, str]]()
            t = threading.Thread(target=_monitor, args=(server.url, stop, log), daemon=True)
            t.start()
            time.sleep(0.5)  # MONITOR is attached
            cpu0 = {p.pid: _cpu_seconds(p.pid) for p in procs}
            t0 = time.monotonic()
            start_at = len(log)
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu1 = {p.pid: _cpu_seconds(p.pid) for p in procs}
            for p in procs:  # connections opened meanwhile (pools grow on demand)
                ports[p.pid] |= _ports(p.pid)
            seen = log[start_at:]
            stop.set()
            # Wake the monitor thread's blocking read.
            redis.Redis.from_url(server.url).ping()
            t.join(5)
        finally:
            for p in procs:
                p.stop(timeout_s=10)
    by_port: dict[int, Counter[str]] = {}
    other: Counter[str] = Counter()
    for port, name in seen:
        by_port.setdefault(port, Counter())[name] += 1
    costs = []
    for p in procs:
        cmds: Counter[str] = Counter()
        for port in ports[p.pid]:
            cmds += by_port.pop(port, Counter())
        total = sum(cmds.values())
        blocking = sum(n for c, n in cmds.items() if c in BLOCKING)
        costs.append(
            WorkerCost(
                pid=p.pid,
                commands_per_second=total / elapsed,
                non_blocking_per_second=(total - blocking) / elapsed,
                cpu_percent=100 * (cpu1[p.pid] - cpu0[p.pid]) / elapsed,
                commands=dict(cmds.most_common()),
            )
        )
    for c in by_port.values():
        other += c
    return {
        "workers": workers,
        "queues": queues,
        "seconds": round(elapsed, 2),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "per_worker": [asdict(c) for c in costs],
        "unattributed": dict(other.most_common()),  # new connections opened meanwhile
        "mean_commands_per_second": sum(c.commands_per_second for c in costs) / workers,
        "mean_non_blocking_per_second": sum(c.non_blocking_per_second for c in costs) / workers,
        "mean_cpu_percent": sum(c.cpu_percent for c in costs) / workers,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--queues", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--settle", type=float, default=5.0, help="seconds after every worker registered"
    )
    ap.add_argument(
        "--taskq-from",
        type=Path,
        action="append",
        default=[],
        help="after this tree, measure the workers of another checkout the same way",
    )
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    results = {}
    for checkout in [REPO_ROOT, *(d.resolve() for d in a.taskq_from)]:
        label = "this tree" if checkout == REPO_ROOT else str(checkout)
        r = results[label] = measure(a.workers, a.queues, a.seconds, a.settle, checkout)
        print(
            f"{label}: {a.workers} idle workers, {a.queues} queues, {r['seconds']} s, "
            f"load average {r['loadavg'][0]:.1f} on {r['cpus']} CPUs"
        )
        _print(r)
    if a.json:
        a.json.write_text(json.dumps(results if a.taskq_from else results["this tree"], indent=2))
    return 0


def _print(r: dict[str, Any]) -> None:
    print(f"{'worker pid':>10} {'cmds/s':>8} {'non-blocking/s':>15} {'CPU %':>7}  commands")
    for c in r["per_worker"]:
        top = ", ".join(f"{k} {v}" for k, v in list(c["commands"].items())[:6])
        print(
            f"{c['pid']:>10} {c['commands_per_second']:>8.2f} "
            f"{c['non_blocking_per_second']:>15.2f} {c['cpu_percent']:>7.2f}  {top}"
        )
    print(
        f"{'mean':>10} {r['mean_commands_per_second']:>8.2f} "
        f"{r['mean_non_blocking_per_second']:>15.2f} {r['mean_cpu_percent']:>7.2f}"
    )
    if r["unattributed"]:
        print(f"not attributed to a worker: {r['unattributed']}")


if __name__ == "__main__":
    sys.exit(main())
