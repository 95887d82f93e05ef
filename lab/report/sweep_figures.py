"""A sweep's figures: the scaling curve with error bars and the USL fit, and the fit's
residuals (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from lab.analysis import usl
from lab.report.figures import save

WORKERS = "system.workers"


def _label(group: dict[str, Any]) -> str:
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in group.items())


AXIS_LABELS = {
    "system.workers": "workers",
    "system.concurrency": "tasks in flight per worker",
    "capacity_per_second": "capacity (tasks/s)",
    "max_rate_per_second": "maximum sustainable rate (tasks/s)",
    "throughput_per_second": "throughput (tasks/s)",
}


def axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name.rsplit(".", 1)[-1].replace("_", " "))


def draw_scaling(
    out: Path,
    agg: pd.DataFrame,
    params: list[str],
    x: str,
    metric: str,
    fits: list[dict[str, Any]],
    cells: pd.DataFrame | None = None,
) -> Path:
    """Mean ± 95 % CI of ``metric`` against ``x``, one line per combination of the
    other parameters, with every repetition as a point beside it; the USL fit (dashed
    over the measured range, dotted beyond: an extrapolation) and linear scaling from
    N=1, only when the fit passed its quality gate (``lab.analysis.usl.judge``)."""
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    rows = agg[agg["metric"] == metric]
    others = [p for p in params if p != x]
    groups = rows.groupby(others, sort=False) if others else [((), rows)]
    top = 0.0
    rejected = []
    for i, (key, group) in enumerate(groups):
        values = key if isinstance(key, tuple) else (key,)
        label = _label(dict(zip(others, values, strict=True))) or "mean, 95 % CI"
        g = group.sort_values(x)
        half = ((g["ci_high"] - g["ci_low"]) / 2).fillna(0).to_numpy()
        color = f"C{i}"
        ax.errorbar(g[x], g["mean"], yerr=half, fmt="o-", capsize=4, color=color, label=label)
        if cells is not None and metric in cells:
            mine = cells
            for p, v in zip(others, values, strict=True):
                mine = mine[mine[p] == v]
            pts = mine.dropna(subset=[metric])
            offset = 0.06 * (float(g[x].max()) - float(g[x].min()) or 1.0) / max(len(g), 1)
            # A run whose verdict was inconclusive (host, generator, API) is an x.
            doubtful = (
                pts["conclusive"].eq(False)
                if "conclusive" in pts
                else pd.Series(False, index=pts.index)
            )
            ax.scatter(
                pts[x][~doubtful] + offset,
                pts[metric][~doubtful],
                s=16,
                facecolors="none",
                edgecolors=color,
                label="repetitions" if i == 0 and (~doubtful).any() else None,
            )
            if doubtful.any():
                ax.scatter(
                    pts[x][doubtful] + offset,
                    pts[metric][doubtful],
                    s=22,
                    marker="x",
                    color=color,
                    label="repetitions, inconclusive verdict" if i == 0 else None,
                )
            top = max(top, float(pts[metric].max()) if len(pts) else 0.0)
        fit = next(
            (f for f in fits if "lambda" in f and list(f["group"].values()) == list(values)),
            None,
        )
        if fit is not None and x == WORKERS and not fit.get("describes_data", True):
            rejected.append(fit)
        elif fit is not None and x == WORKERS:
            most = float(g[x].max())
            inside = np.linspace(1, most, 100)
            beyond = np.linspace(most, max(most * 1.5, 2), 50)
            model = usl.throughput
            args = (fit["lambda"], fit["sigma"], fit["kappa"])
            ax.plot(
                inside,
                model(inside, *args),
                "--",
                color=color,
                lw=1.2,
                label=f"USL fit (R² {fit['r_squared']:.3f})",
            )
            ax.plot(beyond, model(beyond, *args), ":", color=color, lw=1.2, label="extrapolation")
            n = np.linspace(1, max(most * 1.5, 2), 100)
            ax.plot(n, fit["lambda"] * n, ":", color="grey", lw=0.8, label="linear scaling (Nλ)")
        top = max(top, float((g["mean"] + half).max()))
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(f"{axis_label(metric)}, mean and 95 % CI")
    if rejected:
        ax.set_title("Scaling (the USL fit was rejected: it does not describe the data)")
    else:
        ax.set_title("Scaling" + (" with the Universal Scalability Law" if fits else ""))
    ax.set_ylim(0, top * 1.4 if top > 0 else None)  # the linear line would dwarf the data
    if pd.api.types.is_integer_dtype(rows[x]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return save(fig, out / "scaling.png")


def draw_residuals(out: Path, fits: list[dict[str, Any]]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3))
    for i, fit in enumerate(f for f in fits if "lambda" in f):
        res = pd.DataFrame(fit["residuals"])
        ax.scatter(
            res["workers"],
            res["residual"] / res["measured"] * 100,
            color=f"C{i}",
            label=_label(fit["group"]) or "all runs",
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("workers")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("residual (% of measured)")
    ax.set_title("USL fit residuals (measured - fit)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out / "usl_residuals.png")
