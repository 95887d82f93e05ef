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

from lab.analysis import usl
from lab.report.figures import save

WORKERS = "system.workers"


def _label(group: dict[str, Any]) -> str:
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in group.items())


def draw_scaling(
    out: Path,
    agg: pd.DataFrame,
    params: list[str],
    x: str,
    metric: str,
    fits: list[dict[str, Any]],
) -> Path:
    """Mean ± 95 % CI of ``metric`` against ``x``, one line per combination of the
    other parameters; the USL fit (dashed) and linear scaling from N=1 (dotted)."""
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    rows = agg[agg["metric"] == metric]
    others = [p for p in params if p != x]
    groups = rows.groupby(others, sort=False) if others else [((), rows)]
    top = 0.0
    for i, (key, group) in enumerate(groups):
        values = key if isinstance(key, tuple) else (key,)
        label = _label(dict(zip(others, values, strict=True))) or metric
        g = group.sort_values(x)
        half = ((g["ci_high"] - g["ci_low"]) / 2).fillna(0).to_numpy()
        color = f"C{i}"
        ax.errorbar(g[x], g["mean"], yerr=half, fmt="o-", capsize=4, color=color, label=label)
        fit = next(
            (f for f in fits if "lambda" in f and list(f["group"].values()) == list(values)),
            None,
        )
        if fit is not None and x == WORKERS:
            n = np.linspace(1, max(float(g[x].max()) * 1.5, 2), 200)
            curve = usl.throughput(n, fit["lambda"], fit["sigma"], fit["kappa"])
            ax.plot(
                n, curve, "--", color=color, lw=1.2, label=f"USL fit (R²={fit['r_squared']:.3f})"
            )
            ax.plot(
                n,
                fit["lambda"] * n,
                ":",
                color=color,
                lw=0.8,
                alpha=0.6,
                label="linear scaling (N x lambda)",
            )
        top = max(top, float((g["mean"] + half).max()))
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} (mean, 95 % CI)")
    ax.set_title("Scaling" + (" with the Universal Scalability Law" if fits else ""))
    ax.set_ylim(0, top * 1.4 if top > 0 else None)  # the linear line would dwarf the data
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
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
    ax.set_xlabel(WORKERS)
    ax.set_ylabel("residual (% of measured)")
    ax.set_title("USL fit residuals (measured - fit)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out / "usl_residuals.png")
