"""The interface every benchmarked system implements, and the registry of systems.

A system module (``bench/systems/<x>.py``) exposes ``SYSTEM``, an object with:

``name: str``
    Short name used on the command line (``--systems``) and in the table.
``variants: Sequence[Variant]``
    Worker settings to measure (e.g. Celery prefork vs solo). Drain and round-trip are
    measured per variant; enqueue is a client-side measurement, made once per system.
``bulk_api: str | None``
    One line saying what ``enqueue_bulk`` uses, or ``None`` when the library has no bulk
    submit (then ``enqueue_bulk`` returns ``None`` and the table shows ``n/a``).
``versions() -> dict[str, str]``
    Package versions to record in the result file.
``enqueue_one(redis_url, n) -> float``
    Seconds to submit ``n`` no-op tasks one call each through the library's normal API
    (connections established by a short untimed warm-up first).
``enqueue_bulk(redis_url, n) -> float | None``
    Seconds to submit ``n`` no-op tasks through the library's bulk API.
``drain(redis_url, n, processes, variant) -> DrainResult``
    Pre-fill ``n`` no-op tasks, start ``processes`` worker OS processes, wait until the
    completion counter reaches ``n``, stop the workers. Use ``bench.harness.run_drain``.
``roundtrip(redis_url, n, variant) -> list[float]``
    Start one worker, warm up (``bench.harness.WARMUP`` cycles, excluded), then return the
    latencies in seconds of ``n`` sequential submit -> result-received cycles.

Contract: the harness FLUSHALLs its private Redis before every call; each call checks that
every task really ran (queue depth after enqueue, the ``bench.counter`` count after drain
and round-trip) and raises otherwise; no call leaves a process behind. The no-op task of
every system takes one argument and calls ``bench.counter.mark_done`` (one EVALSHA); the
enqueue/drain task (``noop``) returns None and does not store a result where the library
allows that; the round-trip task (``noop_result``) returns its argument, which is checked.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.harness import DrainResult

__all__ = ["REGISTRY", "BenchSystem", "DrainResult", "Variant", "available", "load"]


@dataclass(frozen=True)
class Variant:
    """One worker configuration of a system."""

    name: str
    #: the settings in words, printed in the README table and stored in the result file
    description: str
    #: cap on n for the drain of a variant too slow for the full n (printed when used)
    max_drain_n: int | None = None
    #: free-form settings the system module reads
    options: Mapping[str, Any] = field(default_factory=dict)
    #: False for a variant that does not run the shared workload (e.g. a no-op without the
    #: counter call): it is shown in the table but left out of the ratios
    in_ratios: bool = True


class BenchSystem(Protocol):
    name: str
    variants: Sequence[Variant]
    bulk_api: str | None

    def versions(self) -> dict[str, str]: ...
    def enqueue_one(self, redis_url: str, n: int) -> float: ...
    def enqueue_bulk(self, redis_url: str, n: int) -> float | None: ...
    def drain(self, redis_url: str, n: int, processes: int, variant: Variant) -> DrainResult: ...
    def roundtrip(self, redis_url: str, n: int, variant: Variant) -> list[float]: ...


#: name -> module; taskq is listed first and used only when its module exists.
REGISTRY: dict[str, str] = {
    "taskq": "bench.systems.taskq",
    "celery": "bench.systems.celery_bench",
    "rq": "bench.systems.rq_bench",
    "dramatiq": "bench.systems.dramatiq_bench",
    "arq": "bench.systems.arq_bench",
}


def available() -> list[str]:
    return [name for name, mod in REGISTRY.items() if importlib.util.find_spec(mod) is not None]


def load(name: str) -> BenchSystem:
    """Import a system module. ``BENCH_REDIS_URL`` must be set first (modules read it)."""
    module = importlib.import_module(REGISTRY[name])
    system: BenchSystem = module.SYSTEM
    if system.name != name:
        raise RuntimeError(f"{REGISTRY[name]}.SYSTEM.name is {system.name!r}, expected {name!r}")
    return system
