"""How ``PrometheusSource`` splits a long run into range queries (pure logic: a stand-in
answers as Prometheus does, one point per step from start while <= end)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from lab.run import prometheus_source
from lab.run.prometheus_source import PrometheusSource, metrics_from_prometheus
from system.redis_server import free_port


class FakeRange:
    def __init__(self) -> None:
        self.queries: list[tuple[float, float]] = []

    def custom_query_range(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        params = kwargs["params"]
        start, end, step = float(params["start"]), float(params["end"]), float(kwargs["step"])
        self.queries.append((start, end))
        points, at = [], start
        while at <= end + 1e-9:
            points.append([round(at, 3), "1"])
            at = start + len(points) * step
        return [{"metric": {"__name__": "up", "job": "j"}, "values": points}]


@pytest.mark.parametrize(("span", "chunk"), [(10.0, 4), (10.0, 5), (3.0, 100), (0.1, 4)])
def test_range_queries_cover_the_run_once_and_end_on_its_end(
    span: float, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus_source, "MAX_POINTS_PER_QUERY", chunk)
    source = PrometheusSource("http://127.0.0.1:9")
    fake = FakeRange()
    source.prom = fake  # type: ignore[assignment]
    start, end, step = 1000.0, 1000.0 + span, 0.5
    times = [row[0] for row in source.fetch(start, end, step)]
    assert len(times) == len(set(times))  # no point twice across chunks
    assert times == sorted(times) and times[-1] == pytest.approx(end, abs=1e-3)
    assert times[0] <= start
    assert all(b - a == pytest.approx(step, abs=1e-3) for a, b in pairwise(times))
    assert len(fake.queries) == -(-len(times) // chunk)


def test_an_unreachable_prometheus_keeps_the_sampler_rows_and_says_so() -> None:
    port = free_port()  # nothing listens there
    rows = [
        (1.0, "taskq_lab_worker_processes", "instance=lab,job=lab,queue=default", 2.0),
        (1.0, "taskq_tasks_in_progress", "instance=127.0.0.1:1,job=taskq-worker", 3.0),
    ]
    kept, note = metrics_from_prometheus(f"http://127.0.0.1:{port}", [], rows, 0.0, 0.5)
    assert kept == rows[:1]
    assert note is not None and note.startswith("reading metrics from Prometheus failed")
