"""Shared measurement machinery: worker processes, drain timing, round-trip loop.

Drain method (identical for every system): the queue is pre-filled with ``n`` tasks while
no worker runs; then the workers are started. The rate is ``(n - 1) / (t_last - t_first)``
where ``t_first`` and ``t_last`` are the Redis server times of the first and last
completion (``bench.counter``), so worker start-up (interpreter, imports, connecting,
forking a pool) is not counted. ``spawn_to_first_s`` (start-up) is recorded separately.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from bench import _proc, counter

REPO_ROOT = Path(__file__).resolve().parent.parent
#: console scripts (celery, rq, dramatiq, arq) of the interpreter running the benchmark
BIN = Path(sys.executable).parent
#: round-trip warm-up cycles, excluded from the numbers (the first includes worker start-up)
WARMUP = 20
WARMUP_FIRST_TIMEOUT_S = 60.0
CYCLE_TIMEOUT_S = 10.0
#: a drain with no progress for this long fails (STARTUP_S before the first completion)
STALL_S = 30.0
STARTUP_S = 60.0
#: a worker log longer than this means per-task logging (warned about)
LOG_LINES_WARN = 200
#: graceful shutdown allowance before SIGKILL
STOP_TIMEOUT_S = 20.0

_log_dir: Path | None = None


def set_log_dir(path: Path) -> None:
    global _log_dir
    path.mkdir(parents=True, exist_ok=True)
    _log_dir = path


def log_dir() -> Path:
    if _log_dir is None:
        set_log_dir(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-logs-{os.getpid()}")
    assert _log_dir is not None
    return _log_dir


@dataclass(frozen=True)
class DrainResult:
    n: int
    processes: int
    #: Redis time between the first and the last completion
    first_to_last_s: float
    #: Redis time from just before the workers were spawned to the first completion
    spawn_to_first_s: float
    spawn_to_last_s: float

    @property
    def rate(self) -> float:
        """Completions per second between first and last: (n - 1) / (t_last - t_first)."""
        return (self.n - 1) / self.first_to_last_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate_per_s": self.rate}


def worker_env(redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    counter.check_url(redis_url)
    env = dict(os.environ)
    env[counter.URL_ENV] = redis_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if extra:
        env.update(extra)
    return env


_seq = 0


@contextlib.contextmanager
def workers(
    argvs: Sequence[Sequence[str]],
    redis_url: str,
    label: str,
    env_extra: Mapping[str, str] | None = None,
) -> Iterator[list[_proc.Proc]]:
    """Start one process group per argv; always stopped (warm, then killed) on exit."""
    global _seq
    env = worker_env(redis_url, env_extra)
    procs: list[_proc.Proc] = []
    try:
        for i, argv in enumerate(argvs):
            _seq += 1
            log = log_dir() / f"{_seq:03d}-{label}-{i}.log"
            procs.append(_proc.spawn(argv, str(log), env=env, cwd=str(REPO_ROOT)))
        yield procs
    finally:
        for p in procs:
            p.stop(timeout_s=STOP_TIMEOUT_S)
        for p in procs:
            _check_log_volume(p)


def _check_log_volume(p: _proc.Proc) -> None:
    """Warn when a worker logged per task: that costs time and would distort the numbers."""
    try:
        with open(p.log_path, "rb") as f:
            lines = sum(1 for _ in f)
    except FileNotFoundError:
        return
    if lines > LOG_LINES_WARN:
        print(
            f"bench: WARNING {p.log_path} has {lines} lines: the worker seems to log per task, "
            "which slows it down; fix its log settings",
            file=sys.stderr,
        )


def _dead(procs: Sequence[_proc.Proc]) -> str | None:
    for p in procs:
        if not p.alive():
            return (
                f"worker {p.argv} exited with {p.popen.returncode}; log {p.log_path}:\n"
                f"{p.log_tail()}"
            )
    return None


def wait_for_count(
    client: redis.Redis,
    target: int,
    procs: Sequence[_proc.Proc],
    timeout_s: float,
    poll_s: float = 0.01,
) -> None:
    """Block until the completion counter reaches target; raise on death, stall or timeout."""
    start = time.monotonic()
    deadline = start + timeout_s
    last, last_change = -1, start
    while True:
        c = counter.count(client)
        now = time.monotonic()
        if c >= target:
            return
        if c != last:
            last, last_change = c, now
        if (msg := _dead(procs)) is not None:
            raise RuntimeError(f"{c}/{target} done; {msg}")
        if now - last_change > (STALL_S if c > 0 else STARTUP_S):
            raise RuntimeError(
                f"no progress for {now - last_change:.0f}s at {c}/{target}; logs in {log_dir()}"
            )
        if now > deadline:
            raise RuntimeError(f"timeout after {timeout_s}s at {c}/{target}; logs in {log_dir()}")
        time.sleep(poll_s)


def drain_timeout_s(n: int) -> float:
    """Upper bound for one drain (failure guard only): 60 s plus 20 ms per task."""
    return 60.0 + 0.02 * n


def run_drain(
    redis_url: str,
    n: int,
    processes: int,
    argvs: Sequence[Sequence[str]],
    label: str,
    env_extra: Mapping[str, str] | None = None,
) -> DrainResult:
    """Start the workers on the pre-filled queue and time first -> last completion."""
    client = redis.Redis.from_url(redis_url)
    try:
        if counter.count(client) != 0:
            raise RuntimeError("completion counter not reset before drain")
        counter.load(client)
        t_spawn = counter.server_time_us(client)
        with workers(argvs, redis_url, label, env_extra) as procs:
            wait_for_count(client, n, procs, drain_timeout_s(n))
        done = counter.read(client)
    finally:
        client.close()
    if done.count != n or done.first_us is None or done.last_us is None:
        raise RuntimeError(f"{label}: expected exactly {n} completions, counted {done.count}")
    return DrainResult(
        n=n,
        processes=processes,
        first_to_last_s=(done.last_us - done.first_us) / 1e6,
        spawn_to_first_s=(done.first_us - t_spawn) / 1e6,
        spawn_to_last_s=(done.last_us - t_spawn) / 1e6,
    )


def run_roundtrips(
    redis_url: str,
    n: int,
    argvs: Sequence[Sequence[str]],
    label: str,
    cycle: Callable[[int, float], None],
    env_extra: Mapping[str, str] | None = None,
) -> list[float]:
    """Start one worker, warm up, then time n sequential ``cycle(i, timeout_s)`` calls.

    ``cycle`` submits one task with argument i and returns once its result is received
    (raising if it is not received within timeout_s or is not i).
    """
    client = redis.Redis.from_url(redis_url)
    lat: list[float] = []
    try:
        counter.load(client)
        with workers(argvs, redis_url, label, env_extra) as procs:
            for i in range(WARMUP):
                try:
                    cycle(-1 - i, WARMUP_FIRST_TIMEOUT_S if i == 0 else CYCLE_TIMEOUT_S)
                except Exception as exc:
                    raise RuntimeError(
                        f"{label}: warm-up cycle {i} failed: {exc!r}; "
                        f"{_dead(procs) or 'worker alive'}"
                    ) from exc
            for i in range(n):
                t0 = time.perf_counter()
                cycle(i, CYCLE_TIMEOUT_S)
                lat.append(time.perf_counter() - t0)
        done = counter.count(client)
    finally:
        client.close()
    if done != WARMUP + n:
        raise RuntimeError(f"{label}: expected {WARMUP + n} completions, counted {done}")
    return lat
