"""From the raw tables to the numbers of ``summary.json`` (pure pandas, no I/O):
``summarize(run)`` gives a stored run's ``RunSummary`` (``lab.analysis.model``), measured
by this module (counts, latency, phases, saturation, autoscale, Redis restarts),
``recovery``, ``capacity``, ``breaker`` and ``partition``, then judged by ``checks``.

Definitions, in seconds from the start of the load unless said otherwise:

- **latency**: ``finished - intended`` of a succeeded task (intended: the schedule's send
  time, so time the generator spent late counts; see ``lab.run.generator``).
- **throughput**: tasks that ended / (last end - first intended send).
- **lost**: acknowledged submits whose task is not in a terminal state at the end (or whose
  record is gone).
- **duplicates**: executions beyond the first that the queue did not ask for. Each claim
  adds one to a task's ``attempts``; a handler failure that is retried is counted by the
  queue's ``retried`` counter. So duplicates = sum(attempts - 1) - retried: the
  re-executions after a lease was lost (a killed or stopped worker's tasks), cross-checked
  by the queue's ``lease_expired`` counter.
- **drain**: last end - end of the schedule (``lab.analysis.load``): a generator that
  fell behind its schedule does not shorten it.
- **queue wait**: ``started - eligible`` of a task's last attempt, both Redis's clock.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lab.analysis import breaker, capacity, partition, recovery, resources, verdict
from lab.analysis.checks import evaluate
from lab.analysis.load import account
from lab.analysis.model import (
    AutoscaleSummary,
    FaultRecovery,
    Measurements,
    Percentiles,
    Phase,
    RedisRestart,
    RunSummary,
    Saturation,
)
from lab.analysis.series import TERMINAL, lab_series, windows
from lab.scenario.events import CUT_OFF_ACTIONS

if TYPE_CHECKING:
    from lab.report.folder import Run

PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9}
STEADY_WINDOWS = 3  # a saturation must hold this many windows in a row
FAULT_GRACE_SECONDS = 2.0  # after a fault's stretch, still its effect


def percentiles(values: pd.Series[float]) -> Percentiles:
    v = values.dropna().to_numpy()
    if len(v) == 0:
        return Percentiles()
    return Percentiles(
        **{k: round(float(np.percentile(v, q)), 6) for k, q in PERCENTILES.items()},
        max=round(float(v.max()), 6),
    )


def phases(
    tasks: pd.DataFrame, events: pd.DataFrame, workers: pd.Series[float], load_end_s: float
) -> list[Phase]:
    """Stretches between events (and the end of the load): workers, throughput, p99."""
    cuts = [0.0, *sorted(events["effective_s"].dropna().tolist()), load_end_s]
    cuts = sorted({c for c in cuts if 0.0 <= c <= load_end_s})
    done = tasks[tasks["state"].isin(TERMINAL) & tasks["finished_s"].notna()]
    out = []
    for a, b in itertools.pairwise(cuts):
        if b - a < 0.5:
            continue
        in_phase = done[(done["finished_s"] >= a) & (done["finished_s"] < b)]
        w = workers[(workers.index >= a) & (workers.index < b)]
        out.append(
            Phase(
                from_s=round(a, 3),
                to_s=round(b, 3),
                workers=float(w.median()) if len(w) else None,
                throughput_per_second=round(len(in_phase) / (b - a), 3),
                latency_p99_s=percentiles(in_phase["latency_s"]).p99,
            )
        )
    return out


def saturation(
    win: pd.DataFrame,
    depth: pd.Series[float],
    latency_limit_s: float,
    backlog_limit: float,
    faults: list[tuple[float, float]] | None = None,
    load_end_s: float | None = None,
) -> Saturation | None:
    """Where the system stopped keeping up: the first steady stretch (``STEADY_WINDOWS``
    windows in a row) in which p99 latency or the backlog ran past its limit in every
    window and arrivals outpaced completions, during the load and outside every fault's
    stretch (``faults``: a kill's redelivery spike or a pause's backlog is the fault's
    effect, reported per fault by ``recovery``, not a saturation)."""
    step = _step(win)
    stretch: list[tuple[float, float, float, str]] = []  # start, offered, completed, why
    for _, w in win.iterrows():
        at = float(w["start_s"])
        reason = _over_limit(w, depth, at, step, latency_limit_s, backlog_limit)
        in_fault = any(a <= at + step and at <= b for a, b in faults or [])
        after_load = load_end_s is not None and at + step > load_end_s + 1e-9
        if reason is None or in_fault or after_load:
            stretch = []
            continue
        stretch.append((at, float(w["offered_per_s"]), float(w["completed_per_s"]), reason))
        if len(stretch) == STEADY_WINDOWS:
            offered = sum(x[1] for x in stretch)
            if offered > sum(x[2] for x in stretch):
                return Saturation(
                    at_s=stretch[0][0],
                    offered_per_second=round(offered / STEADY_WINDOWS, 3),
                    reason=stretch[0][3],
                )
            stretch.pop(0)
    return None


def _over_limit(
    w: pd.Series[float],
    depth: pd.Series[float],
    at: float,
    step: float,
    latency_limit_s: float,
    backlog_limit: float,
) -> str | None:
    queued = depth[(depth.index >= at) & (depth.index < at + 1e-9 + step)]
    if pd.notna(w["p99_s"]) and w["p99_s"] > latency_limit_s:
        return f"p99 latency {w['p99_s']:.3f} s > {latency_limit_s:g} s"
    if len(queued) and queued.max() > backlog_limit:
        return f"backlog {queued.max():.0f} > {backlog_limit:g} tasks"
    return None


def _fault_stretches(
    events: pd.DataFrame, recovered: list[FaultRecovery]
) -> list[tuple[float, float]]:
    """Each fault from its request to the end of its stretch as recovery measured it (its
    lift, its recovery, the redelivered tasks' end), whichever is latest."""
    out = recovery.fault_windows(events) if len(events) else []
    out += [(r.start_s, r.start_s + (r.fault_window_s or 0.0)) for r in recovered]
    return out


def _step(win: pd.DataFrame) -> float:
    return float(win["start_s"].iloc[1] - win["start_s"].iloc[0]) if len(win) > 1 else 1.0


def summarize(run: Run) -> RunSummary:
    """The whole summary of a stored run: measured, then judged by the scenario's checks."""
    measured = measure(run)
    scenario = run.scenario
    checks = evaluate(scenario.checks, measured)
    if scenario.checks.circuit_breaker is not None:
        checks += breaker.evaluate(scenario.checks.circuit_breaker, measured.circuit_breaker)
    if _cut_off(run) and scenario.checks.partition is not None:
        checks += partition.evaluate(scenario.checks.partition, measured.partition)
    return RunSummary.judged(measured, checks)


def _most_frequent(reasons: pd.Series) -> str | None:
    counts = reasons[reasons != ""].value_counts()
    return str(counts.index[0]) if len(counts) else None


def _cut_off(run: Run) -> bool:
    return any(e.action in CUT_OFF_ACTIONS for e in run.scenario.events)


def measure(run: Run) -> Measurements:
    """Every number of ``summary.json`` but the checks (see the module docstring)."""
    scenario, tasks, events, metrics = run.scenario, run.tasks, run.events, run.metrics
    t0_s, load_end_s = run.t0_s, run.load_end_s
    counters: dict[str, int] = run.meta.get("counters", {})
    accepted = tasks[tasks["submit"] == "accepted"]
    ended = accepted[accepted["state"].isin(TERMINAL)]
    states = accepted["state"].value_counts().to_dict()
    last_end = float(ended["finished_s"].max()) if len(ended) else None
    first = float(tasks["intended_s"].min()) if len(tasks) else 0.0
    span = (last_end - first) if last_end is not None else None
    extra = int((accepted["attempts"] - 1).clip(lower=0).sum())
    retried = int(counters.get("retried", 0))
    kills = events[events["action"] == "kill_worker"] if len(events) else events
    cuts = events[events["action"].isin(CUT_OFF_ACTIONS)] if len(events) else events
    win = windows(tasks, scenario.report.window_seconds)
    workers = lab_series(metrics, "taskq_lab_worker_processes", t0_s)
    depth = lab_series(metrics, "taskq_lab_queue_depth", t0_s, "state=queued")
    reclaimed = lab_series(metrics, "taskq_lab_queue_events_total", t0_s, "event=lease_expired")
    report = scenario.report
    guarded = scenario.checks.circuit_breaker
    calls = (
        []
        if run.dependency is None
        else list(zip(run.dependency["time"], run.dependency["status"], strict=True))
    )
    load = account(tasks, scenario, load_end_s)
    recovered = recovery.recovery(
        tasks, events, depth, load_end_s, report.window_seconds, run.dependency, reclaimed
    )
    used = (
        None
        if run.resources is None
        else resources.summarize(
            run.resources,
            t0_s,
            events["effective_s"].dropna().tolist() if len(events) else [],
            load_end_s,
            report.host_idle_floor_percent,
            last_end,
        )
    )
    return Measurements(
        scenario=scenario.name,
        seed=scenario.seed,
        run=run.name,
        drained=run.meta.get("drained"),
        metrics_source=run.environment.get("metrics_source"),
        prometheus=run.environment.get("prometheus"),
        metrics_note=run.environment.get("prometheus_note"),
        offered=len(tasks),
        submit=tasks["submit"].value_counts().to_dict(),
        submit_errors=int((tasks["submit"] == "error").sum()),
        submit_error_reason=_most_frequent(tasks.loc[tasks["submit"] == "error", "error"]),
        accepted=len(accepted),
        states={str(k): int(v) for k, v in states.items()},
        succeeded=int(states.get("succeeded", 0)),
        lost=len(accepted) - len(ended),
        throughput_per_second=round(len(ended) / span, 3) if span else None,
        latency_s=percentiles(accepted[accepted["state"] == "succeeded"]["latency_s"]),
        send_lag_s=percentiles(tasks["send_lag_s"]),
        queue_wait_s=percentiles(accepted["started_s"] - accepted["eligible_s"]),
        load_end_s=round(load_end_s, 3),
        last_end_s=None if last_end is None else round(last_end, 3),
        # None: the backlog never drained (some acknowledged task did not end).
        drain_seconds=None
        if last_end is None or len(ended) < len(accepted)
        else round(max(0.0, last_end - load.schedule_end_s), 3),
        executions_beyond_first=extra,
        retried=retried,
        lease_expired=int(counters.get("lease_expired", 0)),
        duplicates=max(0, extra - retried),
        in_flight_at_kills=int(kills["in_flight"].fillna(0).sum()) if len(kills) else 0,
        kills=len(kills),
        redis_restarts=redis_restarts(events),
        # A worker cut off past its lease has its tasks redelivered: duplicates, like a kill.
        in_flight_at_partitions=int(cuts["in_flight"].fillna(0).sum()) if len(cuts) else 0,
        phases=phases(tasks, events, workers, load_end_s),
        queue_depth_max=float(depth.max()) if len(depth) else None,
        saturation=saturation(
            win,
            depth,
            report.runaway_latency_seconds,
            report.runaway_backlog_tasks,
            [(a, b + FAULT_GRACE_SECONDS) for a, b in _fault_stretches(events, recovered)],
            load_end_s,
        ),
        autoscale=None
        if scenario.system.autoscale is None
        else workers_followed(workers, events, load_end_s),
        recovery=recovered,
        capacity=None
        if scenario.load.mode != "backlog"
        else capacity.drain_capacity(tasks, report.warmup_share, report.tail_share),
        circuit_breaker=None
        if guarded is None
        else breaker.summarize(
            tasks, events, calls, run.meta.get("breakers", []), counters, guarded.task_type, t0_s
        ),
        partition=None
        if not _cut_off(run)
        else partition.summarize(tasks, events, run.meta.get("cut_off", {}), counters, load_end_s),
        load=load,
        resources=used,
        verdict=verdict.judge(tasks, events, load, used, scheduled=scenario.load.mode == "open"),
    )


def redis_restarts(events: pd.DataFrame, action: str = "restart_redis") -> list[RedisRestart]:
    """Each such event: when it was requested and how long until it had taken effect (for
    a Redis restart: until Redis answered again)."""
    rows = events[events["action"] == action] if len(events) else events
    return [
        RedisRestart(
            at_s=round(float(r["requested_s"]), 3),
            recovery_s=None
            if pd.isna(r["effective_s"])
            else round(float(r["effective_s"] - r["requested_s"]), 3),
        )
        for _, r in rows.iterrows()
    ]


def workers_followed(
    workers: pd.Series[float], events: pd.DataFrame, load_end_s: float
) -> AutoscaleSummary:
    """An autoscaled run: how far the worker count went, where it ended, how often the
    autoscaler changed it."""
    during = workers[workers.index <= load_end_s]
    changes = events[events["action"] == "autoscale"] if len(events) else events
    return AutoscaleSummary(
        changes=len(changes),
        peak_workers=int(during.max()) if len(during) else None,
        workers_at_load_end=int(during.iloc[-1]) if len(during) else None,
    )
