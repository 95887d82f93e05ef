"""The Universal Scalability Law (Gunther), fitted to throughput against worker count.

    X(N) = λ N / (1 + σ (N - 1) + κ N (N - 1))

- λ: throughput of one worker (tasks/s), the slope at N = 1;
- σ: contention (serialised work: a shared lock, one Redis), 0 ≤ σ ≤ 1;
- κ: coherency (crosstalk between workers that grows with N²), κ ≥ 0.

With κ > 0 the curve peaks at N* = √((1 - σ) / κ) and then falls (retrograde scaling);
with κ = 0 it is Amdahl's law, approaching λ / σ.

The fit is bounded non-linear least squares on the measured points (each repetition is
one point), on relative residuals: the throughput at 1 worker counts as much as at 16.
Confidence intervals come from a seeded bootstrap over the points. Goodness of fit: R²
and the residuals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from lab.analysis.stats import estimate

BOOTSTRAP_SAMPLES = 1000
MIN_R_SQUARED = 0.9  # below this the law does not describe the data


def misfits(
    workers: Sequence[float], measured: Sequence[float], fitted: Sequence[float]
) -> list[int]:
    """Worker counts where the fit runs outside the 95 % t interval of the measured mean
    (counts with 2 or more repetitions): residuals that are systematic, not noise."""
    frame: dict[float, tuple[list[float], float]] = {}
    for n, x, f in zip(workers, measured, fitted, strict=True):
        frame.setdefault(float(n), ([], float(f)))[0].append(float(x))
    out = []
    for n, (xs, f) in sorted(frame.items()):
        e = estimate(xs)
        if e.n >= 2 and math.isfinite(e.ci_low) and not e.ci_low <= f <= e.ci_high:
            out.append(int(n))
    return out


def judge(fit: UslFit, workers: Sequence[float], measured: Sequence[float]) -> tuple[bool, str]:
    """Whether the law describes the points: R² at least ``MIN_R_SQUARED`` and no worker
    count whose mean the curve misses (see ``misfits``); with the reason when not."""
    fitted = [m - r for m, r in zip(measured, fit.residuals, strict=True)]
    missed = misfits(workers, measured, fitted)
    reasons = []
    if not math.isfinite(fit.r_squared) or fit.r_squared < MIN_R_SQUARED:
        reasons.append(f"R² {fit.r_squared:.3f} is below {MIN_R_SQUARED:g}")
    if missed:
        counts = ", ".join(str(n) for n in missed)
        reasons.append(
            f"the curve misses the 95 % interval of the measured mean at {counts} workers "
            "(systematic residuals)"
        )
    return not reasons, "; ".join(reasons)


def throughput(n: ArrayLike, lam: float, sigma: float, kappa: float) -> NDArray[np.float64]:
    """X(N) of the law, element-wise."""
    w = np.asarray(n, dtype=np.float64)
    x: NDArray[np.float64] = lam * w / (1 + sigma * (w - 1) + kappa * w * (w - 1))
    return x


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class UslFit:
    lam: float
    sigma: float
    kappa: float
    r_squared: float
    residuals: tuple[float, ...]  # measured - fitted, in the order of the points given
    n_points: int
    # 95 % bootstrap percentile intervals (absent when there were too few points)
    intervals: dict[str, Interval] = field(default_factory=dict)

    @property
    def peak_workers(self) -> float:
        """N* where throughput peaks; inf when κ = 0 (no retrograde region)."""
        return math.sqrt((1 - self.sigma) / self.kappa) if self.kappa > 0 else math.inf

    @property
    def peak_throughput(self) -> float:
        n = self.peak_workers
        return (
            float(throughput(n, self.lam, self.sigma, self.kappa))
            if math.isfinite(n)
            else (self.amdahl_ceiling)
        )

    @property
    def amdahl_ceiling(self) -> float:
        """λ / σ: the limit of throughput with contention alone (inf when σ = 0)."""
        return self.lam / self.sigma if self.sigma > 0 else math.inf

    def predict(self, n: ArrayLike) -> NDArray[np.float64]:
        return throughput(n, self.lam, self.sigma, self.kappa)

    def as_dict(self) -> dict[str, float | int | None]:
        def finite(x: float) -> float | None:
            return round(x, 6) if math.isfinite(x) else None

        out: dict[str, float | int | None] = {
            "lambda": finite(self.lam),
            "sigma": finite(self.sigma),
            "kappa": finite(self.kappa),
            "r_squared": finite(self.r_squared),
            "peak_workers": finite(self.peak_workers),
            "peak_throughput": finite(self.peak_throughput),
            "amdahl_ceiling": finite(self.amdahl_ceiling),
            "points": self.n_points,
        }
        for name, iv in self.intervals.items():
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = finite(iv.low), finite(iv.high)
        return out


def _solve(n: NDArray[np.float64], x: NDArray[np.float64]) -> tuple[float, float, float]:
    # Start from the per-worker throughput at the smallest worker count.
    lam0 = float(x[n == n.min()].mean() / n.min())

    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        return (throughput(n, p[0], p[1], p[2]) - x) / x

    res = least_squares(
        resid, x0=[lam0, 0.05, 0.001], bounds=([0, 0, 0], [np.inf, 1, np.inf]), method="trf"
    )
    lam, sigma, kappa = (float(v) for v in res.x)
    return lam, sigma, kappa


def fit(
    workers: Sequence[float],
    measured: Sequence[float],
    *,
    seed: int = 0,
    bootstrap: int = BOOTSTRAP_SAMPLES,
) -> UslFit:
    """Fit the law to (workers, throughput) points; needs at least 3 distinct worker
    counts. ``bootstrap`` = 0 skips the intervals."""
    n = np.asarray(workers, dtype=float)
    x = np.asarray(measured, dtype=float)
    if n.shape != x.shape or len(np.unique(n)) < 3:
        raise ValueError("the USL fit needs throughput at 3 or more distinct worker counts")
    if (n < 1).any() or (x <= 0).any():
        raise ValueError("worker counts must be >= 1 and throughputs > 0")
    lam, sigma, kappa = _solve(n, x)
    fitted = throughput(n, lam, sigma, kappa)
    ss_res = float(((x - fitted) ** 2).sum())
    ss_tot = float(((x - x.mean()) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else math.nan
    intervals = _bootstrap(n, x, seed, bootstrap) if bootstrap else {}
    return UslFit(lam, sigma, kappa, r2, tuple(float(r) for r in x - fitted), len(n), intervals)


def _bootstrap(
    n: NDArray[np.float64], x: NDArray[np.float64], seed: int, samples: int
) -> dict[str, Interval]:
    """Percentile intervals from refits on points resampled with replacement (resamples
    with fewer than 3 distinct worker counts cannot be fitted and are skipped)."""
    rng = np.random.default_rng(seed)
    draws: list[tuple[float, float, float, float]] = []
    for _ in range(samples):
        idx = rng.integers(0, len(n), len(n))
        if len(np.unique(n[idx])) < 3:
            continue
        lam, sigma, kappa = _solve(n[idx], x[idx])
        peak = math.sqrt((1 - sigma) / kappa) if kappa > 0 else math.inf
        draws.append((lam, sigma, kappa, peak))
    if len(draws) < samples // 2:
        return {}
    arr = np.asarray(draws)
    names = ("lambda", "sigma", "kappa", "peak_workers")
    return {
        name: Interval(float(np.percentile(arr[:, i], 2.5)), float(np.percentile(arr[:, i], 97.5)))
        for i, name in enumerate(names)
    }
