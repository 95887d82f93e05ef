"""The seeded arrival schedule of an open-loop load: pure logic, no I/O.

The same scenario and seed give the same schedule (same times, same task kinds), so two
runs offer exactly the same load. Deterministic kinds (constant, ramp, step, burst) place
arrival k where the integral of the rate reaches k; ``poisson`` draws exponential gaps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.scenario.model import (
    Arrivals,
    BurstArrivals,
    ConstantArrivals,
    LoadConfig,
    PoissonArrivals,
    RampArrivals,
    StepArrivals,
)

STEP_SECONDS = 0.0005  # resolution of the rate integral


@dataclass(frozen=True, slots=True)
class Arrival:
    seq: int
    offset_seconds: float  # intended send time, from the start of the load
    kind: int  # index into the scenario's task mix


def rate_function(arrivals: Arrivals, duration_seconds: float) -> Callable[[float], float]:
    """The offered rate (tasks/s) at time t; for Poisson, its mean."""
    match arrivals:
        case ConstantArrivals() | PoissonArrivals():
            rate = arrivals.rate_per_second
            return lambda t: rate
        case RampArrivals():
            a, b = arrivals.start_rate_per_second, arrivals.end_rate_per_second
            return lambda t: a + (b - a) * min(t, duration_seconds) / duration_seconds
        case StepArrivals():
            steps = sorted(arrivals.steps, key=lambda s: s.at_seconds)
            return lambda t: next(
                (s.rate_per_second for s in reversed(steps) if s.at_seconds <= t), 0.0
            )
        case BurstArrivals():
            burst = arrivals
            return lambda t: (
                burst.burst_rate_per_second
                if t % burst.every_seconds < burst.burst_seconds
                else burst.rate_per_second
            )
    raise TypeError(f"unknown arrivals {arrivals!r}")


def arrival_offsets(arrivals: Arrivals, duration_seconds: float, seed: int) -> list[float]:
    if isinstance(arrivals, PoissonArrivals):
        rng = random.Random(f"{seed}-arrivals")  # str seeds are stable across runs
        out, t = [], rng.expovariate(arrivals.rate_per_second)
        while t < duration_seconds:
            out.append(t)
            t += rng.expovariate(arrivals.rate_per_second)
        return out
    if isinstance(arrivals, ConstantArrivals):
        n = int(np.ceil(duration_seconds * arrivals.rate_per_second))
        return [k / arrivals.rate_per_second for k in range(n)]
    rate = np.vectorize(rate_function(arrivals, duration_seconds))
    grid = np.arange(0.0, duration_seconds, STEP_SECONDS)
    cumulative = np.concatenate([[0.0], np.cumsum(rate(grid) * STEP_SECONDS)])[:-1]
    ks = np.arange(0, int(np.floor(cumulative[-1])) + 1) if len(grid) else np.array([])
    idx = np.searchsorted(cumulative, ks, side="left")
    return [float(grid[i]) for i in idx if i < len(grid)]


def task_kinds(load: LoadConfig, n: int, seed: int) -> list[int]:
    rng = random.Random(f"{seed}-mix")
    weights = [k.weight for k in load.mix]
    return rng.choices(range(len(load.mix)), weights=weights, k=n)


def schedule(load: LoadConfig, seed: int) -> list[Arrival]:
    """The open-loop schedule (backlog mode: all tasks at offset 0)."""
    if load.mode == "backlog":
        offsets = [0.0] * load.backlog_tasks
    else:
        offsets = arrival_offsets(load.arrivals, load.duration_seconds, seed)
    kinds = task_kinds(load, len(offsets), seed)
    return [Arrival(i, t, k) for i, (t, k) in enumerate(zip(offsets, kinds, strict=True))]
