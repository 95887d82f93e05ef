"""The lab seeds the io handler's jitter per task from the scenario's seed, so the seed
fixes service times as well as arrivals; other payloads are left as written."""

from __future__ import annotations

from lab.run.generator import seeded
from lab.scenario.model import TaskKind


def test_io_gets_a_seed_from_the_scenario_seed_and_the_task() -> None:
    io = TaskKind(task_type="io", payload={"ms": 20, "jitter_ms": 10})
    first = seeded(io, 7, 3).payload["seed"]
    assert seeded(io, 7, 3).payload["seed"] == first  # same scenario seed, same task
    assert seeded(io, 8, 3).payload["seed"] != first
    assert seeded(io, 7, 4).payload["seed"] != first
    assert io.payload == {"ms": 20, "jitter_ms": 10}  # the scenario's kind is unchanged


def test_a_given_seed_and_other_handlers_are_left_alone() -> None:
    fixed = TaskKind(task_type="io", payload={"ms": 1, "seed": 5})
    assert seeded(fixed, 7, 3) is fixed
    flaky = TaskKind(task_type="flaky", payload={"probability": 0.2})
    assert seeded(flaky, 7, 3) is flaky  # a seed would make every retry fail alike
