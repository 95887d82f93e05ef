"""What a run with a ``dependency_down`` event shows about a circuit breaker.

The fault window is from the event's effect to its lift; the baseline is the load before
it. From the task table, the dependency's own call log and the breaker as Redis kept it:

- calls that reached the dependency during the fault, against the guarded type's tasks
  that arrived in it (without a breaker every one of them, and their retries, would call);
- the other task types' throughput during the fault against before it;
- whether the breaker opened, is closed at the end, and the deferred tasks all succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from lab.analysis.model import BreakerSummary, CheckResult
from lab.scenario.model import CircuitBreakerCheck


def _per_second(finished: pd.Series[float], start: float, end: float) -> float | None:
    if end <= start:
        return None
    return float(((finished >= start) & (finished < end)).sum()) / (end - start)


def summarize(
    tasks: pd.DataFrame,
    events: pd.DataFrame,
    calls: Sequence[tuple[float, int]],
    breakers: Sequence[dict[str, Any]],
    counters: dict[str, int],
    task_type: str,
    t0_s: float,
) -> BreakerSummary | None:
    """None when the run had no dependency_down event that took effect and was lifted."""
    downs = events[(events["action"] == "dependency_down")] if len(events) else events
    downs = downs.dropna(subset=["effective_s", "lifted_s"]) if len(downs) else downs
    if not len(downs):
        return None
    start, end = float(downs["effective_s"].iloc[0]), float(downs["lifted_s"].iloc[0])
    accepted = tasks[tasks["submit"] == "accepted"]
    guarded = accepted[accepted["task_type"] == task_type]
    others = accepted[accepted["task_type"] != task_type]
    arrived = int(((guarded["intended_s"] >= start) & (guarded["intended_s"] < end)).sum())
    during = [s for t, s in calls if start <= t - t0_s < end]
    before = _per_second(others["finished_s"], 0.0, start)
    while_down = _per_second(others["finished_s"], start, end)
    breaker = next((b for b in breakers if b["task_type"] == task_type), None)
    return BreakerSummary(
        task_type=task_type,
        fault_s=[round(start, 3), round(end, 3)],
        guarded_arrived_during_fault=arrived,
        calls_during_fault=len(during),
        failed_calls_during_fault=sum(1 for s in during if s != 200),
        calls_total=len(calls),
        other_types_per_second_before=None if before is None else round(before, 3),
        other_types_per_second_during=None if while_down is None else round(while_down, 3),
        other_types_ratio=round(while_down / before, 3)
        if before and while_down is not None
        else None,
        breaker_opens=int(breaker["opens"]) if breaker else 0,
        breaker_state_at_end=breaker["state"] if breaker else None,
        deferred=int(counters.get("deferred", 0)),
        guarded_accepted=len(guarded),
        guarded_succeeded=int((guarded["state"] == "succeeded").sum()),
    )


def evaluate(check: CircuitBreakerCheck, s: BreakerSummary | None) -> list[CheckResult]:
    if s is None:
        return [
            CheckResult(
                name="circuit_breaker",
                passed=False,
                value=None,
                limit=None,
                detail="no dependency_down event took effect and was lifted",
            )
        ]
    share_limit = check.max_calls_share_during_fault * s.guarded_arrived_during_fault
    ratio, ratio_limit = s.other_types_ratio, check.other_types_throughput_ratio_above
    return [
        CheckResult(
            name="breaker_opened",
            passed=s.breaker_opens >= 1,
            value=s.breaker_opens,
            limit=1,
            detail=f"the breaker of {s.task_type} opened {s.breaker_opens} time(s)",
        ),
        CheckResult(
            name="breaker_held_calls_back",
            passed=s.calls_during_fault <= share_limit,
            value=s.calls_during_fault,
            limit=round(share_limit, 1),
            detail=f"{s.calls_during_fault} calls reached the failing dependency for "
            f"{s.guarded_arrived_during_fault} {s.task_type} tasks that arrived during "
            f"the fault (limit {check.max_calls_share_during_fault:g} of them)",
        ),
        CheckResult(
            name="other_types_kept_throughput",
            passed=ratio is not None and ratio >= ratio_limit,
            value=ratio,
            limit=ratio_limit,
            detail=f"other types ran {s.other_types_per_second_during} tasks/s during the "
            f"fault, {s.other_types_per_second_before} before (ratio {ratio}, limit "
            f"{ratio_limit:g})",
        ),
        CheckResult(
            name="breaker_closed_after",
            passed=s.breaker_state_at_end == "closed",
            value=None,
            limit=None,
            detail=f"the breaker was {s.breaker_state_at_end} at the end",
        ),
        CheckResult(
            name="deferred_tasks_completed",
            passed=s.deferred > 0 and s.guarded_succeeded == s.guarded_accepted,
            value=s.guarded_succeeded,
            limit=s.guarded_accepted,
            detail=f"{s.deferred} deferrals; {s.guarded_succeeded} of {s.guarded_accepted} "
            f"{s.task_type} tasks succeeded",
        ),
    ]
