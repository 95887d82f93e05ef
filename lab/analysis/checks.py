"""The invariants a run is judged by, evaluated on its measurements
(``lab.analysis.summary``).
The circuit breaker's and the partition's own checks are in ``lab.analysis.breaker`` and
``lab.analysis.partition``."""

from __future__ import annotations

from lab.analysis.model import CheckResult, Measurements
from lab.scenario.model import AutoscaleCheck, Checks


def evaluate(checks: Checks, summary: Measurements) -> list[CheckResult]:
    out = []
    if checks.no_task_lost:
        lost = summary.lost
        out.append(
            CheckResult(
                name="no_task_lost",
                passed=lost == 0,
                value=lost,
                limit=0,
                detail=f"{lost} of {summary.accepted} acknowledged tasks did not end",
            )
        )
    if checks.max_duplicates is not None:
        dup = summary.duplicates
        if checks.max_duplicates == "in_flight_at_kills":
            limit = summary.in_flight_at_kills + summary.in_flight_at_partitions
            why = "tasks held by killed or cut-off workers"
        else:
            limit, why = checks.max_duplicates, "the scenario's limit"
        out.append(
            CheckResult(
                name="max_duplicates",
                passed=dup <= limit,
                value=dup,
                limit=limit,
                detail=f"{dup} duplicate executions; at most {limit} ({why})",
            )
        )
    if checks.drained_within_seconds is not None:
        drain, limit_s = summary.drain_seconds, checks.drained_within_seconds
        detail = (
            f"backlog drained {drain} s after the load ended (limit {limit_s:g} s)"
            if drain is not None
            else f"the backlog never drained: {summary.lost} tasks did not end"
        )
        out.append(
            CheckResult(
                name="drained_within",
                passed=drain is not None and drain <= limit_s,
                value=drain,
                limit=limit_s,
                detail=detail,
            )
        )
    if checks.latency_p99_below_seconds is not None:
        p99, limit_s = summary.latency_s.p99, checks.latency_p99_below_seconds
        out.append(
            CheckResult(
                name="latency_p99_below",
                passed=p99 is not None and p99 < limit_s,
                value=p99,
                limit=limit_s,
                detail=f"p99 latency {p99} s (limit {limit_s:g} s)",
            )
        )
    if checks.throughput_above_per_second is not None:
        tput, limit_f = summary.throughput_per_second, checks.throughput_above_per_second
        out.append(
            CheckResult(
                name="throughput_above",
                passed=tput is not None and tput > limit_f,
                value=tput,
                limit=limit_f,
                detail=f"{tput} tasks/s (limit {limit_f:g})",
            )
        )
    if checks.max_queue_depth_below is not None:
        depth, limit_n = summary.queue_depth_max, checks.max_queue_depth_below
        out.append(
            CheckResult(
                name="max_queue_depth_below",
                passed=depth is not None and depth < limit_n,
                value=depth,
                limit=limit_n,
                detail=f"at most {depth} tasks waited (limit {limit_n})",
            )
        )
    if checks.accepted_share_at_least is not None:
        out.append(_accepted_share(checks.accepted_share_at_least, summary))
    if checks.no_submit_errors:
        errors = summary.submit_errors
        out.append(
            CheckResult(
                name="no_submit_errors",
                passed=errors == 0,
                value=errors,
                limit=0,
                detail=f"{errors} submits failed other than by a 429 / 503 refusal",
            )
        )
    if checks.clean_bill:
        v = summary.verdict
        out.append(
            CheckResult(
                name="clean_bill",
                passed=v is not None and v.conclusive,
                value=None if v is None else len(v.bottlenecks),
                limit=0,
                detail="no resources recorded" if v is None else v.line,
            )
        )
    if checks.autoscale is not None:
        out += _autoscale(checks.autoscale, summary)
    return out


def _accepted_share(least: float, summary: Measurements) -> CheckResult:
    """A run whose submits were refused measured nothing, whatever its other checks say."""
    sent = summary.offered
    share = summary.accepted / sent if sent else 0.0
    refused = {k: v for k, v in summary.submit.items() if k != "accepted" and v}
    why = ", ".join(f"{n} {status}" for status, n in sorted(refused.items()))
    if summary.submit_error_reason:
        why += f"; most often: {summary.submit_error_reason}"
    return CheckResult(
        name="accepted_share_at_least",
        passed=sent > 0 and share >= least,
        value=round(share, 4),
        limit=least,
        detail=f"{summary.accepted} of {sent} submits acknowledged ({share:.1%}, at least "
        f"{least:.0%} needed)" + (f": {why}" if why else ""),
    )


def _autoscale(check: AutoscaleCheck, summary: Measurements) -> list[CheckResult]:
    a = summary.autoscale
    if a is None:  # the scenario's validation requires system.autoscale with this check
        return [
            CheckResult(
                name="autoscale_peak_workers",
                passed=False,
                value=None,
                limit=check.peak_workers_at_least,
                detail="no autoscaler ran",
            )
        ]
    peak, at_end = a.peak_workers, a.workers_at_load_end
    out = [
        CheckResult(
            name="autoscale_peak_workers",
            passed=peak is not None and peak >= check.peak_workers_at_least,
            value=peak,
            limit=check.peak_workers_at_least,
            detail=f"up to {peak} workers ran ({a.changes} autoscaler changes); needed "
            f"{check.peak_workers_at_least}",
        )
    ]
    if check.workers_at_load_end_at_most is not None:
        limit = check.workers_at_load_end_at_most
        out.append(
            CheckResult(
                name="autoscale_scaled_down",
                passed=at_end is not None and at_end <= limit,
                value=at_end,
                limit=limit,
                detail=f"{at_end} workers when the load ended (at most {limit})",
            )
        )
    if check.queue_wait_p95_below_seconds is not None:
        p95, limit_s = summary.queue_wait_s.p95, check.queue_wait_p95_below_seconds
        out.append(
            CheckResult(
                name="autoscale_wait_held",
                passed=p95 is not None and p95 < limit_s,
                value=p95,
                limit=limit_s,
                detail=f"queue wait p95 {p95} s (limit {limit_s:g} s)",
            )
        )
    return out
