"""Recovery metrics of a fault run, one row per fault event (pure pandas, no I/O).

Times are seconds from the start of the load. A fault starts when its event took effect
(``effective_s``; the request time when it never did) and ends when it was lifted (a
dependency back, a paused process resumed); a kill or a Redis crash is instant.

- **before**: completions per second over the ``baseline_seconds`` before the fault (at
  most since the last fault), the reference for "recovered".
- **noticed**: the first sign in the data that the system reacted: the queue's
  ``lease_expired`` counter rising (a lease reclaimed; as sampled, so to the sampling
  interval), a submit refused or failed (Redis away: 503, or 429), or a failed call to
  the dependency. ``noticed_after_s`` = noticed - start; None when nothing showed (a
  killed worker that held no task). Handler failures are not signs: they happen anyway.
- **recovered**: throughput per window (``window_seconds``, by finish time) is compared
  with 90 % of before. If it dipped below after the start, recovery is the start of the
  first later window back at or above it; if it never dipped, 0. None when it did not
  come back before the load ended.
- **peak backlog**: the most tasks queued from the start to recovery (or the load's end).
- **extra latency**: p50 and p99 latency of the tasks that arrived (intended time) during
  the fault, from its start to recovery (at least one window), minus the same for the
  tasks that arrived in the baseline.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

FAULTS = ("kill_worker", "pause", "restart_redis", "dependency_down")
RECOVERED_SHARE = 0.9  # within 10 % of the throughput before the fault
BASELINE_SECONDS = 5.0


def _rate(finished: pd.Series[float], start: float, end: float) -> float | None:
    if end - start <= 0:
        return None
    return float(((finished >= start) & (finished < end)).sum()) / (end - start)


def _p(values: pd.Series[float], q: float) -> float | None:
    v = values.dropna().to_numpy()
    return float(np.percentile(v, q)) if len(v) else None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def _fault_end(events: pd.DataFrame, i: int, start: float) -> float:
    e = events.iloc[i]
    if pd.notna(e.get("lifted_s")):
        return float(e["lifted_s"])
    if e["action"] == "pause":  # until the next resume of the same target
        target = str(e["detail"]).split("target=")[-1].split()[0]
        later = events.iloc[i + 1 :]
        resumes = later[(later["action"] == "resume") & later["detail"].str.contains(target)]
        if len(resumes):
            r = resumes.iloc[0]
            return float(r["effective_s"] if pd.notna(r["effective_s"]) else r["requested_s"])
    return start


def _noticed(
    tasks: pd.DataFrame,
    dependency: pd.DataFrame | None,
    reclaimed: pd.Series[float] | None,
    start: float,
) -> float | None:
    signs: list[float] = []
    if reclaimed is not None and len(reclaimed):
        before = reclaimed[reclaimed.index < start]
        level = float(before.iloc[-1]) if len(before) else 0.0
        rose = reclaimed[(reclaimed.index >= start) & (reclaimed > level)]
        if len(rose):
            signs.append(float(rose.index[0]))
    refused = tasks[(tasks["sent_s"] >= start) & (tasks["submit"] != "accepted")]
    refused = pd.concat([refused, tasks[(tasks["sent_s"] >= start) & (tasks["refusals"] > 0)]])
    if len(refused):
        signs.append(float(refused["sent_s"].min()))
    if dependency is not None and len(dependency):
        bad = dependency[(dependency["time_s"] >= start) & (dependency["status"] != 200)]
        if len(bad):
            signs.append(float(bad["time_s"].min()))
    return min(signs) if signs else None


def _recovered(
    finished: pd.Series[float], start: float, before: float, window: float, load_end: float
) -> float | None:
    """Seconds from the start until throughput was back (0: it never dipped)."""
    target = RECOVERED_SHARE * before
    dipped = False
    at = start
    while at + window <= load_end + 1e-9:
        rate = _rate(finished, at, at + window) or 0.0
        if rate < target:
            dipped = True
        elif dipped:
            return round(at - start, 3)
        at += window
    return None if dipped else 0.0


def recovery(
    tasks: pd.DataFrame,
    events: pd.DataFrame,
    depth: pd.Series[float],
    load_end_s: float,
    window_seconds: float = 1.0,
    dependency: pd.DataFrame | None = None,
    reclaimed: pd.Series[float] | None = None,
    baseline_seconds: float = BASELINE_SECONDS,
) -> list[dict[str, Any]]:
    """``depth``: queued tasks over time; ``reclaimed``: the lease_expired counter over
    time (both from the lab sampler, see ``lab.analysis.lab_series``)."""
    """One dict per fault event (see the module docstring); [] without faults."""
    if not len(events):
        return []
    ok = tasks[tasks["state"] == "succeeded"]
    finished = ok["finished_s"].dropna()
    out = []
    previous_end = 0.0
    for i in range(len(events)):
        e = events.iloc[i]
        if e["action"] not in FAULTS:
            continue
        start = float(e["effective_s"] if pd.notna(e["effective_s"]) else e["requested_s"])
        end = _fault_end(events, i, start)
        base_from = max(previous_end, start - baseline_seconds, 0.0)
        before = _rate(finished, base_from, start)
        noticed = _noticed(tasks, dependency, reclaimed, start)
        back = _recovered(finished, start, before, window_seconds, load_end_s) if before else None
        # The fault's stretch: to recovery (or its lift), at least one window.
        until = max(start + (back or 0.0), end, start + window_seconds)
        last = until if back is not None else load_end_s
        queued = depth[(depth.index >= start) & (depth.index <= last)]
        in_base = ok[(ok["intended_s"] >= base_from) & (ok["intended_s"] < start)]
        in_fault = ok[(ok["intended_s"] >= start) & (ok["intended_s"] < until)]
        out.append(
            {
                "index": int(e["index"]) if "index" in e else i,
                "action": str(e["action"]),
                "start_s": round(start, 3),
                "end_s": round(end, 3),
                "throughput_before_per_second": None if before is None else round(before, 3),
                "noticed_after_s": None if noticed is None else round(noticed - start, 3),
                "recovered_after_s": back,
                "peak_backlog_tasks": None if not len(queued) else int(queued.max()),
                "latency_p50_extra_s": _minus(
                    _p(in_fault["latency_s"], 50), _p(in_base["latency_s"], 50)
                ),
                "latency_p99_extra_s": _minus(
                    _p(in_fault["latency_s"], 99), _p(in_base["latency_s"], 99)
                ),
                "tasks_in_fault_window": len(in_fault),
            }
        )
        previous_end = max(end, start)
    return [{k: _finite(v) for k, v in row.items()} for row in out]


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v
