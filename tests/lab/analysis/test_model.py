"""``summary.json`` as a typed model: it round-trips, every section is written, a summary
from an earlier version still loads, and the column table reads the right fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab.analysis.model import RunSummary
from lab.report.columns import COLUMNS, value
from tests.lab.conftest import REPO

EXAMPLE = REPO / "results" / "examples" / "fault_run" / "summary.json"
ADDED_LATER = (
    "metrics_source",
    "prometheus",
    "metrics_note",
    "submit_errors",
    "submit_error_reason",
    "queue_wait_s",
    "redis_restarts",
    "in_flight_at_partitions",
    "queue_depth_max",
)


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def test_the_example_round_trips() -> None:
    summary = RunSummary.model_validate(example())
    dumped = summary.model_dump(mode="json")
    assert RunSummary.model_validate(json.loads(json.dumps(dumped))) == summary
    assert dumped == example()  # the committed example is in today's format
    for section in ("autoscale", "capacity", "circuit_breaker", "partition"):
        assert dumped[section] is None  # written as null when the run has none
    with pytest.raises(ValueError, match="frozen"):
        summary.lost = 1  # type: ignore[misc]


def test_a_summary_from_an_earlier_version_loads() -> None:
    old = example()
    for key in (*ADDED_LATER, "autoscale", "capacity", "circuit_breaker", "partition"):
        old.pop(key)
    for row in old["recovery"]:
        del row["latency_max_in_fault_s"], row["fault_window_s"]
    old["a_key_since_removed"] = 1
    summary = RunSummary.model_validate(old)
    assert summary.in_flight_at_partitions == 0 and summary.redis_restarts == []
    assert summary.submit_errors is None and summary.queue_wait_s.p99 is None
    assert summary.capacity is None and summary.recovery[0].latency_max_in_fault_s is None
    assert summary.lost == old["lost"] and summary.latency_s.p99 == old["latency_s"]["p99"]


def test_the_column_table_reads_the_summary() -> None:
    summary = RunSummary.model_validate(example())
    data = example()
    assert value("throughput_per_second", summary) == data["throughput_per_second"]
    assert value("latency_p99_s", summary) == data["latency_s"]["p99"]
    assert value("latency_p50_s", summary) == data["latency_s"]["p50"]
    assert value("capacity_per_second", summary) is None  # not a backlog run
    assert value("passed", summary) is True
    for name in ("offered", "succeeded", "lost", "duplicates", "drain_seconds"):
        assert value(name, summary) == data[name], name
    assert all(value(name, None) is None for name in COLUMNS)  # no summary yet
