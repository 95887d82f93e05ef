"""Capacity: the saturation throughput of a backlog drain (``load.mode: backlog``).

All tasks are submitted at once, so the workers always have work until the backlog runs
out. The rate counts only the steady middle of the drain:

- the warm-up is left out: the first ``warmup_share`` of completions (workers reaching
  full concurrency, connections, the process pool) and anything before the last submit
  was acknowledged (the backlog was not complete yet);
- the tail is left out: the last ``tail_share`` of completions, when fewer tasks are
  left than the workers have slots.

Capacity = completions in (start, end] / (end - start).
"""

from __future__ import annotations

import math

import pandas as pd

from lab.analysis.model import Capacity

MIN_TASKS = 10  # fewer completions than this give no meaningful rate


def drain_capacity(tasks: pd.DataFrame, warmup_share: float, tail_share: float) -> Capacity | None:
    """None when too few tasks succeeded to measure a rate."""
    ok = tasks[(tasks["submit"] == "accepted") & (tasks["state"] == "succeeded")]
    done = ok["finished_s"].dropna().sort_values().to_numpy()
    n = len(done)
    if n < MIN_TASKS:
        return None
    filled = float(tasks["acked_s"].max()) if tasks["acked_s"].notna().any() else 0.0
    start = max(float(done[math.floor(n * warmup_share)]), filled)
    end = float(done[n - 1 - math.floor(n * tail_share)])
    counted = int(((done > start) & (done <= end)).sum())
    if end <= start or counted < 2:
        return None
    return Capacity(
        per_second=round(counted / (end - start), 3),
        from_s=round(start, 3),
        to_s=round(end, 3),
        tasks_counted=counted,
        tasks_succeeded=n,
    )
