"""The arrival schedule is pure and seeded: the same seed gives the same load."""

from __future__ import annotations

from typing import Any

import pytest

from lab.run.schedule import schedule
from lab.scenario.model import LoadConfig

KINDS: list[dict[str, Any]] = [
    {"kind": "constant", "rate_per_second": 20},
    {"kind": "poisson", "rate_per_second": 20},
    {"kind": "ramp", "start_rate_per_second": 0, "end_rate_per_second": 40},
    {
        "kind": "step",
        "steps": [
            {"at_seconds": 0, "rate_per_second": 10},
            {"at_seconds": 5, "rate_per_second": 30},
        ],
    },
    {
        "kind": "burst",
        "rate_per_second": 5,
        "burst_rate_per_second": 100,
        "every_seconds": 5,
        "burst_seconds": 1,
    },
]
MIX = [{"task_type": "io", "weight": 3, "payload": {"ms": 1}}, {"task_type": "echo"}]


def load(arrivals: dict[str, Any], duration: float = 10) -> LoadConfig:
    return LoadConfig.model_validate(
        {"arrivals": arrivals, "duration_seconds": duration, "mix": MIX}
    )


@pytest.mark.parametrize("arrivals", KINDS, ids=[k["kind"] for k in KINDS])
def test_same_seed_same_schedule(arrivals: dict[str, Any]) -> None:
    first, again = schedule(load(arrivals), seed=5), schedule(load(arrivals), seed=5)
    assert first == again
    assert all(0 <= a.offset_seconds < 10 for a in first)
    offsets = [a.offset_seconds for a in first]
    assert offsets == sorted(offsets)
    assert schedule(load(arrivals), seed=6) != first  # the mix (and Poisson times) differ


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [(KINDS[0], 200), (KINDS[2], 200), (KINDS[3], 200), (KINDS[4], 2 * 100 + 8 * 5)],
    ids=["constant", "ramp", "step", "burst"],
)
def test_deterministic_kinds_offer_the_integral_of_the_rate(
    arrivals: dict[str, Any], expected: int
) -> None:
    assert abs(len(schedule(load(arrivals), seed=1)) - expected) <= 1


def test_poisson_count_is_plausible_and_mix_follows_weights() -> None:
    arrivals = schedule(load(KINDS[1], duration=50), seed=1)
    assert 800 <= len(arrivals) <= 1200  # mean 1000, sd ~32
    share = sum(1 for a in arrivals if a.kind == 0) / len(arrivals)
    assert 0.68 <= share <= 0.82  # weight 3 of 4


def test_backlog_mode_puts_everything_at_zero() -> None:
    cfg = LoadConfig.model_validate({"mode": "backlog", "backlog_tasks": 50, "mix": MIX})
    arrivals = schedule(cfg, seed=1)
    assert len(arrivals) == 50 and {a.offset_seconds for a in arrivals} == {0.0}
