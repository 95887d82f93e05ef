"""The run's verdict: did it measure the queue, or the load generator, the host or the API
in front of it? (pure pandas; ``Verdict`` in ``lab.analysis.model``)

A run is **inconclusive** when, outside fault windows (a fault's own effects, and
``GRACE_SECONDS`` after it, are what a fault run is about):

- **the generator fell behind** (open loop only): more than ``LATE_SHARE`` of the submits
  were sent later than ``report.send_lag_limit_seconds`` after their scheduled time.
  Latency still counts from the schedule, but the system was offered less than the
  schedule says. The cause is
  named: the in-flight cap bound (the submits were answered too slowly) or the lab's own
  process was at a full core;
- **the host CPU was saturated**: idle below ``report.host_idle_floor_percent`` in more
  than ``HOST_SATURATED_SHARE`` of the samples while tasks ran (processes then wait for
  a CPU: the numbers measure the host's contention as much as the queue);
- **the API refused other than by back pressure**: a 503 or a failed submit (a 500, a
  dropped connection, a timeout). A 429 is the queue's back pressure working.

Otherwise it is **conclusive**. A check (``checks.clean_bill``) can require it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab.analysis.model import Bottleneck, LoadAccounting, Resources, Verdict
from lab.analysis.recovery import fault_windows, in_windows

LATE_SHARE = 0.01
HOST_SATURATED_SHARE = 0.2
GRACE_SECONDS = 2.0
CAP_CAUSE_SHARE = 0.5  # of the late submits, this many capped: the cap is the cause


def _generator(
    tasks: pd.DataFrame,
    outside: pd.Series[bool],
    load: LoadAccounting,
    resources: Resources | None,
) -> Bottleneck | None:
    sent = tasks[outside & tasks["sent_s"].notna()]
    late = sent[sent["send_lag_s"] > load.send_lag_limit_s]
    if not len(sent) or len(late) <= LATE_SHARE * len(sent):
        return None
    p99 = float(np.percentile(sent["send_lag_s"].to_numpy(), 99))
    at = float(late["intended_s"].min())
    capped = int((pd.to_numeric(late["capped"], errors="coerce").fillna(0) > 0).sum())
    detail = (
        f"the load generator fell behind its schedule from {at:.1f} s ({len(late)} of "
        f"{len(sent)} submits sent more than {load.send_lag_limit_s:g} s late, send lag "
        f"p99 {p99:.2f} s)"
    )
    if load.in_flight_cap is not None and capped >= CAP_CAUSE_SHARE * len(late):
        detail += (
            f", held back by its in-flight cap of {load.in_flight_cap} submits (the API "
            "answered too slowly)"
        )
    elif resources is not None and (resources.generator_busy_share or 0.0) > 0:
        detail += (
            f", its process at a full core in {resources.generator_busy_share:.0%} of the samples"
        )
    elif resources is not None and (resources.host_saturated_share or 0.0) > 0:
        detail += ", waiting for a CPU on a saturated host"
    detail += "; the numbers after that measure the generator"
    return Bottleneck(what="generator", from_s=round(at, 3), detail=detail)


def _host(resources: Resources | None) -> Bottleneck | None:
    if resources is None or resources.host_saturated_share is None:
        return None
    if resources.host_saturated_share <= HOST_SATURATED_SHARE:
        return None
    at = resources.host_saturated_from_s
    return Bottleneck(
        what="host",
        from_s=at,
        detail=f"the host CPU was saturated (idle below {resources.idle_floor_percent:g} %) "
        f"in {resources.host_saturated_share:.0%} of the samples while tasks ran, first at "
        f"{at:.1f} s; the numbers measure the host's contention as much as the queue",
    )


def _api(tasks: pd.DataFrame, outside: pd.Series[bool]) -> Bottleneck | None:
    mine = tasks[outside]
    unavailable = pd.to_numeric(mine["refused_503"], errors="coerce")
    if unavailable.isna().all():  # a run from before refusals were counted by reason
        unavailable = (mine["submit"] == "unavailable").astype(float)
    failed = mine["submit"] == "error"
    hit = mine[(unavailable.fillna(0) > 0) | failed]
    if not len(hit):
        return None
    at = float(hit["sent_s"].min())
    return Bottleneck(
        what="api",
        from_s=round(at, 3),
        detail=f"the API refused submits other than by back pressure outside fault windows "
        f"({int(unavailable.fillna(0).sum())} answered 503 or unreachable, "
        f"{int(failed.sum())} failed otherwise), first at {at:.1f} s",
    )


def judge(
    tasks: pd.DataFrame,
    events: pd.DataFrame,
    load: LoadAccounting,
    resources: Resources | None,
    *,
    scheduled: bool = True,
) -> Verdict:
    """``scheduled``: the load followed a schedule (open loop); a backlog is submitted at
    once and a closed loop sends when answered, so their send lag says nothing."""
    windows = fault_windows(events) if len(events) else []
    times = tasks["sent_s"].fillna(tasks["intended_s"])
    outside = ~in_windows(times, windows, GRACE_SECONDS)
    found = [
        b
        for b in (
            _generator(tasks, outside, load, resources) if scheduled else None,
            _host(resources),
            _api(tasks, outside),
        )
        if b is not None
    ]
    unchecked = [] if resources is not None else ["the host, no resources.csv in this run"]
    return Verdict(conclusive=not found, bottlenecks=found, unchecked=unchecked)
