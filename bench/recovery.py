"""Recovery after a SIGKILL: ``python -m bench.recovery [--rounds 3] [--taskq-from DIR]``.

Issue 15 section 3's scenario, with taskq's DEFAULT settings (every ``TASKQ_*`` variable
of the caller's environment is dropped, so lease, liveness and reap interval are what a
user gets): ``--n`` tasks that each sleep ``--task-seconds`` (50 ms) are submitted (by the
checkout's own client), ``--workers`` (2) ``taskq worker -c C`` processes are started,
and ``--kills`` (5) times, about ``--interval`` (1 s) apart, a worker that holds tasks is
SIGKILLed (its process group: the worker and any pool process) and a replacement is
started. Then every task must end. Reported per run:

- lost: tasks that did not end ``succeeded``;
- extra starts / extra ends: executions beyond one per task, counted by the task itself
  in Redis (``bench/worker_path/recovery_handlers.py``) when it starts and when it
  reaches its end. A task in flight at a kill starts again (at-least-once), so extra
  starts are bounded by the tasks the victims held. An extra end is a held task that had
  run to its end but whose completion was not yet written when its worker died (workers
  send completions in batches); the JSON counts them per kill (``held_ended_twice``);
- redelivered: kill -> the last victim's held tasks have all left it (polled every
  10 ms: state no longer ``running`` under the victim), i.e. how long death detection took;
- recovery: kill -> the latest ``finished_ms`` among the tasks the last victim held when
  it died (their rerun's end);
- last kill -> last task finished (``finished_ms``) of all.

The ``finished_ms`` stamps are the workers' wall clock, the kill times this process's:
one machine, one clock.

Sizing. A redelivered task goes to the back of the queue, so the recovery figure is
death detection plus the backlog still queued when the victim's tasks come back; the run
is sized so that the queue is nearly drained at the last kill, and the backlog then is
reported (redelivered does not depend on it). 2 workers x ``-c 5`` run at most 200 tasks
of 50 ms a second. On the 2-vCPU development machine the first kill came 1.6-3.0 s
after the start (interpreters starting, the first claim), the fifth 4-5 s later, and
340-750 tasks had ended by then (fewer run while a replacement starts), so N = 800 left
a backlog of 50-460 tasks at the last kill (median about 200, a second of work) while
every victim still held tasks; with N = 1,200 a backlog of 540 put 1.3 s of queueing
into the recovery figure. A queue that drains before the last kill ends the kills early
(``kills`` is reported). ``-c 5`` keeps the workers at a fraction of the 2 cores (the
default ``-c 32`` would run 1,280 tasks/s and compete with Redis and this process for
CPU). One run takes about 15 s, a round of before and after about 30 s.

``--taskq-from DIR`` (repeatable) adds taskq as another checkout has it (``git
archive 8cd74ee | tar -x -C DIR``): its workers and its client run with
``PYTHONPATH=DIR`` from DIR, on the same private Redis. The versions take turns within
each round. The table shows each run and each version's medians; ``--json FILE`` writes
every run, with per-kill details.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import redis

from bench._redis import private_redis
from bench.counter import URL_ENV, check_url
from system.core.keys import queue_keys

ROOT = Path(__file__).resolve().parent.parent
HANDLERS_DIR = Path(__file__).resolve().parent / "worker_path"
TASK = "bench_recovery_sleep"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

_SUBMIT = """
import json, sys
from system.client import Client
from system.core.submission import TaskRequest
url, queue, task, n, sleep = sys.argv[1:6]
with Client(url) as c:
    reqs = [TaskRequest(task, {"sleep": float(sleep)}, queue=queue) for _ in range(int(n))]
    print(json.dumps([s.id for s in c.submit_many(reqs)]))
"""


def _env(checkout: Path, url: str) -> dict[str, str]:
    """The caller's environment without any taskq setting: the defaults are measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env["PYTHONPATH"] = os.pathsep.join([str(checkout), str(HANDLERS_DIR)])
    env["TASKQ_REDIS_URL"] = url
    env[URL_ENV] = url
    return env


class _Worker:
    """One ``taskq worker`` of the checkout, leading its own process group (with any pool
    process it forks), output in a log file."""

    running: ClassVar[set[_Worker]] = set()

    def __init__(self, argv: list[str], checkout: Path, url: str, log: Path) -> None:
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                argv,
                cwd=checkout,  # `python -m` puts the working directory first on sys.path
                env=_env(checkout, url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        _Worker.running.add(self)

    def kill(self) -> None:
        """SIGKILL the worker and its group: a crash, nothing runs its shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(10)
        _Worker.running.discard(self)

    def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL of the group after 15 s or what is left."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(15)
        self.kill()


@atexit.register
def _stop_all() -> None:
    for w in list(_Worker.running):
        w.kill()


def _submit(checkout: Path, url: str, queue: str, n: int, seconds: float) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _SUBMIT, url, queue, TASK, str(n), str(seconds)],
        cwd=checkout,
        env=_env(checkout, url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"submit from {checkout}: {out.stderr.strip()[-2000:]}")
    ids: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return ids


def _worker_pid(worker_id: str) -> int | None:
    """Worker ids are ``host-pid-xxxx`` (at 8cd74ee and now)."""
    parts = worker_id.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _holders(r: redis.Redis, running_key: str, task_key: Any) -> dict[int, list[str]]:
    """Running task ids by the pid of the worker that holds them."""
    ids = r.zrange(running_key, 0, -1)
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hget(task_key(task_id), "worker")
    held: dict[int, list[str]] = {}
    for task_id, worker in zip(ids, pipe.execute(), strict=True):
        pid = _worker_pid(worker) if worker else None
        if pid is not None:
            held.setdefault(pid, []).append(task_id)
    return held


def _fields(r: redis.Redis, task_key: Any, ids: list[str], *names: str) -> list[list[Any]]:
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hmget(task_key(task_id), list(names))
    rows: list[list[Any]] = pipe.execute()
    return rows


def _scenario(
    r: redis.Redis,
    url: str,
    checkout: Path = ROOT,
    *,
    n: int = 800,
    kills: int = 5,
    concurrency: int = 5,
    workers: int = 2,
    task_seconds: float = 0.05,
    interval: float = 1.0,
    seed: int = 0,
    log_dir: Path | None = None,
    timeout: float = 180.0,
) -> dict[str, Any]:
    checkout = checkout.resolve()
    queue = "recovery" + uuid.uuid4().hex[:8]
    k = queue_keys(queue)  # running ZSET, queued ZSET, task hashes: the same at 8cd74ee
    own_logs = log_dir is None
    logs = Path(tempfile.mkdtemp(prefix="bench-recovery-")) if log_dir is None else log_dir
    rng = random.Random(seed)
    argv = [sys.executable, "-m", "system", "worker", "-Q", queue, "-c", str(concurrency)]
    argv += ["--import", "recovery_handlers", "--log-level", "WARNING"]
    started: list[_Worker] = []

    def start() -> _Worker:
        started.append(_Worker(argv, checkout, url, logs / f"{queue}-{len(started)}.log"))
        return started[-1]

    ids = _submit(checkout, url, queue, n, task_seconds)
    t0 = time.time()
    live = [start() for _ in range(workers)]
    done: list[dict[str, Any]] = []
    try:
        # The first kill comes `interval` after the first task is held, each next one
        # `interval` after the previous kill, and only once a live worker holds tasks.
        next_at = None
        deadline = time.monotonic() + timeout
        while len(done) < kills:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no worker held tasks for the kill; logs in {logs}")
            held = _holders(r, k.running, k.task)
            targets = [p for p in live if held.get(p.pid)]
            if next_at is None and targets:
                next_at = time.monotonic() + interval
            if next_at is None or time.monotonic() < next_at or not targets:
                if not held and r.zcard(k.queued) == 0 and next_at is not None:
                    break  # drained before the kills were done: reported as fewer kills
                time.sleep(0.01)
                continue
            victim = rng.choice(targets)
            victim.kill()
            killed_at = time.time()
            # The leases of a dead worker stay as they were until the leader reclaims
            # them (2 s or more), so this is what it held when it died.
            victim_held = _holders(r, k.running, k.task).get(victim.pid, [])
            done.append(
                {
                    "pid": victim.pid,
                    "killed_at": killed_at,
                    "held": victim_held,
                    "queued": r.zcard(k.queued),
                }
            )
            live.remove(victim)
            live.append(start())
            next_at = time.monotonic() + interval
        if not done:
            raise RuntimeError("no kill happened: the queue drained first")
        last = done[-1]
        redelivered_at = None
        while last["held"] and time.monotonic() < deadline:
            rows = _fields(r, k.task, last["held"], "state", "worker")
            if all(s != "running" or _worker_pid(w or "") != last["pid"] for s, w in rows):
                redelivered_at = time.time()
                break
            time.sleep(0.01)
        while time.monotonic() < deadline:
            states = [row[0] for row in _fields(r, k.task, ids, "state")]
            if all(s in TERMINAL for s in states):
                break
            time.sleep(0.2)
    finally:
        for p in live:
            p.stop()
    rows = _fields(r, k.task, ids, "state", "finished_ms")
    finished = {i: int(f) for i, (_, f) in zip(ids, rows, strict=True) if f}
    starts_key, ends_key = (f"bench:recovery:{queue}:{x}" for x in ("starts", "ends"))
    starts = {i: int(v) for i, v in r.hgetall(starts_key).items()}
    ends = {i: int(v) for i, v in r.hgetall(ends_key).items()}

    def recovery(kill: dict[str, Any]) -> float | None:
        ends_ms = [finished.get(i) for i in kill["held"]]
        if not kill["held"] or None in ends_ms:
            return None
        return max(e for e in ends_ms if e is not None) / 1000 - float(kill["killed_at"])

    if own_logs:
        shutil.rmtree(logs, ignore_errors=True)
    last = done[-1]
    return {
        "checkout": str(checkout),
        "n": n,
        "kills": len(done),
        "held_at_kills": sum(len(d["held"]) for d in done),
        "lost": sum(1 for s, _ in rows if s != "succeeded"),
        "states": {s: sum(1 for x, _ in rows if x == s) for s in {x for x, _ in rows}},
        "extra_starts": sum(max(0, c - 1) for c in starts.values()),
        "extra_ends": sum(max(0, c - 1) for c in ends.values()),
        "redelivered_s": None if redelivered_at is None else redelivered_at - last["killed_at"],
        "recovery_s": recovery(last),
        "last_kill_to_last_finished_s": (
            max(finished.values()) / 1000 - last["killed_at"] if finished else None
        ),
        "backlog_at_last_kill": last["queued"],
        "first_kill_s": done[0]["killed_at"] - t0,
        "kill_details": [
            {
                "at_s": round(d["killed_at"] - t0, 3),
                "held": len(d["held"]),
                "queued": d["queued"],
                "recovery_s": recovery(d),
                # Held tasks that had run to their end (their completion not yet written:
                # the worker sends completions in batches) and so ran to the end again.
                "held_ended_twice": sum(1 for i in d["held"] if ends.get(i, 0) > 1),
            }
            for d in done
        ],
        "loadavg": os.getloadavg(),
    }


def measure(url: str, checkout: Path = ROOT, **options: Any) -> dict[str, Any]:
    """One run of the scenario on the Redis at ``url`` (a fresh queue; nothing is flushed);
    ``options`` are ``_scenario``'s keywords."""
    check_url(url)
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        return _scenario(r, url, checkout, **options)
    finally:
        r.close()


COLUMNS = [
    ("kills", "kills", "{:d}"),
    ("held_at_kills", "held", "{:d}"),
    ("lost", "lost", "{:d}"),
    ("extra_starts", "extra starts", "{:d}"),
    ("extra_ends", "extra ends", "{:d}"),
    ("backlog_at_last_kill", "backlog", "{:d}"),
    ("redelivered_s", "redelivered s", "{:.2f}"),
    ("recovery_s", "recovery s", "{:.2f}"),
    ("last_kill_to_last_finished_s", "last kill->end s", "{:.2f}"),
]


def _row(label: str, values: dict[str, Any]) -> str:
    cells = []
    for key, title, fmt in COLUMNS:
        v = values.get(key)
        cells.append(f"{'-' if v is None else fmt.format(v):>{len(title) + 2}}")
    return f"{label:<26}" + "".join(cells)


def _median(runs: list[dict[str, Any]], key: str) -> Any:
    got = [x[key] for x in runs if x.get(key) is not None]
    if not got:
        return None
    m = statistics.median(got)
    return round(m) if all(isinstance(x, int) for x in got) else m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=800, help="tasks (default 800)")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("-c", "--concurrency", type=int, default=5, help="per worker")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--task-seconds", type=float, default=0.05)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between kills")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--taskq-from", type=Path, action="append", default=[])
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    versions = [("after (this tree)", ROOT)]
    versions += [(f"before ({d.name})", d.resolve()) for d in a.taskq_from]
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in versions}
    dropped = sorted(k for k in os.environ if k.startswith("TASKQ_"))
    if dropped:
        print(f"ignoring {', '.join(dropped)}: defaults are measured", file=sys.stderr)
    with private_redis() as server:
        flush = redis.Redis.from_url(server.url)
        for rnd in range(a.rounds):
            for label, checkout in versions:
                flush.flushall()
                res = measure(
                    server.url,
                    checkout,
                    n=a.n,
                    kills=a.kills,
                    concurrency=a.concurrency,
                    workers=a.workers,
                    task_seconds=a.task_seconds,
                    interval=a.interval,
                    seed=rnd,
                )
                res["round"] = rnd + 1
                runs[label].append(res)
                print(f"round {rnd + 1} {label}: {_row('', res).strip()}", file=sys.stderr)
    load = os.getloadavg()
    print(
        f"\nrecovery after SIGKILL: n={a.n} tasks of {a.task_seconds * 1000:g} ms, "
        f"{a.workers} workers -c {a.concurrency}, {a.kills} kills {a.interval:g} s apart, "
        f"default settings; load average now {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(f"{'run':<26}" + "".join(f"{t:>{len(t) + 2}}" for _, t, _ in COLUMNS))
    for label, got in runs.items():
        for res in got:
            print(_row(f"{label} #{res['round']}", res))
    for label, got in runs.items():
        print(_row(f"{label} median", {key: _median(got, key) for key, _, _ in COLUMNS}))
    if a.json:
        a.json.write_text(json.dumps({"args": vars(a), "runs": runs}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
