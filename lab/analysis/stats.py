"""Summary statistics over repetitions: mean, standard deviation, 95 % confidence interval.

The interval is Student's t interval for the mean, ``mean ± t(0.975, n-1) · s / √n``: the
right one for a handful of repetitions whose spread is estimated from the sample itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Estimate:
    n: int
    mean: float
    std: float  # sample standard deviation (n - 1 in the denominator); nan when n < 2
    ci_low: float  # nan when n < 2: one run says nothing about its spread
    ci_high: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def estimate(values: Iterable[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and t confidence interval of the finite values (NaN and inf are dropped)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(v.mean())
    if n < 2:
        return Estimate(1, mean, math.nan, math.nan, math.nan)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(n, mean, std, mean - half, mean + half)
