"""The run's figures (matplotlib, Agg: no display needed). Every time series carries the
event windows: from an event's request to its effect, and a pause until its resume."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lab.analysis.series import TERMINAL, lab_series

MIN_SPAN_SECONDS = 0.15  # so that an instant event is still visible


def _shade(ax: Axes, events: pd.DataFrame) -> None:
    paused_at: dict[str, float] = {}
    for _, e in events.iterrows():
        start = e["requested_s"]
        end = e["effective_s"] if pd.notna(e["effective_s"]) else start
        ax.axvspan(start, max(end, start + MIN_SPAN_SECONDS), color="tab:red", alpha=0.25, lw=0)
        ax.annotate(
            str(e["action"]),
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
            color="tab:red",
        )
        target = (
            str(e["detail"]).split("target=")[-1].split()[0] if "target=" in e["detail"] else ""
        )
        if pd.notna(e.get("lifted_s")):  # a fault with a duration: shaded until lifted
            ax.axvspan(end, e["lifted_s"], color="grey", alpha=0.2, lw=0)
        if e["action"] == "pause":
            paused_at[target] = end
        elif e["action"] == "resume" and target in paused_at:
            ax.axvspan(paused_at.pop(target), end, color="grey", alpha=0.2, lw=0)


def save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _series_figure(
    path: Path,
    title: str,
    ylabel: str,
    series: dict[str, pd.Series[float]],
    events: pd.DataFrame,
    *,
    log: bool = False,
    step: bool = False,
) -> Path:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for label, s in series.items():
        if len(s.dropna()):
            if step:
                ax.step(s.index, s.to_numpy(), where="post", label=label)
            else:
                ax.plot(s.index, s.to_numpy(), label=label, lw=1.3)
    if log and any(len(s.dropna()) for s in series.values()):
        ax.set_yscale("log")
    _shade(ax, events)
    ax.set_title(title)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper left", fontsize=8)
    return save(fig, path)


def draw_all(
    out: Path,
    tasks: pd.DataFrame,
    win: pd.DataFrame,
    events: pd.DataFrame,
    metrics: pd.DataFrame,
    t0_s: float,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    t = win.set_index(win["start_s"])
    paths = [
        _series_figure(
            out / "throughput.png",
            "Throughput",
            "tasks / s",
            {"offered": t["offered_per_s"], "completed": t["completed_per_s"]},
            events,
            step=True,
        ),
        _series_figure(
            out / "latency.png",
            "Latency (from intended send) by finish time",
            "seconds",
            {"p50": t["p50_s"], "p95": t["p95_s"], "p99": t["p99_s"]},
            events,
            log=True,
        ),
        _series_figure(
            out / "queue_depth.png",
            "Queue depth",
            "tasks",
            {
                s: lab_series(metrics, "taskq_lab_queue_depth", t0_s, f"state={s}")
                for s in ("queued", "scheduled", "running")
            },
            events,
            step=True,
        ),
        _series_figure(
            out / "workers.png",
            "Workers",
            "processes",
            {
                "alive": lab_series(metrics, "taskq_lab_worker_processes", t0_s),
                "registered": lab_series(metrics, "taskq_lab_workers_registered", t0_s),
            },
            events,
            step=True,
        ),
    ]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    lat = np.sort(tasks[tasks["state"].isin(TERMINAL[:1])]["latency_s"].dropna().to_numpy())
    if len(lat):
        ax.plot(lat, np.arange(1, len(lat) + 1) / len(lat))
        ax.set_xscale("log")
    ax.set_title("Latency CDF (succeeded tasks)")
    ax.set_xlabel("seconds from intended send to finish")
    ax.set_ylabel("fraction of tasks")
    ax.grid(alpha=0.3)
    paths.append(save(fig, out / "latency_cdf.png"))
    return paths
