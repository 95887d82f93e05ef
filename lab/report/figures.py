"""The run's figures (matplotlib, Agg: no display needed), each as a 300 dpi PNG and a PDF
beside it (for print). Every time series carries the event windows: from an event's
request to its effect, and a pause until its resume. Counts get integer ticks and start at
0, so a flat series is not zoomed into noise; latency is in ms; a sampled series that
misses rounds shows a gap there, not a straight line across.

``style()`` sets sizes readable at text width (a 9 in figure scaled to ~6 in)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from numpy.typing import NDArray

from lab.analysis.series import TERMINAL, lab_series, windows

MIN_SPAN_SECONDS = 0.15  # so that an instant event is still visible
DPI = 300
TIME_LABEL = "time since the load started (s)"
GAP_FACTOR = 2.5  # a step this many sampling intervals wide is a gap
CHARS_PER_INCH = 11  # legend text at 9 pt, roughly
CDF_POINTS = 2000


def style() -> None:
    plt.rcParams.update(
        {
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
            "pdf.fonttype": 42,  # TrueType in the PDF: text stays text
        }
    )


style()


def shade(ax: Axes, events: pd.DataFrame, *, labels: bool = True) -> None:
    paused_at: dict[str, float] = {}
    for _, e in events.iterrows():
        start = e["requested_s"]
        end = e["effective_s"] if pd.notna(e["effective_s"]) else start
        ax.axvspan(start, max(end, start + MIN_SPAN_SECONDS), color="tab:red", alpha=0.25, lw=0)
        if labels:
            ax.annotate(
                str(e["action"]),
                (start, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=8,
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


def with_gaps(s: pd.Series[float], interval_s: float) -> pd.Series[float]:
    """``s`` with a NaN inserted where consecutive samples are further apart than
    ``GAP_FACTOR`` intervals: matplotlib then breaks the line there."""
    s = s.sort_index()
    if len(s) < 2:
        return s
    t = s.index.to_numpy(dtype=float)
    holes = t[:-1][np.diff(t) > GAP_FACTOR * interval_s] + interval_s
    if not len(holes):
        return s
    return pd.concat([s, pd.Series(np.nan, index=holes)]).sort_index()


def plain_log_ticks(axis: Axis) -> None:
    """A log axis labelled 200, 300, 1000 rather than 2x10^2."""

    def minor(v: float, _: object) -> str:
        low, high = axis.get_view_interval()  # 2 and 5 labelled only over a narrow range
        narrow = low > 0 and high / low <= 100
        return f"{v:g}" if narrow and f"{v:g}"[0] in "25" else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def legend_below(ax: Axes, entries: int) -> None:
    """The legend under the plot, where it hides no line and no event label; as many
    columns as fit the figure's width (long labels, as in ``lab compare``: fewer)."""
    if entries:
        labels = ax.get_legend_handles_labels()[1]
        longest = max((len(label) for label in labels), default=10)
        width = ax.get_figure(root=True).get_figwidth()  # type: ignore[union-attr]
        fit = int(width * CHARS_PER_INCH / (longest + 6))
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncol=max(1, min(entries, 5, fit)),
            frameon=False,
        )


def save(fig: Figure, path: Path) -> Path:
    """``path`` (a .png, 300 dpi) and the same figure as .pdf beside it."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
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
    counts: bool = False,
    styles: dict[str, str] | None = None,
) -> Path:
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for i, (label, s) in enumerate(series.items()):
        if len(s.dropna()):
            # Earlier lines wider, later ones drawn on top: lines that overlap stay visible.
            width = max(2.4 - 0.5 * i, 1.0)
            kw = {"label": label, "lw": width, "ls": (styles or {}).get(label)}
            if step:
                ax.step(s.index, s.to_numpy(), where="post", **kw)  # type: ignore[arg-type]
            else:
                ax.plot(s.index, s.to_numpy(), **kw)  # type: ignore[arg-type]
    if log and any(len(s.dropna()) for s in series.values()):
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    elif counts or step:
        top = max((float(s.max()) for s in series.values() if len(s.dropna())), default=0.0)
        ax.set_ylim(0, max(top * 1.15, 1.0))  # flat: not zoomed into noise
    if counts:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    shade(ax, events)
    ax.set_title(title)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    legend_below(ax, sum(1 for v in series.values() if len(v.dropna())))
    return save(fig, path)


def _latency_series(tasks: pd.DataFrame, window_s: float) -> dict[str, pd.Series[float]]:
    """p50/p95/p99 in ms; with several task types, p50 and p99 of each."""
    types = sorted(t for t in tasks["task_type"].dropna().unique() if t)
    if len(types) <= 1:
        w = windows(tasks, window_s).set_index("start_s")
        return {q: w[f"{q}_s"] * 1000 for q in ("p50", "p95", "p99")}
    out: dict[str, pd.Series[float]] = {}
    for t in types:
        w = windows(tasks[tasks["task_type"] == t], window_s).set_index("start_s")
        out[f"{t} p50"] = w["p50_s"] * 1000
        out[f"{t} p99"] = w["p99_s"] * 1000
    return out


def cdf_points(
    ordered: NDArray[np.float64], most: int = CDF_POINTS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(value, fraction) of an empirical CDF of sorted values, thinned to ``most`` points
    (every point kept in both tails, where the eye reads percentiles): the figure looks
    the same and the PDF stays small and quick to write."""
    n = len(ordered)
    frac = np.arange(1, n + 1) / n
    if n <= most:
        return ordered, frac
    tail = most // 10
    keep = np.unique(
        np.concatenate(
            [
                np.arange(tail),
                np.linspace(tail, n - tail - 1, most - 2 * tail).astype(int),
                np.arange(n - tail, n),
            ]
        )
    )
    return ordered[keep], frac[keep]


def _cdf(out: Path, tasks: pd.DataFrame) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ok = tasks[tasks["state"].isin(TERMINAL[:1])]
    types = sorted(t for t in ok["task_type"].dropna().unique() if t)
    groups = [("all", ok)] + (
        [(t, ok[ok["task_type"] == t]) for t in types] if len(types) > 1 else []
    )
    for label, g in groups:
        lat = np.sort(g["latency_s"].dropna().to_numpy()) * 1000
        if len(lat):
            x, y = cdf_points(lat)
            ax.plot(x, y, label=f"{label} (n={len(lat)})")
    if len(ok["latency_s"].dropna()):
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        ax.legend(loc="lower right")
    ax.set_ylim(0, 1)
    ax.set_title("Latency CDF (succeeded tasks)")
    ax.set_xlabel("latency from intended send to finish (ms)")
    ax.set_ylabel("fraction of tasks")
    ax.grid(alpha=0.3)
    return save(fig, out / "latency_cdf.png")


def draw_all(
    out: Path,
    tasks: pd.DataFrame,
    win: pd.DataFrame,
    events: pd.DataFrame,
    metrics: pd.DataFrame,
    t0_s: float,
    interval_s: float = 1.0,
    window_s: float = 1.0,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    t = win.set_index(win["start_s"])
    refused = t["refused_per_s"] if t["refused_per_s"].any() else t["refused_per_s"].iloc[:0]
    paths = [
        _series_figure(
            out / "throughput.png",
            "Submits and completions per second",
            "tasks per second",
            {
                "offered (schedule)": t["offered_per_s"],
                "sent": t["sent_per_s"],
                "accepted": t["accepted_per_s"],
                "refused (429 / 503)": refused,
                "completed": t["completed_per_s"],
            },
            events,
            step=True,
            styles={"offered (schedule)": "--", "sent": ":"},
        ),
        _series_figure(
            out / "latency.png",
            "Latency from intended send, by finish time",
            "latency (ms)",
            _latency_series(tasks, window_s),
            events,
            log=True,
        ),
        _series_figure(
            out / "queue_depth.png",
            "Queue depth (sampled)",
            "tasks",
            {
                s: with_gaps(
                    lab_series(metrics, "taskq_lab_queue_depth", t0_s, f"state={s}"), interval_s
                )
                for s in ("queued", "scheduled", "running")
            },
            events,
            step=True,
            counts=True,
        ),
        _series_figure(
            out / "workers.png",
            "Worker processes",
            "workers",
            {
                "alive": with_gaps(
                    lab_series(metrics, "taskq_lab_worker_processes", t0_s), interval_s
                ),
                "registered": with_gaps(
                    lab_series(metrics, "taskq_lab_workers_registered", t0_s), interval_s
                ),
            },
            events,
            step=True,
            counts=True,
            styles={"registered": "--"},
        ),
    ]
    paths.append(_cdf(out, tasks))
    return paths
