"""The invariants a run is judged by, evaluated on its summary (see ``lab.analysis``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lab.scenario import AutoscaleCheck, Checks


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _latency_p99(summary: dict[str, Any]) -> float | None:
    value = summary["latency_s"]["p99"]
    return None if value is None else float(value)


def evaluate(checks: Checks, summary: dict[str, Any]) -> list[CheckResult]:
    out = []
    if checks.no_task_lost:
        lost = summary["lost"]
        out.append(
            CheckResult(
                "no_task_lost",
                lost == 0,
                lost,
                0,
                f"{lost} of {summary['accepted']} acknowledged tasks did not end",
            )
        )
    if checks.max_duplicates is not None:
        dup = summary["duplicates"]
        if checks.max_duplicates == "in_flight_at_kills":
            limit = summary["in_flight_at_kills"] + summary.get("in_flight_at_partitions", 0)
            why = "tasks held by killed or cut-off workers"
        else:
            limit, why = checks.max_duplicates, "the scenario's limit"
        out.append(
            CheckResult(
                "max_duplicates",
                dup <= limit,
                dup,
                limit,
                f"{dup} duplicate executions; at most {limit} ({why})",
            )
        )
    if checks.drained_within_seconds is not None:
        drain, limit_s = summary["drain_seconds"], checks.drained_within_seconds
        detail = (
            f"backlog drained {drain} s after the load ended (limit {limit_s:g} s)"
            if drain is not None
            else f"the backlog never drained: {summary['lost']} tasks did not end"
        )
        out.append(
            CheckResult(
                "drained_within", drain is not None and drain <= limit_s, drain, limit_s, detail
            )
        )
    if checks.latency_p99_below_seconds is not None:
        p99, limit_s = _latency_p99(summary), checks.latency_p99_below_seconds
        out.append(
            CheckResult(
                "latency_p99_below",
                p99 is not None and p99 < limit_s,
                p99,
                limit_s,
                f"p99 latency {p99} s (limit {limit_s:g} s)",
            )
        )
    if checks.throughput_above_per_second is not None:
        tput, limit = summary["throughput_per_second"], checks.throughput_above_per_second
        out.append(
            CheckResult(
                "throughput_above",
                tput is not None and tput > limit,
                tput,
                limit,
                f"{tput} tasks/s (limit {limit:g})",
            )
        )
    if checks.max_queue_depth_below is not None:
        depth, limit = summary["queue_depth_max"], checks.max_queue_depth_below
        out.append(
            CheckResult(
                "max_queue_depth_below",
                depth is not None and depth < limit,
                depth,
                limit,
                f"at most {depth} tasks waited (limit {limit})",
            )
        )
    if checks.no_submit_errors:
        errors = summary["submit_errors"]
        out.append(
            CheckResult(
                "no_submit_errors",
                errors == 0,
                errors,
                0,
                f"{errors} submits failed other than by a 429 / 503 refusal",
            )
        )
    if checks.autoscale is not None:
        out += _autoscale(checks.autoscale, summary)
    return out


def _autoscale(check: AutoscaleCheck, summary: dict[str, Any]) -> list[CheckResult]:
    a = summary["autoscale"]
    peak, at_end = a["peak_workers"], a["workers_at_load_end"]
    out = [
        CheckResult(
            "autoscale_peak_workers",
            peak is not None and peak >= check.peak_workers_at_least,
            peak,
            check.peak_workers_at_least,
            f"up to {peak} workers ran ({a['changes']} autoscaler changes); needed "
            f"{check.peak_workers_at_least}",
        )
    ]
    if check.workers_at_load_end_at_most is not None:
        limit = check.workers_at_load_end_at_most
        out.append(
            CheckResult(
                "autoscale_scaled_down",
                at_end is not None and at_end <= limit,
                at_end,
                limit,
                f"{at_end} workers when the load ended (at most {limit})",
            )
        )
    if check.queue_wait_p95_below_seconds is not None:
        p95, limit_s = summary["queue_wait_s"]["p95"], check.queue_wait_p95_below_seconds
        out.append(
            CheckResult(
                "autoscale_wait_held",
                p95 is not None and p95 < limit_s,
                p95,
                limit_s,
                f"queue wait p95 {p95} s (limit {limit_s:g} s)",
            )
        )
    return out
