"""The per-run columns of ``compare.csv`` and a sweep's ``cells.csv``: one table from a
column's name to where its value is in a run's ``RunSummary``.

``value(name, summary)`` is None for a run without a summary (not derived yet, or a
sweep's run that failed) and for a section the run does not have (no capacity outside
backlog mode).
"""

from __future__ import annotations

from collections.abc import Callable

from lab.analysis.model import RunSummary

Value = float | int | bool | None

COLUMNS: dict[str, Callable[[RunSummary], Value]] = {
    "offered": lambda s: s.offered,
    "succeeded": lambda s: s.succeeded,
    "lost": lambda s: s.lost,
    "duplicates": lambda s: s.duplicates,
    "throughput_per_second": lambda s: s.throughput_per_second,
    "capacity_per_second": lambda s: None if s.capacity is None else s.capacity.per_second,
    "latency_p50_s": lambda s: s.latency_s.p50,
    "latency_p99_s": lambda s: s.latency_s.p99,
    "drain_seconds": lambda s: s.drain_seconds,
    "passed": lambda s: s.passed,
    "sent": lambda s: None if s.load is None else s.load.sent,
    "refused_429": lambda s: None if s.load is None else s.load.refused_429,
    "refused_503": lambda s: None if s.load is None else s.load.refused_503,
    "conclusive": lambda s: None if s.verdict is None else s.verdict.conclusive,
}


def value(name: str, summary: RunSummary | None) -> Value:
    return None if summary is None else COLUMNS[name](summary)
