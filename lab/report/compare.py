"""``lab compare RUN_OR_SWEEP...``: several results side by side, written to one folder::

compare.csv   one row per run (a sweep gives one per repetition, labelled sweep/cell):
              its settings, then every column of ``lab.report.columns``
figures/throughput.png   completions per second over time, every run overlaid
figures/latency_cdf.png  latency CDFs overlaid (log x)
figures/scaling.png      when sweeps are given: each sweep's scaling curve (mean, 95 % CI)
report.md  report.html

A sweep contributes the first repetition of each cell to the overlaid time series and
CDFs (all repetitions to the table), so that the figures stay readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lab.analysis import series
from lab.report import columns, document
from lab.report.document import Block, Heading, Image, Para, TableBlock
from lab.report.figures import TIME_LABEL, cdf_points, legend_below, save, shade
from lab.report.folder import Run, Sweep, load
from lab.report.sweep_figures import axis_label


def _row(label: str, run: Run) -> dict[str, Any]:
    s, sysc = run.scenario, run.scenario.system
    return {
        "label": label,
        "scenario": s.name,
        "workers": sysc.workers,
        "concurrency": sysc.concurrency,
        "persistence": sysc.redis.persistence,
        "load": s.load.mode,
        **{name: columns.value(name, run.summary) for name in columns.COLUMNS},
    }


def collect(paths: list[Path]) -> tuple[list[tuple[str, Run]], list[tuple[str, Sweep]]]:
    """Every run to tabulate, and the sweeps; labels are folder names (sweep/cell)."""
    runs: list[tuple[str, Run]] = []
    sweeps: list[tuple[str, Sweep]] = []
    for path in paths:
        loaded = load(path)
        if isinstance(loaded, Sweep):
            sweeps.append((path.name, loaded))
            runs += [(f"{path.name}/{f}", r) for f, r in loaded.runs.items()]
        else:
            runs.append((path.name, loaded))
    return runs, sweeps


def _overlaid(
    runs: list[tuple[str, Run]], sweeps: list[tuple[str, Sweep]]
) -> list[tuple[str, Run]]:
    firsts = {
        f"{name}/{f}"
        for name, sw in sweeps
        for f in sw.cells[sw.cells["repetition"] == 1]["folder"]
    }
    swept = {f"{name}/{f}" for name, sw in sweeps for f in sw.cells["folder"]}
    return [(label, r) for label, r in runs if label not in swept or label in firsts]


def _throughput(out: Path, runs: list[tuple[str, Run]]) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    labelled = False
    for label, run in runs:
        win = series.windows(run.tasks, run.scenario.report.window_seconds)
        ax.step(win["start_s"], win["completed_per_s"], where="post", label=label, lw=1.3)
        if len(run.events):  # named once: runs of one scenario share their events
            shade(ax, run.events, labels=not labelled)
            labelled = True
    ax.set_title("Completions per second")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("tasks per second")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_below(ax, len(runs))
    return save(fig, out / "throughput.png")


def _cdf(out: Path, runs: list[tuple[str, Run]]) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, run in runs:
        lat = run.tasks[run.tasks["state"] == "succeeded"]["latency_s"].dropna().to_numpy()
        lat = np.sort(lat[lat > 0]) * 1000
        if len(lat):
            ax.plot(*cdf_points(lat), label=label, lw=1.3)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_title("Latency CDF (succeeded tasks)")
    ax.set_xlabel("latency from intended send to finish (ms)")
    ax.set_ylabel("fraction of tasks")
    ax.grid(alpha=0.3)
    legend_below(ax, len(runs))
    return save(fig, out / "latency_cdf.png")


def _scaling(out: Path, sweeps: list[tuple[str, Sweep]]) -> Path | None:
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    xs: set[str] = set()
    for name, sw in sweeps:
        metric = sw.summary.get("scaling_metric", "throughput_per_second")
        x = "system.workers" if "system.workers" in sw.parameters else sw.parameters[0]
        xs.add(x)
        rows = sw.aggregate[sw.aggregate["metric"] == metric]
        if x not in rows or not pd.api.types.is_numeric_dtype(rows[x]):
            continue
        others = [p for p in sw.parameters if p != x]
        groups = rows.groupby(others, sort=False) if others else [((), rows)]
        for key, g in groups:
            suffix = f" {key}" if others else ""
            g = g.sort_values(x)
            half = ((g["ci_high"] - g["ci_low"]) / 2).fillna(0)
            ax.errorbar(g[x], g["mean"], yerr=half, fmt="o-", capsize=3, label=f"{name}{suffix}")
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title("Scaling (mean, 95 % CI)")
    ax.set_xlabel(axis_label(xs.pop()) if len(xs) == 1 else "swept parameter")
    ax.set_ylabel("tasks per second (mean, 95 % CI)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_below(ax, len(ax.get_legend_handles_labels()[0]))
    return save(fig, out / "scaling.png")


def _cells(frame: pd.DataFrame) -> list[list[Any]]:
    rows: list[list[Any]] = frame.astype(object).where(frame.notna(), None).values.tolist()
    return rows


def compare(paths: list[Path], out: Path) -> pd.DataFrame:
    """Write the comparison folder; return its table."""
    runs, sweeps = collect(paths)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([_row(label, r) for label, r in runs])
    table.to_csv(out / "compare.csv", index=False)
    shown = _overlaid(runs, sweeps)
    figures = [_throughput(out / "figures", shown), _cdf(out / "figures", shown)]
    scaling = _scaling(out / "figures", sweeps)
    figures += [scaling] if scaling else []
    cols = [
        "label",
        "workers",
        "persistence",
        "throughput_per_second",
        "capacity_per_second",
        "latency_p50_s",
        "latency_p99_s",
        "lost",
        "duplicates",
        "conclusive",
    ]
    bs: list[Block] = [
        Heading(f"Comparison of {len(paths)} result folder(s)"),
        Para(", ".join(p.name for p in paths)),
        TableBlock(cols, _cells(table[cols])),
        Heading("Figures"),
        *[Image(p.relative_to(out), p.stem.replace("_", " ")) for p in figures],
        Para("compare.csv has every column for every run."),
    ]
    (out / "report.md").write_text(document.markdown(bs))
    (out / "report.html").write_text(document.html_page(bs, out, "comparison"))
    return table
