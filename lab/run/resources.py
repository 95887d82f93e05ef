"""Resource accounting: what the host, each process of the system and the lab itself used
while a run went (psutil), so a report can say when the host or the load generator,
rather than the queue, was what got measured.

Every ``metrics_interval_seconds`` one round of rows, in the shape of ``metrics.csv``
(``time, metric, labels, value``; written to ``resources.csv``):

- ``host_cpu_percent{mode=user|system|idle|iowait|steal}``: share of all CPUs since the
  previous round (100 = every CPU busy in that mode);
- ``host_load1``: the 1-minute load average; ``host_cpus``: logical CPUs;
- ``host_memory_used_bytes``, ``host_memory_available_bytes``;
- ``process_cpu_percent{process=worker-2,role=worker}`` (100 = one core; a worker's
  process pool is counted with it) and ``process_rss_bytes`` for Redis, the API, each
  worker and ``lab`` (this process: the load generator, the sampler and the timeline).

A process appears from its second round on: CPU is a difference between two readings.
A process a backend does not expose (the docker backend gives none yet) is left out; the
host rows and the lab's own are always there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Protocol, runtime_checkable

import psutil

from lab.run.scrape import MetricRow, labels_text

HOST_MODES = ("user", "nice", "system", "idle", "iowait", "steal")
LAB_PROCESS = "lab"


@runtime_checkable
class ProcessList(Protocol):
    """A backend that can name its processes: process name -> pid (``redis``, ``api``,
    ``worker-1`` ...)."""

    def processes(self) -> dict[str, int]: ...


def role_of(process: str) -> str:
    """``worker-3`` -> ``worker``; ``redis``, ``api``, ``lab`` stay as they are."""
    return process.rsplit("-", 1)[0] if process[-1:].isdigit() else process


class ResourceSampler:
    """Samples on demand (``sample``) or every interval until stopped (``run``)."""

    def __init__(self, backend: object, interval_seconds: float) -> None:
        self.backend = backend
        self.interval = interval_seconds
        self.rows: list[MetricRow] = []
        self._procs: dict[int, psutil.Process] = {}  # by pid: CPU is measured between calls
        psutil.cpu_times_percent(interval=None)  # the first call only sets the reference

    def _named(self) -> dict[str, int]:
        named = {LAB_PROCESS: os.getpid()}
        if isinstance(self.backend, ProcessList):
            with contextlib.suppress(Exception):  # a backend mid-restart: this round lacks it
                named |= self.backend.processes()
        return named

    def _process(self, pid: int) -> tuple[psutil.Process, bool]:
        """The cached process (True) or a new one, primed (False: no CPU reading yet)."""
        proc = self._procs.get(pid)
        if proc is not None and proc.is_running():
            return proc, True
        proc = psutil.Process(pid)
        proc.cpu_percent(interval=None)
        self._procs[pid] = proc
        return proc, False

    def _usage(self, pid: int) -> tuple[float, float] | None:
        """(CPU percent, RSS bytes) of the process and its children; None when it is
        gone or new."""
        try:
            root, known = self._process(pid)
            family = [root]
            if root.pid != os.getpid():  # the lab's children are the system itself
                family += root.children(recursive=True)
            cpu = rss = 0.0
            for p in family:
                proc, seen = (root, known) if p is root else self._process(p.pid)
                cpu += proc.cpu_percent(interval=None) if seen else 0.0
                rss += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        return (cpu, rss) if known else None

    def sample(self, at: float | None = None) -> None:
        at = time.time() if at is None else at
        cpu = psutil.cpu_times_percent(interval=None)
        memory = psutil.virtual_memory()
        host = {"job": "lab", "instance": "host"}
        for mode in HOST_MODES:
            value = float(getattr(cpu, mode, 0.0))
            self.rows.append((at, "host_cpu_percent", labels_text({**host, "mode": mode}), value))
        rows = {
            "host_load1": os.getloadavg()[0],
            "host_cpus": float(psutil.cpu_count() or 1),
            "host_memory_used_bytes": float(memory.total - memory.available),
            "host_memory_available_bytes": float(memory.available),
        }
        self.rows += [(at, name, labels_text(host), v) for name, v in rows.items()]
        for name, pid in self._named().items():
            usage = self._usage(pid)
            if usage is None:
                continue
            labels = labels_text({"job": "lab", "process": name, "role": role_of(name)})
            self.rows.append((at, "process_cpu_percent", labels, round(usage[0], 2)))
            self.rows.append((at, "process_rss_bytes", labels, usage[1]))
        alive = {p for p, proc in self._procs.items() if proc.is_running()}
        self._procs = {p: proc for p, proc in self._procs.items() if p in alive}

    async def run(self, stop: asyncio.Event) -> None:
        """Every interval until ``stop`` (a missed round leaves a gap in the table)."""
        while not stop.is_set():
            started = time.time()
            self.sample(started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, started + self.interval - time.time()))
