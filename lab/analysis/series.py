"""Time series of a run from its tables (pure pandas): the lab sampler's series and the
per-window throughput and latency that the figures, ``lab compare`` and the summary's
saturation are drawn from."""

from __future__ import annotations

import numpy as np
import pandas as pd

TERMINAL = ("succeeded", "failed", "cancelled")


def lab_series(metrics: pd.DataFrame, name: str, t0_s: float, label: str = "") -> pd.Series[float]:
    """One series of the lab sampler (job=lab) indexed by seconds since t0_s."""
    rows = metrics[(metrics["metric"] == name) & metrics["labels"].str.contains("job=lab")]
    if label:
        rows = rows[rows["labels"].str.contains(label, regex=False)]
    return pd.Series(rows["value"].to_numpy(), index=rows["time"].to_numpy() - t0_s, dtype=float)


def windows(tasks: pd.DataFrame, window_seconds: float) -> pd.DataFrame:
    """Per time window: offered (by intended time), sent (first attempt), accepted (by
    acknowledgement), refused (refusal responses, by first send), completed and latency
    percentiles (by finish time)."""
    done = tasks[tasks["state"].isin(TERMINAL) & tasks["finished_s"].notna()]
    end = max(tasks["intended_s"].max(), done["finished_s"].max() if len(done) else 0.0)
    edges = np.arange(0.0, float(end) + window_seconds, window_seconds)
    if len(edges) < 2:
        edges = np.array([0.0, window_seconds])
    offered = np.histogram(tasks["intended_s"].dropna(), edges)[0]
    sent = np.histogram(tasks["sent_s"].dropna(), edges)[0]
    accepted = np.histogram(tasks["acked_s"].dropna(), edges)[0]
    refusals = pd.to_numeric(tasks["refusals"], errors="coerce").fillna(0)
    refused = np.histogram(tasks["sent_s"].fillna(-1.0), edges, weights=refusals)[0]
    completed = np.histogram(done["finished_s"], edges)[0]
    which = np.digitize(done["finished_s"], edges) - 1
    rows = []
    for i in range(len(edges) - 1):
        lat = done["latency_s"][which == i].dropna()
        q = np.percentile(lat, [50, 95, 99]) if len(lat) else [np.nan] * 3
        rows.append(
            {
                "start_s": edges[i],
                "offered_per_s": offered[i] / window_seconds,
                "sent_per_s": sent[i] / window_seconds,
                "accepted_per_s": accepted[i] / window_seconds,
                "refused_per_s": refused[i] / window_seconds,
                "completed_per_s": completed[i] / window_seconds,
                "p50_s": q[0],
                "p95_s": q[1],
                "p99_s": q[2],
            }
        )
    return pd.DataFrame(rows)
