"""A rate search's derived files (``lab.run.rate_search`` describes the folder): each
probe judged again from its run's summary, ``summary.json`` (the rate found and every
probe), the curve that found it (``figures/rate_search.png``) and the report."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lab.analysis.rate_search import LATE_SHARE, Probe, judge
from lab.report import document
from lab.report.document import Block, Heading, Image, Para, TableBlock
from lab.report.figures import plain_log_ticks, save
from lab.report.folder import SUMMARY_FILE, read_scenario, read_summary

RATE_SEARCH_FILE = "rate_search.json"


def is_rate_search(folder: Path) -> bool:
    return (Path(folder) / RATE_SEARCH_FILE).exists()


def _probes(folder: Path, plan: dict[str, Any], bound_s: float) -> list[Probe]:
    from lab.run.rate_search import probe_of  # the run stage imports this module

    out = []
    for entry in plan["probes"]:
        summary = read_summary(folder / "probes" / entry["folder"])
        if summary is None:
            out.append(judge(Probe(entry["rate"], 0.0, None, 1.0, None), bound_s))
        else:
            out.append(judge(probe_of(summary, entry["rate"]), bound_s))
    return out


def derive_rate_search(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    plan: dict[str, Any] = json.loads((folder / RATE_SEARCH_FILE).read_text())
    scenario = read_scenario(folder)
    assert scenario.rate_search is not None
    config = scenario.rate_search
    probes = _probes(folder, plan, config.latency_p99_below_seconds)
    held = [p.rate for p in probes if p.holds]
    failed = [p.rate for p in probes if not p.holds]
    best = max((r for r in held if not failed or r < min(failed)), default=None)
    summary: dict[str, Any] = {
        "search": plan["search"],
        "scenario": scenario.name,
        "max_sustainable_rate_per_second": best,
        "lowest_failed_rate_per_second": min(failed) if failed else None,
        "latency_p99_below_seconds": config.latency_p99_below_seconds,
        "probes": [
            asdict(p) | {"folder": e["folder"]} for p, e in zip(probes, plan["probes"], strict=True)
        ],
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    figure = _draw(folder / "figures", probes, best, config.latency_p99_below_seconds)
    blocks = _blocks(scenario.name, summary, probes, figure.relative_to(folder))
    (folder / "report.md").write_text(document.markdown(blocks))
    (folder / "report.html").write_text(
        document.html_page(blocks, folder, f"rate search {scenario.name}")
    )
    return summary


def _draw(out: Path, probes: list[Probe], best: float | None, bound_s: float) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig, (tput, lat) = plt.subplots(1, 2, figsize=(10, 4))
    ps = sorted(probes, key=lambda p: p.rate)
    rates = np.array([p.rate for p in ps])
    ok = np.array([p.holds for p in ps], dtype=bool)
    top = float(rates.max()) * 1.1 if len(rates) else 1.0
    tput.plot([0, top], [0, top], ":", color="grey", lw=1, label="completed = offered")
    tput.plot(rates, [p.throughput for p in ps], "-", color="C0", lw=1)
    tput.scatter(
        rates[ok], np.array([p.throughput for p in ps])[ok], color="C2", label="held", zorder=3
    )
    tput.scatter(
        rates[~ok],
        np.array([p.throughput for p in ps])[~ok],
        color="C3",
        marker="x",
        label="failed",
        zorder=3,
    )
    tput.set_xlabel("offered rate (tasks/s)")
    tput.set_ylabel("completed (tasks/s)")
    p99 = np.array([np.nan if p.latency_p99_s is None else p.latency_p99_s * 1000 for p in ps])
    lat.plot(rates, p99, "-", color="C0", lw=1)
    lat.scatter(rates[ok], p99[ok], color="C2", label="held", zorder=3)
    lat.scatter(rates[~ok], p99[~ok], color="C3", marker="x", label="failed", zorder=3)
    lat.axhline(bound_s * 1000, color="C3", ls="--", lw=1, label=f"bound {bound_s * 1000:g} ms")
    if np.isfinite(p99).any():
        lat.set_yscale("log")
        plain_log_ticks(lat.yaxis)
    lat.set_xlabel("offered rate (tasks/s)")
    lat.set_ylabel("p99 latency (ms)")
    for ax in (tput, lat):
        if best is not None:
            ax.axvline(best, color="C2", lw=1, label=f"max sustainable {best:.4g}/s")
        ax.set_xlim(0, top)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    fig.suptitle("Maximum sustainable rate: every probe of the search")
    return save(fig, out / "rate_search.png")


def _blocks(name: str, summary: dict[str, Any], probes: list[Probe], figure: Path) -> list[Block]:
    best = summary["max_sustainable_rate_per_second"]
    bound = summary["latency_p99_below_seconds"]
    found = (
        f"The maximum sustainable rate is **{best:.4g} tasks/s**"
        + (
            f" (the lowest rate that failed: {summary['lowest_failed_rate_per_second']:.4g})"
            if summary["lowest_failed_rate_per_second"]
            else " (no probe failed: the search ran out of probes; the rate is higher)"
        )
        if best is not None
        else "No probed rate held"
    )
    return [
        Heading(f"Rate search of scenario `{name}`"),
        Para(
            found + f". A probe holds when p99 latency stays under {bound:g} s, the generator "
            f"sends at most {LATE_SHARE:.0%} of its submits late and the backlog is gone "
            "within the same bound after the schedule ends. Each probe is its own run under "
            "probes/, with its own verdict: a probe on a saturated host measures the host too."
        ),
        TableBlock(
            ["offered /s", "completed /s", "p99 s", "late share", "drain s", "holds", "why"],
            [
                [
                    p.rate,
                    round(p.throughput, 3),
                    p.latency_p99_s,
                    round(p.late_share, 4),
                    p.drain_s,
                    "yes" if p.holds else "no",
                    p.why,
                ]
                for p in probes
            ],
        ),
        Heading("Figures"),
        Image(figure, "rate search"),
    ]
