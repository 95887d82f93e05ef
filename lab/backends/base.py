"""What the lab needs from a deployment: start/stop, addresses, and the fault operations
that events are made of. Each operation returns once it has taken effect."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import redis

from lab.backends.prometheus_server import API_JOB, WORKER_JOB
from system.client import Client

Which = Literal["random", "oldest", "newest", "busiest"]
Target = Literal["worker", "redis"]
NetworkTarget = Literal["api", "worker", "workers"]


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """A ``/metrics`` endpoint; ``job`` and ``instance`` become labels, as in Prometheus."""

    job: str
    url: str

    @property
    def instance(self) -> str:
        return self.url.split("//", 1)[-1].split("/", 1)[0]


def scrape_targets(api_url: str, worker_ports: Iterable[int]) -> list[ScrapeTarget]:
    """The API's ``/metrics`` and that of each worker's metrics port, under the job names
    Prometheus labels them with (so the lab's own scrape and Prometheus agree)."""
    workers = [ScrapeTarget(WORKER_JOB, f"http://127.0.0.1:{p}/metrics") for p in worker_ports]
    return [ScrapeTarget(API_JOB, f"{api_url}/metrics"), *workers]


def redis_version(redis_url: str) -> str:
    """``redis 7.0.15`` or ``valkey 8.1.1``: the server a run used, for environment.json."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        info = r.info("server")
    name = "valkey" if "valkey_version" in info else "redis"
    return f"{name} {info.get('valkey_version') or info.get('redis_version', '?')}"


def in_flight_by_pid(redis_url: str) -> dict[int, int]:
    """Tasks each live worker process holds, by pid, as its latest heartbeat reported
    (for ``which: busiest``: a fault meant to hit held tasks picks the worker holding most)."""
    with Client(redis_url, check=False) as client:
        return {w.pid: w.in_flight for w in client.workers()}


W = TypeVar("W")


def pick(
    live: Sequence[W], which: Which, rng: random.Random, redis_url: str, pid: Callable[[W], int]
) -> W | None:
    """The worker an event acts on, among ``live`` (oldest first); ``random`` draws from
    the run's seeded ``rng``."""
    if not live:
        return None
    if which == "oldest":
        return live[0]
    if which == "newest":
        return live[-1]
    if which == "busiest":
        held = in_flight_by_pid(redis_url)
        return max(live, key=lambda w: held.get(pid(w), 0))  # ties: the oldest
    return rng.choice(live)


@dataclass(frozen=True, slots=True)
class Affected:
    """Which process an operation acted on (for the events table)."""

    process: str  # e.g. "worker-3", "redis"
    pid: int | None = None


class Backend(Protocol):
    @property
    def redis_url(self) -> str: ...
    @property
    def api_url(self) -> str: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def worker_pids(self) -> list[int]:
        """Live worker processes, oldest first."""
        ...

    @property
    def prometheus_url(self) -> str | None:
        """The Prometheus the backend started (it scrapes every process), if any."""
        ...

    def scrape_targets(self) -> list[ScrapeTarget]: ...
    def redis_version(self) -> str: ...
    def environment(self) -> dict[str, Any]:
        """What environment.json records of the backend (``name``, for docker the engine,
        images and each role's limits)."""
        ...

    # Fault operations: the blocking part (signals, spawning) only; the events module
    # waits for the effect asynchronously.
    def spawn_worker(self) -> Affected: ...
    def signal_worker(self, which: Which, signum: int) -> Affected | None: ...
    def worker_exited(self, pid: int) -> bool: ...
    def pause(self, target: Target, which: Which) -> Affected | None: ...
    def resume(self, target: Target) -> list[Affected]: ...
    def restart_redis(self, crash: bool) -> Affected: ...

    # Network faults (system.network_faults): the Toxiproxy API and each process's proxy.
    @property
    def toxiproxy_url(self) -> str | None: ...
    def network_proxies(self, target: NetworkTarget, which: Which) -> list[tuple[Affected, str]]:
        """(process, name of the proxy of its Redis connection) for each process hit."""
        ...
