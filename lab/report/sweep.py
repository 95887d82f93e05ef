"""A sweep's derived files, from its runs' stored data::

cells.csv       one row per run: the grid's values, repetition, folder, its numbers
                (``passed`` and the ``METRICS`` columns of ``lab.report.columns``)
aggregate.csv   one row per cell and metric: n, mean, sd, ci_low, ci_high (95 %, t)
summary.json    the grid, the runs' status and, when workers vary, the USL fit(s)
figures/        scaling.png (the metric against the first numeric parameter, error bars
                = 95 % CI, with the USL fit), usl_residuals.png
report.md  report.html

The scaling metric is the capacity (backlog drain) when the runs measured it, else the
throughput. With ``system.workers`` in the grid (3 or more values), the Universal
Scalability Law is fitted to every run's point (not the means), per combination of the
other parameters.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from lab.analysis import usl
from lab.analysis.model import RunSummary
from lab.analysis.stats import estimate
from lab.report import columns, document
from lab.report.derive import derive
from lab.report.document import Block, Heading, Image, Para, TableBlock
from lab.report.folder import SWEEP_FILE, read_scenario, read_summary
from lab.report.rate_search import derive_rate_search, is_rate_search
from lab.report.sweep_figures import draw_residuals, draw_scaling

WORKERS = "system.workers"
KINDS = {"host": "host CPU saturated", "generator": "generator behind", "api": "API refusing"}
UNBOUNDED = 1e6  # an interval end beyond this is shown as infinite
PEAK_BEYOND_DATA = 100  # ... and a peak beyond 100 x the most workers measured
# Columns of cells.csv (from lab.report.columns) aggregated per cell, in this order.
METRICS = (
    "max_rate_per_second",  # a rate search's answer (rate_search: in the scenario)
    "capacity_per_second",
    "throughput_per_second",
    "latency_p50_s",
    "latency_p99_s",
    "drain_seconds",
    "succeeded",
    "lost",
    "duplicates",
)


def _number(name: str, summary: RunSummary | None) -> float | None:
    if name not in columns.COLUMNS:  # a rate search's number: not a run's
        return None
    value = columns.value(name, summary)
    return None if value is None else float(value)


def _searched(run_dir: Path) -> dict[str, Any] | None:
    """A rate-search cell's numbers (its summary.json is the search's), else None."""
    if not is_rate_search(run_dir):
        return None
    path = run_dir / "summary.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return {name: None for name in METRICS} | {
        "max_rate_per_second": data.get("max_sustainable_rate_per_second"),
        "passed": data.get("max_sustainable_rate_per_second") is not None,
    }


def cells_table(folder: Path, plan: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for entry in plan["runs"]:
        searched = _searched(folder / "cells" / entry["folder"])
        if searched is not None:
            rows.append(
                {
                    **{k: _scalar(v) for k, v in entry["values"].items()},
                    "repetition": entry["repetition"],
                    "seed": entry["seed"],
                    "folder": entry["folder"],
                    "status": entry["status"],
                    **searched,
                }
            )
            continue
        summary = read_summary(folder / "cells" / entry["folder"])
        rows.append(
            {
                **{k: _scalar(v) for k, v in entry["values"].items()},
                "repetition": entry["repetition"],
                "seed": entry["seed"],
                "folder": entry["folder"],
                "status": entry["status"],
                "passed": columns.value("passed", summary),
                "conclusive": columns.value("conclusive", summary),
                "bottlenecks": ""
                if summary is None or summary.verdict is None
                else " ".join(b.what for b in summary.verdict.bottlenecks),
                **{name: _number(name, summary) for name in METRICS},
            }
        )
    return pd.DataFrame(rows)


def _scalar(value: Any) -> Any:
    """Grid values as table cells: a list or mapping (a whole mix) becomes its JSON."""
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def aggregate(cells: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    rows = []
    for key, group in cells.groupby(params, sort=False, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        for metric in METRICS:
            e = estimate(group[metric].dropna().tolist())
            if e.n == 0:
                continue
            rows.append(
                {
                    **dict(zip(params, values, strict=True)),
                    "metric": metric,
                    "n": e.n,
                    "mean": e.mean,
                    "sd": e.std,
                    "ci_low": e.ci_low,
                    "ci_high": e.ci_high,
                }
            )
    return pd.DataFrame(rows)


def scaling_metric(cells: pd.DataFrame) -> str:
    for metric in ("max_rate_per_second", "capacity_per_second"):
        if metric in cells and cells[metric].notna().any():
            return metric
    return "throughput_per_second"


def x_parameter(cells: pd.DataFrame, params: list[str]) -> str | None:
    """The parameter of the scaling curve: workers if swept, else the first numeric one."""
    if WORKERS in params:
        return WORKERS
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(cells[p])]
    return numeric[0] if numeric else None


def usl_fits(
    cells: pd.DataFrame, params: list[str], metric: str, seed: int
) -> list[dict[str, Any]]:
    """One fit per combination of the other parameters (3+ worker counts needed)."""
    if WORKERS not in params:
        return []
    others = [p for p in params if p != WORKERS]
    groups = cells.groupby(others, sort=False) if others else [((), cells)]
    fits = []
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        points = group.dropna(subset=[metric])
        points = points[points[metric] > 0]
        label = {p: v for p, v in zip(others, values, strict=True)}
        if points[WORKERS].nunique() < 3:
            fits.append({"group": label, "metric": metric, "error": "fewer than 3 worker counts"})
            continue
        try:
            fit = usl.fit(points[WORKERS].tolist(), points[metric].tolist(), seed=seed)
        except ValueError as exc:  # e.g. a cell with 0 workers
            fits.append({"group": label, "metric": metric, "error": str(exc)})
            continue
        describes, why = usl.judge(fit, points[WORKERS].tolist(), points[metric].tolist())
        entry: dict[str, Any] = {
            "group": label,
            "metric": metric,
            "describes_data": describes,
            "quality": why or f"R² {fit.r_squared:.3f}, residuals within the runs' noise",
            "measured_workers": [int(points[WORKERS].min()), int(points[WORKERS].max())],
        }
        fits.append(
            entry
            | fit.as_dict()
            | {
                "residuals": [
                    {"workers": int(n), "measured": float(x), "residual": round(r, 4)}
                    for n, x, r in zip(points[WORKERS], points[metric], fit.residuals, strict=True)
                ],
            }
        )
    return fits


def derive_sweep(folder: Path, *, runs_too: bool = True) -> dict[str, Any]:
    """Every derived file of the sweep (and, with ``runs_too``, of each run first)."""
    folder = Path(folder)
    plan: dict[str, Any] = json.loads((folder / SWEEP_FILE).read_text())
    if runs_too:
        for entry in plan["runs"]:
            run_dir = folder / "cells" / entry["folder"]
            if is_rate_search(run_dir):
                derive_rate_search(run_dir)
            elif (run_dir / "run.json").exists():
                derive(run_dir)
    scenario = read_scenario(folder)
    params = list(plan["grid"])
    cells = cells_table(folder, plan)
    cells.to_csv(folder / "cells.csv", index=False)
    agg = aggregate(cells, params)
    agg.to_csv(folder / "aggregate.csv", index=False)
    metric = scaling_metric(cells)
    fits = usl_fits(cells, params, metric, scenario.seed)
    summary: dict[str, Any] = {
        "sweep": plan["sweep"],
        "scenario": scenario.name,
        "grid": plan["grid"],
        "repeat": plan["repeat"],
        "runs": len(plan["runs"]),
        "runs_done": sum(1 for e in plan["runs"] if e["status"] == "done"),
        "scaling_metric": metric,
        "usl": fits,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    x = x_parameter(cells, params)
    figures: list[Path] = []
    if x is not None and len(agg):  # nothing to draw when no run finished
        figures.append(draw_scaling(folder / "figures", agg, params, x, metric, fits, cells))
    if any("lambda" in f for f in fits):
        figures.append(draw_residuals(folder / "figures", fits))
    rel = [p.relative_to(folder) for p in figures]
    sweep = scenario.sweep
    bs = _blocks(
        scenario.name,
        scenario.description,
        summary,
        agg,
        params,
        metric,
        rel,
        plan.get("order"),
        sweep.order if sweep else "grid",
        sweep.precision_share if sweep else None,
        cells,
    )
    (folder / "report.md").write_text(document.markdown(bs))
    (folder / "report.html").write_text(document.html_page(bs, folder, f"sweep {scenario.name}"))
    return summary


def _verdicts(cells: pd.DataFrame | None) -> list[Block]:
    """How many runs measured the queue, and what else the others measured."""
    if cells is None or "conclusive" not in cells or cells["conclusive"].isna().all():
        return []
    judged = cells[cells["conclusive"].notna()]
    bad = judged[~judged["conclusive"].astype(bool)]
    if not len(bad):
        return [Para(f"Verdict: all {len(judged)} runs conclusive (each run's report says so).")]
    kinds = pd.Series(" ".join(bad["bottlenecks"].fillna("")).split()).value_counts()
    what = ", ".join(f"{KINDS.get(str(k), str(k))} in {n}" for k, n in kinds.items())
    return [
        Para(
            f"**Verdict: {len(bad)} of {len(judged)} runs inconclusive** ({what}): their "
            "numbers measure the host or the load generator as much as the queue; each run's "
            "report says from when (cells.csv: conclusive, bottlenecks)."
        )
    ]


def _precision(
    agg: pd.DataFrame, params: list[str], metric: str, share: float | None
) -> list[Block]:
    """Each cell's CI half-width as a share of its mean, against the stated target."""
    rows = agg[(agg["metric"] == metric) & (agg["n"] >= 2)]
    if not len(rows):
        return []
    widths = ((rows["ci_high"] - rows["ci_low"]) / 2 / rows["mean"]).abs()
    worst = float(widths.max())
    text = f"The widest 95 % interval of {metric} is ±{worst:.1%} of its mean"
    if share is None:
        return [Para(text + " (no target: sweep.precision_share).")]
    short = rows[widths > share]
    if not len(short):
        return [Para(text + f": every cell reached the target ±{share:.0%}.")]
    names = "; ".join(
        ", ".join(f"{p.rsplit('.', 1)[-1]}={r[p]}" for p in params) for _, r in short.iterrows()
    )
    return [
        Para(
            text + f". Cells short of the target ±{share:.0%} (more repetitions or a longer "
            f"measurement window needed): {names}."
        )
    ]


def _ci(row: pd.Series[Any]) -> str:
    if row["n"] < 2 or not math.isfinite(row["ci_low"]):
        return f"{row['mean']:.4g} (n=1)"
    return f"{row['mean']:.4g} ± {(row['ci_high'] - row['ci_low']) / 2:.3g}"


def _extrapolated(fit: dict[str, Any]) -> str:
    low, high = fit.get("measured_workers", [None, None])
    peak = fit.get("peak_workers")
    if high is None or peak is None or low <= peak <= high:
        return ""
    return (
        f"The peak ({peak:.3g} workers) lies outside the measured {low}-{high} workers: an "
        "extrapolation (dotted in the figure), not a measurement."
    )


def _fit_rows(fit: dict[str, Any]) -> list[list[Any]]:
    most_workers = max((r["workers"] for r in fit["residuals"]), default=1)

    def ci(name: str) -> str:
        low, high = fit.get(f"{name}_ci_low"), fit.get(f"{name}_ci_high")
        if low is None or high is None:
            return "-"
        # κ's interval reaching 0 leaves the peak unbounded: say so, not 5e8 workers.
        limit = UNBOUNDED if name != "peak_workers" else PEAK_BEYOND_DATA * most_workers
        return f"[{low:.4g}, inf)" if high > limit else f"[{low:.4g}, {high:.4g}]"

    def big(name: str) -> Any:
        value = fit[name]  # None (infinite) or beyond any measured scale: unbounded
        return "unbounded" if value is None or value > UNBOUNDED else value

    return [
        ["λ (tasks/s of one worker)", fit["lambda"], ci("lambda")],
        ["σ (contention)", fit["sigma"], ci("sigma")],
        ["κ (coherency)", fit["kappa"], ci("kappa")],
        ["peak N (workers)", big("peak_workers"), ci("peak_workers")],
        ["peak throughput (tasks/s)", big("peak_throughput"), "-"],
        ["Amdahl ceiling λ/σ (tasks/s)", big("amdahl_ceiling"), "-"],
        ["R²", fit["r_squared"], "-"],
        ["points", fit["points"], "-"],
    ]


def _blocks(
    name: str,
    description: str,
    summary: dict[str, Any],
    agg: pd.DataFrame,
    params: list[str],
    metric: str,
    figures: list[Path],
    order: list[str] | None = None,
    order_kind: str = "random",
    precision_share: float | None = None,
    cells: pd.DataFrame | None = None,
) -> list[Block]:
    out: list[Block] = [
        Heading(f"Sweep of scenario `{name}`"),
        Para(description.strip() or "(no description)"),
        Para(
            f"{summary['runs_done']} of {summary['runs']} runs done; grid "
            + ", ".join(f"{k} = {v}" for k, v in summary["grid"].items())
            + f"; {summary['repeat']} repetition(s) per cell. Scaling metric: {metric} "
            "(mean ± half-width of the 95 % t confidence interval)."
        ),
    ]
    if len(agg):
        shown = [
            "max_rate_per_second",
            "capacity_per_second",
            "throughput_per_second",
            "latency_p99_s",
        ]
        wide = agg[agg["metric"].isin(shown)].copy()
        wide["value"] = wide.apply(_ci, axis=1)
        table = wide.pivot_table(
            index=params, columns="metric", values="value", aggfunc="first", sort=False
        ).reset_index()
        cols = [c for c in shown if c in table.columns]
        out += [
            Heading("Cells"),
            TableBlock([*params, *cols], table[[*params, *cols]].values.tolist()),
        ]
        out += _precision(agg, params, metric, precision_share)
        out += _verdicts(cells)
        if order:
            out.append(
                Para(f"Run order ({order_kind}, recorded in sweep.json): " + ", ".join(order) + ".")
            )
    for fit in summary["usl"]:
        group = ", ".join(f"{k} = {v}" for k, v in fit["group"].items()) or "all runs"
        out.append(Heading(f"Universal Scalability Law fit ({group})"))
        if "error" in fit:
            out.append(Para(f"No fit: {fit['error']}."))
            continue
        if fit.get("describes_data", True):
            quality = (
                f"The law describes the data ({fit.get('quality', '')}; gate: R² at least "
                f"{usl.MIN_R_SQUARED:g} and the curve inside every cell's 95 % interval). "
                + _extrapolated(fit)
            )
        else:
            quality = (
                f"**The Universal Scalability Law does not describe these data**: "
                f"{fit['quality']}. Its parameters below are not estimates of contention "
                "and coherency, and the figure does not draw the curve."
            )
        out += [
            Para(quality),
            Para(
                f"X(N) = λN / (1 + σ(N-1) + κN(N-1)) fitted to {fit['points']} runs' "
                f"{metric}; 95 % intervals from a seeded bootstrap over the runs."
            ),
            TableBlock(["parameter", "estimate", "95 % CI"], _fit_rows(fit)),
            TableBlock(
                ["workers", "measured", "residual (measured - fit)"],
                [[r["workers"], r["measured"], r["residual"]] for r in fit["residuals"]],
            ),
        ]
    out.append(Heading("Figures"))
    out += [Image(p, p.stem.replace("_", " ")) for p in figures]
    out.append(
        Para(
            "Tables: cells.csv (one row per run), aggregate.csv (per cell and metric: n, "
            "mean, sd, 95 % CI); every run's own folder is under cells/."
        )
    )
    return out
