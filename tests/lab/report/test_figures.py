"""Figure helpers on known inputs: a missed sample is a gap (NaN) in the line, a long CDF
is thinned without losing its tails."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab.report.figures import cdf_points, with_gaps


def test_a_missed_sample_becomes_a_gap() -> None:
    s = pd.Series([1.0, 2.0, 3.0, 4.0], index=[0.0, 1.0, 2.0, 7.0])  # 3-6 s missing
    out = with_gaps(s, 1.0)
    assert out.isna().sum() == 1 and 2.0 < out[out.isna()].index[0] < 7.0
    assert with_gaps(s.iloc[:3], 1.0).isna().sum() == 0  # regular sampling: no gap


def test_a_long_cdf_is_thinned_and_keeps_its_tails() -> None:
    values = np.sort(np.random.default_rng(1).exponential(1.0, 50_000))
    x, y = cdf_points(values, most=2000)
    assert len(x) <= 2000 and np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    assert x[0] == values[0] and x[-1] == values[-1] and y[-1] == 1.0
    assert x[-5] == values[-5]  # the top tail point by point: p99.99 reads true
    short = np.arange(10.0)
    assert np.array_equal(cdf_points(short)[0], short)
