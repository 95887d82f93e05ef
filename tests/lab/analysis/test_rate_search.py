"""The max-sustainable-rate search against simulated systems whose capacity is known:
an M/M/1 queue (p99 of the time in system is ln(100) / (mu - lambda)), so the highest
rate with p99 under a bound B is mu - ln(100) / B; and a system whose generator gives up
first."""

from __future__ import annotations

import math

import pytest

from lab.analysis.rate_search import Probe, search

MU = 400.0  # tasks/s the simulated server completes
BOUND_S = 0.5


def mm1(rate: float) -> Probe:
    if rate >= MU:  # unstable: the backlog grows for the whole probe (60 s)
        return Probe(rate, MU, 60.0, 0.0, 60.0 * (rate - MU) / MU)
    p99 = math.log(100) / (MU - rate)
    return Probe(rate, rate, p99, 0.0, p99)  # the last tasks end about then


def test_the_search_finds_the_known_capacity_within_its_tolerance() -> None:
    known = MU - math.log(100) / BOUND_S  # 390.8 tasks/s
    result = search(mm1, 50.0, BOUND_S, tolerance=0.02, max_probes=20)
    assert result.converged and result.max_rate is not None
    assert known * 0.98 <= result.max_rate <= known
    rates = [p.rate for p in result.probes]
    assert rates[:4] == [50.0, 100.0, 200.0, 400.0]  # doubling until 400 fails
    assert all(p.holds == (p.rate <= known) for p in result.probes)
    assert len(result.probes) <= 20


def test_the_search_halves_from_a_start_above_capacity() -> None:
    result = search(mm1, 2000.0, BOUND_S, tolerance=0.05, max_probes=20)
    assert result.max_rate is not None and result.max_rate == pytest.approx(390.8, rel=0.05)
    assert [p.rate for p in result.probes][:3] == [2000.0, 1000.0, 500.0]


def test_a_generator_that_falls_behind_caps_the_answer() -> None:
    def lagging(rate: float) -> Probe:
        p = mm1(rate)  # the system could do more; the generator manages 150/s
        late = 0.0 if rate <= 150 else 0.5
        return Probe(p.rate, p.throughput, p.latency_p99_s, late, p.drain_s)

    result = search(lagging, 50.0, BOUND_S, tolerance=0.05, max_probes=20)
    assert result.max_rate is not None and 142 <= result.max_rate <= 150
    assert any("generator behind" in p.why for p in result.probes)


def test_a_backlog_that_outlasts_the_bound_fails_the_probe() -> None:
    # p99 fine (most tasks fast), but the tail drained 3 s after the schedule: behind.
    result = search(lambda r: Probe(r, r, 0.1, 0.0, 3.0 if r > 100 else 0.1), 50.0, BOUND_S)
    assert result.max_rate is not None and 95 <= result.max_rate <= 100
    assert any("drained 3.0 s" in p.why for p in result.probes)


def test_nothing_holds_gives_no_rate() -> None:
    result = search(lambda r: Probe(r, r, 9.0, 0.0, 9.0), 100.0, BOUND_S, max_probes=20)
    assert result.max_rate is None and not result.converged
