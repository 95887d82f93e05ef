"""Latency quantiles from cumulative histogram buckets, per time bin (pure logic)."""

from __future__ import annotations

import math

import pytest

from lab.web.histogram import WindowedHistogram, quantile

INF = math.inf


def test_quantile_interpolates_inside_its_bucket_like_prometheus() -> None:
    # 10 observations at or below 0.1, 10 more in (0.1, 0.5]: the median is 0.1, p75 is
    # half-way through the second bucket.
    buckets = {0.1: 10.0, 0.5: 20.0, INF: 20.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.3)
    assert quantile(0.25, buckets) == pytest.approx(0.05)


def test_quantile_in_the_last_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(0.99, {0.1: 1.0, 0.5: 2.0, INF: 10.0}) == 0.5
    assert quantile(0.5, {0.1: 0.0, INF: 0.0}) is None
    assert quantile(0.5, {0.1: 3.0}) is None  # no +Inf bucket: not a histogram


def labels(instance: str, le: str) -> str:
    return f"instance={instance},job=worker,le={le},queue=default,task_type=io"


def test_bins_hold_what_each_process_gained_and_survive_a_restart() -> None:
    h = WindowedHistogram("taskq_task_queue_wait_seconds", t0_s=100.0, bin_seconds=1.0)
    metric = "taskq_task_queue_wait_seconds_bucket"
    # Two workers; in the first second each counts 4 fast tasks.
    for inst in ("a", "b"):
        h.add(100.2, metric, labels(inst, "0.1"), 4)
        h.add(100.2, metric, labels(inst, "+Inf"), 4)
    # In the next second a gains 2 slow ones; b was killed and restarts counting from 0,
    # then counts 1 slow task.
    h.add(101.3, metric, labels("a", "0.1"), 4)
    h.add(101.3, metric, labels("a", "+Inf"), 6)
    h.add(101.4, metric, labels("b", "0.1"), 0)
    h.add(101.4, metric, labels("b", "+Inf"), 1)
    h.add(101.4, "taskq_task_execution_duration_seconds_bucket", labels("a", "+Inf"), 99)
    assert dict(h.bins[0]) == {0.1: 8.0, INF: 8.0}
    assert dict(h.bins[1]) == {0.1: 0.0, INF: 3.0}
    times, p50 = h.series(0.5)
    assert times == [0.5, 1.5]
    assert p50[0] == pytest.approx(0.05)
    assert p50[1] == 0.1  # every observation of that second above the last finite bound
