"""The report's evidence about what a run measured: the verdict, the load as offered and
as it went, and the resources the host and each role used per stretch
(``lab.analysis.load``, ``resources``, ``verdict``)."""

from __future__ import annotations

from typing import Any

from lab.analysis.model import LoadAccounting, Resources, RunSummary
from lab.report.document import Block, Heading, Para, TableBlock, fmt

ROLES = ("lab", "api", "redis", "worker")  # the table's order; lab = the load generator
ROLE_NAMES = {"lab": "lab (generator)", "api": "API", "redis": "Redis", "worker": "workers"}
MB = 1024 * 1024


def verdict_para(summary: RunSummary) -> Para | None:
    if summary.verdict is None:
        return None
    return Para(f"**Verdict: {summary.verdict.line}.**")


def invocation_paras(env: dict[str, Any]) -> list[Block]:
    """The command line and the overrides applied to the scenario (environment.json): the
    description above may say otherwise."""
    if "command" not in env:
        return []  # a run from before they were recorded
    applied = [*env.get("overrides", [])]
    applied += [f"{k}={v} (sweep cell)" for k, v in env.get("sweep_cell", {}).items()]
    return [
        Para(
            f"Command: `{env['command']}`. Overrides applied to the scenario file: "
            + (", ".join(f"`{o}`" for o in applied) if applied else "none")
            + "."
        )
    ]


def load_blocks(load: LoadAccounting | None) -> list[Block]:
    if load is None:
        return []
    rows: list[list[object]] = [
        ["offered (the schedule)", load.offered, fmt(load.offered_per_second)],
        ["sent", load.sent, fmt(load.sent_per_second)],
        ["accepted", load.accepted, ""],
        ["refused: 429 back pressure (responses)", load.refused_429, ""],
        ["refused: 503 unavailable (responses)", load.refused_503, ""],
        ["failed otherwise (error)", load.errors, ""],
        ["refused in the end (after retries)", load.refused_in_the_end, ""],
    ]
    out: list[Block] = [
        Heading("Load: offered, sent, accepted, refused"),
        TableBlock(["submits", "count", "per second"], [[fmt(c) for c in r] for r in rows]),
    ]
    lines = [
        f"The schedule ended at {load.schedule_end_s:g} s; the last submit was sent at "
        f"{fmt(load.last_sent_s)} s. {load.late_submits} submits were sent more than "
        f"{load.send_lag_limit_s:g} s after their scheduled time."
    ]
    if load.in_flight_cap is not None and load.capped_submits:
        lines.append(
            f"The generator's in-flight cap (load.max_outstanding_requests = "
            f"{load.in_flight_cap}) bound: {load.capped_submits} submits were sent late "
            "because of it (waited for a free slot, or came behind one that did)."
        )
    out.append(Para(" ".join(lines)))
    return out


def resource_blocks(resources: Resources | None) -> list[Block]:
    if resources is None or not resources.phases:
        return []
    roles = [r for r in ROLES if any(r in p.cpu_percent for p in resources.phases)]
    header = [
        "stretch",
        "from s",
        "to s",
        "host busy %",
        "idle min %",
        "steal %",
        "load1 max",
        *[f"{ROLE_NAMES[r]} CPU %" for r in roles],
        *[f"{ROLE_NAMES[r]} MB" for r in roles],
    ]
    rows = [
        [
            p.label,
            p.from_s,
            p.to_s,
            p.host_busy_percent,
            p.host_idle_percent_min,
            p.host_steal_percent,
            p.load1_max,
            *[p.cpu_percent.get(r) for r in roles],
            *[None if (b := p.rss_bytes_max.get(r)) is None else round(b / MB, 1) for r in roles],
        ]
        for p in resources.phases
    ]
    share = resources.host_saturated_share
    return [
        Heading("Resources (host and processes)"),
        TableBlock(header, [[fmt(c) for c in r] for r in rows]),
        Para(
            f"{resources.cpus} CPUs, sampled {resources.samples} times. Host busy: 100 - idle, "
            "a share of all CPUs (mean over the stretch). A role's CPU sums its processes "
            "(100 % = one core; the workers' process pools count with them), its memory is "
            "the summed resident set at most. Host CPU idle below "
            f"{resources.idle_floor_percent:g} % in "
            f"{'-' if share is None else format(share, '.0%')} of the samples while tasks ran"
            + (
                ""
                if resources.generator_busy_share is None
                else f"; the lab's process at a full core in "
                f"{resources.generator_busy_share:.0%} of them"
            )
            + ". Data: resources.csv."
        ),
    ]
