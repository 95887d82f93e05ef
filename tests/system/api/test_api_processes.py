"""``taskq api --workers 2``: two server processes on one port, and /metrics adds up the
requests of both, whichever of them answers the scrape."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from system.redis_server import RedisServer
from tests.system.api.conftest import running_api

SUBMITS = 'taskq_http_requests_total{method="POST",route="/tasks/",status="202"}'


def _submits_per_process(metrics_dir: Path) -> dict[str, float]:
    """POST /tasks/ answered 202, per process, from the files each process writes."""
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        for metric in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
            for s in metric.samples:
                if s.name == "taskq_http_requests_total" and s.labels == {
                    "method": "POST",
                    "route": "/tasks/",
                    "status": "202",
                }:
                    counts[pid] = counts.get(pid, 0) + s.value
    return counts


def test_two_processes_serve_and_metrics_count_both(
    redis_server: RedisServer, tmp_path: Path, queue_name: str
) -> None:
    metrics_dir = tmp_path / "metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    n = 200
    with running_api(
        redis_server.url, tmp_path / "api.log", env=env, args=["--workers", "2"]
    ) as base:

        def submit(i: int) -> int:
            # A new connection each time: the kernel hands each to either process.
            task = {"task_type": "echo", "payload": {"i": i}, "queue": queue_name}
            return httpx.post(f"{base}/tasks/", json=task, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(submit, range(n)))
        assert statuses == [202] * n
        per_process = _submits_per_process(metrics_dir)
        assert len(per_process) == 2, per_process  # both processes served submits
        assert all(count > 0 for count in per_process.values())
        assert sum(per_process.values()) == n
        for _ in range(4):  # whichever process answers the scrape reports the total
            text = httpx.get(f"{base}/metrics", timeout=30).text
            match = re.search(re.escape(SUBMITS) + r" ([0-9.e+]+)", text)
            assert match is not None, text[:2000]
            assert float(match.group(1)) == n
