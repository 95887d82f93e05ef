"""What a run with a worker ``partition`` (or ``blackhole``) shows about leases and fencing.

The fault window is from the first cut's effect to its lift. From the task table,
the tasks the cut-off worker held at the cut (``Timeline.cut_off``) and the queue's
counters:

- redelivered: leases that expired and were handed out again (``lease_expired``);
- stale completions rejected: late completions refused by their fencing token
  (``stale_rejected``), i.e. the cut-off worker's buffered results after it came back;
- results from the cut-off worker: tasks it held that were redelivered (attempts > 1) and
  yet end recorded as its own: an overwrite, which fencing must make impossible (0);
- throughput (tasks ended per second) before, during and after the fault.
"""

from __future__ import annotations

import pandas as pd

from lab.analysis.model import CheckResult, PartitionSummary
from lab.scenario.events import CUT_OFF_ACTIONS
from lab.scenario.model import PartitionCheck


def _per_second(finished: pd.Series[float], start: float, end: float) -> float | None:
    if end <= start:
        return None
    return round(float(((finished >= start) & (finished < end)).sum()) / (end - start), 3)


def summarize(
    tasks: pd.DataFrame,
    events: pd.DataFrame,
    cut_off: dict[str, str],
    counters: dict[str, int],
    load_end_s: float,
) -> PartitionSummary | None:
    """None when the run had no cut that took effect and was lifted."""
    cuts = events[events["action"].isin(CUT_OFF_ACTIONS)] if len(events) else events
    cuts = cuts.dropna(subset=["effective_s", "lifted_s"]) if len(cuts) else cuts
    if not len(cuts):
        return None
    start, end = float(cuts["effective_s"].iloc[0]), float(cuts["lifted_s"].iloc[0])
    held = tasks[tasks["task_id"].isin(list(cut_off))] if "task_id" in tasks else tasks[:0]
    redelivered_held = held[held["attempts"] > 1]
    overwritten = (
        redelivered_held[
            redelivered_held.apply(lambda r: r["worker"] == cut_off[r["task_id"]], axis=1)
        ]
        if len(redelivered_held)
        else redelivered_held
    )
    finished = tasks["finished_s"].dropna()
    before = _per_second(finished, 0.0, start)
    after = _per_second(finished, end, load_end_s)
    return PartitionSummary(
        cut_off_from_s=round(start, 3),
        cut_off_to_s=round(end, 3),
        held_at_cut=len(held),
        held_redelivered=len(redelivered_held),
        redelivered=int(counters.get("lease_expired", 0)),
        stale_completions_rejected=int(counters.get("stale_rejected", 0)),
        results_from_cut_off_worker=len(overwritten),
        throughput_before_per_second=before,
        throughput_during_per_second=_per_second(finished, start, end),
        throughput_after_per_second=after,
        throughput_recovery_ratio=round(after / before, 3) if before and after else None,
    )


def evaluate(check: PartitionCheck, s: PartitionSummary | None) -> list[CheckResult]:
    if s is None:
        return [
            CheckResult(
                name="partition",
                passed=False,
                value=None,
                limit=None,
                detail="no partition took effect",
            )
        ]
    stale, redelivered = s.stale_completions_rejected, s.redelivered
    overwrites, ratio = s.results_from_cut_off_worker, s.throughput_recovery_ratio
    return [
        CheckResult(
            name="stale_rejected_above",
            passed=stale > check.stale_rejected_above,
            value=stale,
            limit=check.stale_rejected_above,
            detail=f"{stale} late completions rejected by fencing",
        ),
        CheckResult(
            name="redelivered_above",
            passed=redelivered > check.redelivered_above,
            value=redelivered,
            limit=check.redelivered_above,
            detail=f"{redelivered} expired leases redelivered ({s.held_redelivered} of the "
            f"{s.held_at_cut} tasks the cut-off worker held)",
        ),
        CheckResult(
            name="no_result_overwritten",
            passed=overwrites <= check.max_results_from_cut_off_worker,
            value=overwrites,
            limit=check.max_results_from_cut_off_worker,
            detail=f"{overwrites} redelivered tasks end with the cut-off worker's result",
        ),
        CheckResult(
            name="throughput_recovers",
            passed=ratio is not None and ratio > check.throughput_recovery_ratio_above,
            value=ratio,
            limit=check.throughput_recovery_ratio_above,
            detail=f"throughput after the fault {s.throughput_after_per_second} /s, before "
            f"{s.throughput_before_per_second} /s",
        ),
    ]
