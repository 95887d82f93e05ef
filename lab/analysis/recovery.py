"""Recovery metrics of a fault run, one row per fault event (pure pandas, no I/O).

Times are seconds from the start of the load. A fault starts when its event took effect
(``effective_s``; the request time when it never did) and ends when it was lifted (a
dependency back, a network toxic or partition removed, a paused process resumed); a kill
or a Redis crash is instant.

- **before**: completions per second over the ``baseline_seconds`` before the fault (at
  most since the previous fault's stretch ended), the reference for "recovered".
- **noticed**: the first sign in the data that the system reacted: the queue's
  ``lease_expired`` counter rising (a lease reclaimed; as sampled, so to the sampling
  interval), a submit refused or failed (Redis away: 503, or 429), or a failed call to
  the dependency, from the fault's request until the next fault's request (a symptom
  then is the next fault's). ``noticed_after_s`` = noticed - start, 0 for a sign before
  the start (a Redis restart refuses submits until it takes effect); None when nothing
  showed (a killed worker that held no task). Handler failures are not signs: they
  happen anyway.
- **recovered**: every ``window_seconds`` after the start, the throughput over a trailing
  window (by finish time; as wide as needed for ~200 completions at the rate before, so
  that Poisson noise does not fake a dip) is compared with the rate before. A dip is
  below 90 % of it and more than 3 Poisson standard deviations down; recovery is the
  first later time it is back within 10 %; 0 when it never dipped; None when it did not
  come back before the next fault or the end of the load.
- **peak backlog**: the most tasks queued from the start to recovery (or the load's end).
- **extra latency**: p50 and p99 latency of the tasks that *finished* in the fault's
  stretch (from its start to the latest of recovery, its lift, one window after it was
  noticed, one window), minus the same for the tasks that finished in the baseline. By
  finish time, so a task the fault held (a killed worker's, redelivered later) counts;
  with few such tasks the p99 hardly moves: ``latency_max_in_fault_s`` shows them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lab.analysis.model import FaultRecovery

FAULTS = (
    "kill_worker", "pause", "restart_redis", "dependency_down",  # processes, dependency
    "latency", "jitter", "bandwidth", "partition", "reset", "blackhole",  # network
)  # fmt: skip
RECOVERED_SHARE = 0.9  # within 10 % of the throughput before the fault
MIN_TASKS_PER_WINDOW = 200
DIP_SIGMAS = 3.0  # a dip is deeper than this many Poisson standard deviations
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


def fault_windows(events: pd.DataFrame) -> list[tuple[float, float]]:
    """(start, end) of every fault event, seconds from the start of the load: from its
    request to its lift, or to its effect when that is later (a Redis restart is effective
    when Redis answers again)."""
    out = []
    for i in range(len(events)):
        e = events.iloc[i]
        if e["action"] in FAULTS:
            effective = e["effective_s"] if pd.notna(e["effective_s"]) else e["requested_s"]
            end = _fault_end(events, i, float(effective))
            out.append((float(e["requested_s"]), max(end, float(effective))))
    return out


def in_windows(
    times: pd.Series[float], windows: list[tuple[float, float]], grace_s: float = 0.0
) -> pd.Series[bool]:
    """Which times fall in a window (extended by ``grace_s`` after its end)."""
    inside = pd.Series(False, index=times.index)
    for start, end in windows:
        inside |= (times >= start) & (times <= end + grace_s)
    return inside


def _noticed(
    tasks: pd.DataFrame,
    dependency: pd.DataFrame | None,
    reclaimed: pd.Series[float] | None,
    start: float,
    until: float = math.inf,
) -> float | None:
    """The first sign in [start, until): a symptom after the next fault began is that
    fault's, not this one's."""
    signs: list[float] = []
    if reclaimed is not None and len(reclaimed):
        before = reclaimed[reclaimed.index < start]
        level = float(before.iloc[-1]) if len(before) else 0.0
        rose = reclaimed[(reclaimed.index >= start) & (reclaimed.index < until)]
        rose = rose[rose > level]
        if len(rose):
            signs.append(float(rose.index[0]))
    sent = tasks[(tasks["sent_s"] >= start) & (tasks["sent_s"] < until)]
    refused = sent[(sent["submit"] != "accepted") | (sent["refusals"] > 0)]
    if len(refused):
        signs.append(float(refused["sent_s"].min()))
    if dependency is not None and len(dependency):
        at = dependency["time_s"]
        bad = dependency[(at >= start) & (at < until) & (dependency["status"] != 200)]
        if len(bad):
            signs.append(float(bad["time_s"].min()))
    return min(signs) if signs else None


def rate_window(before: float, window_seconds: float) -> float:
    """Wide enough that Poisson noise stays well inside the 10 % band: at least
    ``MIN_TASKS_PER_WINDOW`` completions expected (noise about 7 %)."""
    return max(window_seconds, MIN_TASKS_PER_WINDOW / before)


def _recovered(
    finished: pd.Series[float], start: float, before: float, step: float, horizon: float
) -> float | None:
    """Seconds from the start until the trailing-window throughput was back (0: it
    never dipped), checked every ``step`` seconds up to ``horizon``."""
    width = rate_window(before, step)
    noise = math.sqrt(before * width) / width  # Poisson sd of a window's rate
    dip_below = min(RECOVERED_SHARE * before, before - DIP_SIGMAS * noise)
    dipped = False
    k = 1
    while (at := start + k * step) <= horizon + 1e-9:
        rate = _rate(finished, at - width, at) or 0.0
        if rate < dip_below:
            dipped = True
        elif dipped and rate >= RECOVERED_SHARE * before:
            return round(at - start, 3)
        k += 1
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
) -> list[FaultRecovery]:
    """One row per fault event (see the module docstring); [] without faults.
    ``depth``: queued tasks over time; ``reclaimed``: the lease_expired counter over
    time (both from the lab sampler, see ``lab.analysis.series.lab_series``)."""
    if not len(events):
        return []
    ok = tasks[tasks["state"] == "succeeded"]
    finished = ok["finished_s"].dropna()
    out = []
    previous_until = 0.0
    faults = events["action"].isin(FAULTS)
    starts = events["effective_s"].fillna(events["requested_s"]).where(faults, math.inf).tolist()
    requested_at = events["requested_s"].where(faults, math.inf).tolist()
    for i in range(len(events)):
        e = events.iloc[i]
        if e["action"] not in FAULTS:
            continue
        start = float(e["effective_s"] if pd.notna(e["effective_s"]) else e["requested_s"])
        end = _fault_end(events, i, start)
        base_from = max(previous_until, start - baseline_seconds, 0.0)
        before = _rate(finished, base_from, start)
        # From the request: a Redis restart takes effect when Redis is back, and its
        # refusals come before that.
        requested = min(start, float(e["requested_s"]))
        later = [float(t) for t in requested_at[i + 1 :] if t > requested]
        noticed = _noticed(tasks, dependency, reclaimed, requested, min(later, default=math.inf))
        noticed = None if noticed is None else max(noticed, start)
        later = [float(t) for t in starts[i + 1 :] if t > start]
        horizon = min([load_end_s, *later])
        back = _recovered(finished, start, before, window_seconds, horizon) if before else None
        # The fault's stretch: to recovery, its lift, or one window after it was noticed
        # (redelivered tasks end then), at least one window.
        seen = (noticed or start) + window_seconds
        until = max(start + (back or 0.0), end, seen, start + window_seconds)
        last = until if back is not None else load_end_s
        queued = depth[(depth.index >= start) & (depth.index <= last)]
        # By finish time: a task the fault delayed ends in its stretch, whenever it came.
        in_base = ok[(ok["finished_s"] >= base_from) & (ok["finished_s"] < start)]
        in_fault = ok[(ok["finished_s"] >= start) & (ok["finished_s"] < until)]
        out.append(
            FaultRecovery(
                index=int(e["index"]) if "index" in e else i,
                action=str(e["action"]),
                start_s=round(start, 3),
                end_s=round(end, 3),
                throughput_before_per_second=None if before is None else round(before, 3),
                noticed_after_s=None if noticed is None else round(noticed - start, 3),
                recovered_after_s=back,
                peak_backlog_tasks=None if not len(queued) else int(queued.max()),
                latency_p50_extra_s=_finite(
                    _minus(_p(in_fault["latency_s"], 50), _p(in_base["latency_s"], 50))
                ),
                latency_p99_extra_s=_finite(
                    _minus(_p(in_fault["latency_s"], 99), _p(in_base["latency_s"], 99))
                ),
                latency_max_in_fault_s=_finite(_minus(_p(in_fault["latency_s"], 100), 0.0)),
                tasks_in_fault_window=len(in_fault),
                fault_window_s=_finite(round(until - start, 3)),
            )
        )
        previous_until = until
    return out


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v
