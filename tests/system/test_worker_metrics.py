"""A real worker's ``/metrics``: executions by outcome, durations, queue wait, capacity,
and totals that add up over its process pool (multiprocess mode)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from system.client import Client
from system.redis_server import free_port
from system.supervisor import TaskqProcess
from tests.system.conftest import wait_until_finished


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def test_worker_metrics_add_up_over_its_process_pool(
    client: Client, queue_name: str, start_worker: Callable[..., TaskqProcess]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    # No wait for /metrics: the worker serves it before it claims anything.
    start_worker(
        "-Q",
        queue_name,
        "-c",
        "8",
        "--import",
        "metrics_handlers",
        "--metrics-port",
        str(port),
        TASKQ_WORKER__PROCESSES="2",
    )
    ids = [client.submit("child_count", None, queue=queue_name).id for _ in range(8)]
    ids += [client.submit("echo", i, queue=queue_name).id for i in range(5)]
    ids.append(client.submit("fail_times", {"n": 1}, queue=queue_name).id)  # retried once
    ids.append(client.submit("fail_times", {"n": 9}, queue=queue_name, max_retries=0).id)
    wait_until_finished(client, ids)

    m = scrape(url)
    q = queue_name
    runs = "taskq_task_executions_total"
    assert value(m, runs, queue=q, task_type="child_count", outcome="succeeded") == 8
    assert value(m, runs, queue=q, task_type="echo", outcome="succeeded") == 5
    assert value(m, runs, queue=q, outcome="retried") == 1
    assert value(m, runs, queue=q, outcome="failed") == 1
    assert value(m, "taskq_task_execution_duration_seconds_count", queue=q) == 16
    assert value(m, "taskq_task_queue_wait_seconds_count", queue=q) == 16
    assert value(m, "taskq_tasks_in_progress", queue=q) == 0
    assert value(m, "taskq_worker_capacity_tasks") == 8
    assert value(m, "taskq_build_info") == 1
    # Recorded in the pool children, summed by the worker's scrape.
    assert value(m, "test_child_calls_total") == 8
    # No unbounded label anywhere (multiprocess gauges would add "pid" by default).
    assert not any({"pid", "worker", "task_id"} & {k for k, _ in ls} for _, ls in m)
