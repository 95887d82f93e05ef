"""Latency over time from the workers' Prometheus histograms, as the run collected them.

A histogram arrives as cumulative bucket counts per process and label set, scraped every
interval. ``WindowedHistogram`` turns them into the observations gained in each time bin,
summed over processes and labels; ``quantile`` reads a quantile from a bin's buckets the
way Prometheus's ``histogram_quantile`` does (linear within the bucket that holds it).
"""

from __future__ import annotations

import math
from collections import defaultdict


def le_of(labels: str) -> float | None:
    """The ``le`` bound in a sorted ``k=v,k=v`` label string (``+Inf`` is infinity)."""
    for pair in labels.split(","):
        key, _, value = pair.partition("=")
        if key == "le":
            return float(value)  # float("+Inf") is inf
    return None


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of cumulative ``buckets`` (upper bound -> count at or below it), or
    None without observations. Within the bucket that holds it, linear between its bounds;
    in the last (+Inf) bucket, the highest finite bound."""
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


class WindowedHistogram:
    """The observations of one histogram family gained per time bin.

    ``add`` takes metric rows in the order they were collected. A process seen for the
    first time contributes everything it counted so far (it started during the run, or
    just before the load), and a count that went down is a restarted process counting
    from zero again.
    """

    def __init__(self, family: str, t0_s: float, bin_seconds: float) -> None:
        self.bucket_metric = f"{family}_bucket"
        self.t0_s = t0_s
        self.bin_seconds = bin_seconds
        self._last: dict[str, float] = {}  # full label string -> last cumulative count
        self.bins: dict[int, dict[float, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, at_s: float, metric: str, labels: str, value: float) -> None:
        if metric != self.bucket_metric:
            return
        le = le_of(labels)
        if le is None:
            return
        previous = self._last.get(labels)
        self._last[labels] = value
        gained = value if previous is None or value < previous else value - previous
        # Every bound gets its entry, even at zero: a quantile needs the whole ladder.
        self.bins[math.floor((at_s - self.t0_s) / self.bin_seconds)][le] += gained

    def series(self, q: float) -> tuple[list[float], list[float | None]]:
        """(bin centres in seconds since t0, the q-quantile in each bin)."""
        times, values = [], []
        for index in sorted(self.bins):
            times.append(round((index + 0.5) * self.bin_seconds, 3))
            value = quantile(q, self.bins[index])
            values.append(None if value is None else round(value, 6))
        return times, values
