"""The maximum sustainable rate of a configuration (as OpenMessaging Benchmark's
``producerRate: 0``): the highest offered rate at which the system keeps up, found by
probing (pure logic; ``lab.run.rate_search`` runs the probes as ordinary runs).

A probe at rate R **holds** when p99 latency stays under the bound, the generator kept to
its schedule (at most ``LATE_SHARE`` of its submits late, so R was really offered) and
the completions kept pace: the backlog was gone within the latency bound after the
schedule ended (a system that falls behind builds a backlog that takes longer). The
throughput (ended / span) is reported but not judged: over a short probe the span's
tail (the last tasks' latency) biases it low. The search doubles R
from the start rate until a probe fails (or halves it until one holds), then bisects
between the highest rate that held and the lowest that failed until they are within
``tolerance`` (relative) of each other. The answer is the highest rate that held; every
probe is kept, for the curve that found it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

LATE_SHARE = 0.01
MIN_RATE_SHARE = 1 / 64  # halving below start x this: nothing holds


@dataclass(frozen=True, slots=True)
class Probe:
    rate: float  # offered, tasks/s
    throughput: float  # completed, tasks/s
    latency_p99_s: float | None
    late_share: float  # of the submits, sent later than the lag limit
    drain_s: float | None  # from the end of the schedule to the last end; None: never
    holds: bool = False
    why: str = ""


def judge(probe: Probe, latency_bound_s: float) -> Probe:
    """The probe with ``holds`` and ``why`` set."""
    reasons = []
    if probe.latency_p99_s is None or probe.latency_p99_s >= latency_bound_s:
        reasons.append(f"p99 {probe.latency_p99_s} s >= {latency_bound_s:g} s")
    if probe.late_share > LATE_SHARE:
        reasons.append(f"generator behind ({probe.late_share:.1%} of submits late)")
    if probe.drain_s is None or probe.drain_s > latency_bound_s:
        reasons.append(f"backlog drained {probe.drain_s} s after the schedule")
    return Probe(
        probe.rate,
        probe.throughput,
        probe.latency_p99_s,
        probe.late_share,
        probe.drain_s,
        holds=not reasons,
        why="; ".join(reasons) or "held",
    )


@dataclass
class SearchResult:
    max_rate: float | None  # the highest rate that held; None: none did
    probes: list[Probe] = field(default_factory=list)
    converged: bool = False  # within the tolerance before the probe budget ran out


def search(
    measure: Callable[[float], Probe],
    start_rate: float,
    latency_bound_s: float,
    *,
    tolerance: float = 0.05,
    max_probes: int = 12,
) -> SearchResult:
    """Probe rates (``measure(rate)`` runs one) as the module docstring says."""
    result = SearchResult(None)

    def probe(rate: float) -> bool:
        p = judge(measure(rate), latency_bound_s)
        result.probes.append(p)
        return p.holds

    low: float | None = None  # highest rate that held
    high: float | None = None  # lowest rate that failed
    rate = start_rate
    while len(result.probes) < max_probes and (low is None or high is None):
        if probe(rate):
            low = rate
            rate *= 2
        else:
            high = rate
            if low is None:
                rate /= 2
                if rate < start_rate * MIN_RATE_SHARE:
                    return result
    while low is not None and high is not None and len(result.probes) < max_probes:
        if (high - low) / high <= tolerance:
            result.converged = True
            break
        mid = (low + high) / 2
        if probe(mid):
            low = mid
        else:
            high = mid
    if low is not None and high is not None and (high - low) / high <= tolerance:
        result.converged = True
    result.max_rate = low
    return result
