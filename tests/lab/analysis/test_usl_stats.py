"""The USL fit recovers known parameters from noisy synthetic data; the confidence
interval math matches hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lab.analysis import usl
from lab.analysis.stats import estimate


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"),
    [(1000.0, 0.05, 0.002), (250.0, 0.2, 0.0), (40.0, 0.01, 0.02)],
)
def test_fit_recovers_known_parameters_from_noisy_points(
    lam: float, sigma: float, kappa: float
) -> None:
    rng = np.random.default_rng(7)
    workers = np.repeat([1, 2, 4, 8, 16, 32], 3)  # 3 repetitions per cell
    measured = usl.throughput(workers, lam, sigma, kappa) * rng.normal(1, 0.02, len(workers))
    fit = usl.fit(workers, measured, seed=1, bootstrap=200)
    assert fit.lam == pytest.approx(lam, rel=0.05)
    assert fit.sigma == pytest.approx(sigma, abs=0.02)
    assert fit.kappa == pytest.approx(kappa, abs=0.001)
    assert fit.r_squared > 0.98
    assert len(fit.residuals) == len(workers)
    for name, true in (("lambda", lam), ("sigma", sigma), ("kappa", kappa)):
        iv = fit.intervals[name]
        assert iv.low - 1e-9 <= true <= iv.high + 1e-9, (name, iv, true)


def test_peak_and_amdahl_ceiling() -> None:
    fit = usl.UslFit(lam=100, sigma=0.1, kappa=0.01, r_squared=1, residuals=(), n_points=0)
    assert fit.peak_workers == pytest.approx(math.sqrt(0.9 / 0.01))  # N* = √((1-σ)/κ)
    n = np.arange(1, 100)
    assert fit.peak_throughput == pytest.approx(fit.predict(n).max(), rel=1e-3)
    assert fit.amdahl_ceiling == pytest.approx(1000)
    amdahl = usl.UslFit(lam=100, sigma=0.1, kappa=0, r_squared=1, residuals=(), n_points=0)
    assert amdahl.peak_workers == math.inf
    assert amdahl.as_dict()["peak_workers"] is None  # JSON has no infinity


def test_fit_needs_three_worker_counts() -> None:
    with pytest.raises(ValueError, match="3 or more"):
        usl.fit([1, 1, 2, 2], [10, 11, 19, 20])


def test_t_interval_matches_hand_computation() -> None:
    e = estimate([1, 2, 3, 4, 5])
    # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776445
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert (e.n, e.mean) == (5, 3)
    assert e.std == pytest.approx(math.sqrt(2.5))
    assert (e.ci_low, e.ci_high) == (pytest.approx(3 - half), pytest.approx(3 + half))


def test_interval_of_one_value_or_none() -> None:
    one = estimate([4.0, math.nan])
    assert (one.n, one.mean) == (1, 4.0) and math.isnan(one.ci_low)
    assert estimate([]).n == 0


def test_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(2000):
        e = estimate(rng.normal(10, 2, 5))
        covered += e.ci_low <= 10 <= e.ci_high
    assert 0.93 <= covered / 2000 <= 0.97


def test_the_quality_gate_passes_data_that_follow_the_law() -> None:
    rng = np.random.default_rng(3)
    workers = np.repeat([1, 2, 4, 8], 3)
    measured = usl.throughput(workers, 500.0, 0.05, 0.001) * rng.normal(1, 0.01, len(workers))
    fit = usl.fit(workers, measured, seed=1, bootstrap=0)
    describes, why = usl.judge(fit, workers.tolist(), measured.tolist())
    assert describes and why == ""


def test_the_quality_gate_rejects_data_that_do_not_follow_the_law() -> None:
    # The saturated-host sweep: 1830±58 / 1699±705 / 2789±918 / 2260±952 tasks/s.
    workers = [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8]
    measured = [1800, 1830, 1860, 1100, 1700, 2300, 2000, 2800, 3560, 1400, 2260, 3120]
    fit = usl.fit(workers, measured, seed=1, bootstrap=0)
    describes, why = usl.judge(fit, workers, [float(x) for x in measured])
    assert not describes and "R²" in why and f"below {usl.MIN_R_SQUARED:g}" in why


def test_systematic_residuals_are_caught_even_at_a_high_r_squared() -> None:
    # A step: flat, then a jump the law's smooth curve cannot make; tight repetitions.
    workers = np.repeat([1, 2, 3, 4, 6, 8], 3)
    steps = {1: 100.0, 2: 200.0, 3: 300.0, 4: 700.0, 6: 720.0, 8: 730.0}
    measured = np.array([steps[int(w)] for w in workers]) + np.tile([-1.0, 0.0, 1.0], 6)
    fit = usl.fit(workers, measured, seed=1, bootstrap=0)
    describes, why = usl.judge(fit, workers.tolist(), measured.tolist())
    assert not describes and "systematic residuals" in why
    assert usl.misfits(workers.tolist(), measured.tolist(), (measured - fit.residuals).tolist())
