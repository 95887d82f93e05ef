"""What a run's report says: verdict, checks, summary, recovery per fault, circuit
breaker, partition, phases, events and figures, as blocks (``lab.report.document``)
built from its ``RunSummary``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.analysis.model import RunSummary
from lab.report import evidence
from lab.report.document import Block, Heading, Image, Para, TableBlock, fmt
from lab.scenario.model import Scenario


def blocks(
    scenario: Scenario,
    summary: RunSummary,
    events: list[dict[str, Any]],
    figures: list[Path],
    env: dict[str, Any],
) -> list[Block]:
    lat, lag, checks = summary.latency_s, summary.send_lag_s, summary.checks
    verdict = "PASS" if all(c.passed for c in checks) else "FAIL"
    out: list[Block] = [
        Heading(f"Run of scenario `{scenario.name}`: {verdict}"),
        *([v] if (v := evidence.verdict_para(summary)) is not None else []),
        Para(scenario.description.strip() or "(no description)"),
        Para(
            f"seed {scenario.seed}, git {str(env.get('git_sha'))[:12]}"
            f"{' (dirty)' if env.get('git_dirty') else ''}, {env.get('redis')}, "
            f"{env.get('cpu_count')} CPUs, Python {env.get('python')}"
        ),
        *evidence.invocation_paras(env),
        Heading("Checks"),
        TableBlock(
            ["check", "result", "detail"],
            [[c.name, "pass" if c.passed else "FAIL", c.detail] for c in checks],
        ),
        Heading("Summary"),
        TableBlock(
            ["quantity", "value"],
            [
                ["offered / accepted", f"{summary.offered} / {summary.accepted}"],
                ["submit outcomes", summary.submit],
                ["final states", summary.states],
                ["lost", summary.lost],
                ["throughput (tasks/s)", summary.throughput_per_second],
                [
                    "latency p50 / p95 / p99 / max (s)",
                    " / ".join(fmt(v) for v in (lat.p50, lat.p95, lat.p99, lat.max)),
                ],
                [
                    "send lag p50 / p99 / max (s)",
                    " / ".join(fmt(v) for v in (lag.p50, lag.p99, lag.max)),
                ],
                ["drain after the schedule ended (s)", summary.drain_seconds],
                ["most tasks waiting (sampled)", summary.queue_depth_max],
                [
                    "Redis restarts: at s (back after s)",
                    ", ".join(f"{r.at_s} ({r.recovery_s})" for r in summary.redis_restarts) or "-",
                ],
                [
                    "duplicates (in flight at kills)",
                    f"{summary.duplicates} ({summary.in_flight_at_kills})",
                ],
                ["retried / lease expired", f"{summary.retried} / {summary.lease_expired}"],
            ],
        ),
    ]
    out += evidence.load_blocks(summary.load)
    if (s := summary.saturation) is not None:
        text = (
            f"The system stopped keeping up at {s.at_s:.1f} s, with "
            f"{s.offered_per_second:.1f} tasks/s offered: {s.reason}."
        )
        earlier = [
            b
            for b in (summary.verdict.bottlenecks if summary.verdict else [])
            if b.from_s is not None and b.from_s <= s.at_s + 1e-9
        ]
        if earlier:
            text += (
                f" By then the {earlier[0].what} was already a bottleneck (from "
                f"{earlier[0].from_s:.1f} s, see the verdict): this is not the queue's limit."
            )
        out.append(Para(text))
    if (c := summary.capacity) is not None:
        out.append(
            Para(
                f"Capacity (backlog drain, warm-up and tail left out): {c.per_second} "
                f"tasks/s over {c.from_s}-{c.to_s} s ({c.tasks_counted} tasks)."
            )
        )
    if summary.recovery:
        out += [
            Heading("Recovery (per fault)"),
            TableBlock(
                [
                    "fault",
                    "start s",
                    "end s",
                    "before /s",
                    "noticed after s",
                    "recovered after s",
                    "peak backlog",
                    "extra p50 s",
                    "extra p99 s",
                    "max in fault s",
                ],
                [
                    [
                        r.action,
                        r.start_s,
                        r.end_s,
                        r.throughput_before_per_second,
                        r.noticed_after_s,
                        r.recovered_after_s,
                        r.peak_backlog_tasks,
                        r.latency_p50_extra_s,
                        r.latency_p99_extra_s,
                        r.latency_max_in_fault_s,
                    ]
                    for r in summary.recovery
                ],
            ),
            Para(
                "Recovered: throughput back within 10 % of before the fault after a "
                "significant dip (0: no dip; - : not before the next fault or the end). "
                "Noticed: the first reclaimed lease, refused submit or failed dependency "
                "call. Extra latency: tasks that finished in the fault's stretch against "
                "those before it. Definitions: lab/analysis/recovery.py."
            ),
        ]
    if (cb := summary.circuit_breaker) is not None:
        out += [
            Heading(f"Circuit breaker of `{cb.task_type}`"),
            _quantities(cb.model_dump(exclude={"task_type"})),
        ]
    if summary.partition is not None:
        out += [
            Heading("Partition: leases and fencing"),
            _quantities(summary.partition.model_dump()),
        ]
    if summary.phases:
        out += [
            Heading("Phases (between events)"),
            TableBlock(
                ["from s", "to s", "workers", "throughput/s", "p99 s"],
                [
                    [p.from_s, p.to_s, p.workers, p.throughput_per_second, p.latency_p99_s]
                    for p in summary.phases
                ],
            ),
        ]
    out += evidence.resource_blocks(summary.resources)
    if events:
        out += [
            Heading("Events"),
            TableBlock(
                [
                    "action",
                    "detail",
                    "requested s",
                    "effective s",
                    "lifted s",
                    "process",
                    "in flight",
                    "note",
                ],
                [
                    [
                        e["action"],
                        e["detail"],
                        e["requested_s"],
                        e["effective_s"],
                        e.get("lifted_s"),
                        e["processes"],
                        e["in_flight"],
                        e["note"],
                    ]
                    for e in events
                ],
            ),
        ]
    out.append(Heading("Figures"))
    out += [Image(p, p.stem.replace("_", " ")) for p in figures]
    source = summary.metrics_source or "scrape"
    if summary.prometheus:
        source += f" {summary.prometheus}"
    out.append(
        Para(
            "Tables: tasks.csv (one row per submission), events.csv, metrics.csv "
            f"(time, metric, labels, value; source: {source}); summary.json; "
            "environment.json."
        )
    )
    return out


def _quantities(values: dict[str, Any]) -> TableBlock:
    """A section's fields as a two-column table, in the summary's order."""
    return TableBlock(
        ["quantity", "value"], [[k.replace("_", " "), fmt(v)] for k, v in values.items()]
    )
